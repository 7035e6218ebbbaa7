"""The resolution fast path: anonymous ``GET /api/handles/…`` answered without the web framework.

A uvloop/httptools protocol owns every connection to the node's port. A request head it recognises as
an anonymous resolve (GET, path ``/api/handles/…``, no Authorization, no body, no Upgrade) is answered
through ``Resolver.cached`` (a cache hit: pre-serialised bytes, no JSON encoding, no database, no
middleware) or ``Resolver.respond``. At the first complete request head it does not recognise, it
hands the connection, with every byte not yet answered, to aiohttp's protocol, which serves everything
else (writes, authenticated reads, the other APIs). Pipelined requests are answered in order.

It also keeps the connection-level limits: each resolve is counted against the client's read budget
(``idnode.http.clients``; 429 with Retry-After when it is spent), the first request head must be
complete within ``header_timeout_seconds`` of the connection (and every later one it reads, of its
first byte), and a connection waiting for a request is closed after ``idle_timeout_seconds``; 408 and
close for a late head. Heads of later requests on a connection aiohttp serves are bounded by aiohttp's
keep-alive timer, which runs until a head is complete (``idle_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qsl, unquote

import httptools

from idnode.cache import CachedResponse
from idnode.config import Settings
from idnode.http.answers import framed
from idnode.http.clients import Clients
from idnode.ratelimit import client_key
from idnode.resolver import Resolver, cached_response, encode

log = logging.getLogger(__name__)
RESOLVE_PATH = b"/api/handles/"
RESOLVE_PREFIX = b"GET " + RESOLVE_PATH
HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 16 * 1024
MAX_BUFFERED_BYTES = 256 * 1024  # stop reading from a client that pipelines faster than we answer
RESPONSES: Counter[int] = Counter()  # answers by HTTP status, for /metrics (plain ints: no cost per request)
_NOT_FAST = frozenset({b"authorization", b"content-length", b"transfer-encoding", b"upgrade", b"expect"})


class RequestParser:
    """One connection's httptools parser, fed one complete request head at a time."""

    __slots__ = ("headers", "parser", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def parse(self, head: bytes) -> ResolveRequest:
        """The resolve request ``head`` makes; ValueError when it is not one this path answers (the
        parser is then unusable, and the connection goes to aiohttp anyway)."""
        self.url, self.headers = b"", {}
        try:
            self.parser.feed_data(head)
            url = httptools.parse_url(self.url)
        except (httptools.HttpParserError, httptools.HttpParserInvalidURLError) as exc:
            raise ValueError(str(exc)) from None
        if (
            self.parser.get_method() != b"GET"
            or not url.path.startswith(RESOLVE_PATH)
            or _NOT_FAST & self.headers.keys()
        ):
            raise ValueError("not an anonymous, body-less resolve")
        path = url.path[len(RESOLVE_PATH) :].decode("utf-8")
        inm = self.headers.get(b"if-none-match")
        return ResolveRequest(
            unquote(path, errors="strict") if "%" in path else path,
            (url.query or b"").decode("utf-8"),
            self.parser.should_keep_alive(),
            inm.decode("latin-1") if inm is not None else None,
        )


class ResolveRequest(NamedTuple):
    """An anonymous resolve: the handle as asked, the raw query, and what framing it wants."""

    asked: str
    raw_query: str
    keep_alive: bool
    if_none_match: str | None

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)


_STATUS_LINES = {
    status.value: b"HTTP/1.1 %d %s" % (status.value, status.phrase.encode()) for status in HTTPStatus
}


class Heads:
    """Response heads, rendered at most once a second per answer (only Date and max-age change)."""

    MAX_REMEMBERED = 10_000

    def __init__(self) -> None:
        self.second = 0
        self.date = b""
        self.remembered: dict[tuple[int, bool], tuple[CachedResponse, int, bytes]] = {}

    def render(self, answer: CachedResponse, request: ResolveRequest) -> tuple[int, bytes]:
        """(HTTP status, the whole HTTP/1.1 response) for ``answer``."""
        second = int(time.time())
        if second != self.second:
            self.second, self.date = second, email.utils.formatdate(second, usegmt=True).encode()
            self.remembered.clear()
        if request.if_none_match is not None:  # conditional: rare, rendered each time
            return self._render(answer, request)
        key = (id(answer), request.keep_alive)
        found = self.remembered.get(key)
        if found is not None and found[0] is answer:
            return found[1], found[2]
        if len(self.remembered) >= self.MAX_REMEMBERED:
            self.remembered.clear()
        status, response = self._render(answer, request)
        self.remembered[key] = (answer, status, response)  # holding ``answer`` keeps its id() unique
        return status, response

    def _render(self, answer: CachedResponse, request: ResolveRequest) -> tuple[int, bytes]:
        status, headers, body = framed(answer, request.if_none_match)
        lines = [
            _STATUS_LINES[status],
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(body),
            b"Date: " + self.date,
            b"Server: idnode",
            *(f"{name}: {value}".encode("latin-1") for name, value in headers),
        ]
        if not request.keep_alive:
            lines.append(b"Connection: close")
        return status, b"\r\n".join(lines) + HEAD_END + body

    def refusal(
        self, status: int, response_code: int, message: str, extra: list[bytes], close: bool
    ) -> bytes:
        """A JSON error response (rare: rendered each time)."""
        body = encode({"responseCode": response_code, "message": message})
        lines = [
            _STATUS_LINES[status],
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(body),
            b"Date: " + email.utils.formatdate(usegmt=True).encode(),
            b"Server: idnode",
            *extra,
        ]
        if close:
            lines.append(b"Connection: close")
        return b"\r\n".join(lines) + HEAD_END + body


heads = Heads()


class Limits(NamedTuple):
    """What the fast path needs from the settings and the per-client state."""

    clients: Clients
    header_timeout: float
    idle_timeout: float

    @classmethod
    def of(cls, settings: Settings, clients: Clients) -> Limits:
        return cls(clients, settings.header_timeout_seconds, settings.idle_timeout_seconds)


class FastPathProtocol(asyncio.Protocol):
    """One client connection; see the module docstring."""

    def __init__(
        self,
        resolver: Resolver,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[FastPathProtocol],
        limits: Limits,
    ) -> None:
        self.resolver = resolver
        self.fallback = fallback
        self.connections = connections
        self.limits = limits
        self.limiter = limits.clients.resolves
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.parser = RequestParser()
        self.pending: asyncio.Task[Any] | None = None
        self.last_active = 0.0
        self.head_started = 0.0  # when the head being read began (0: not reading one)
        self.writing_paused = False
        self.draining = False
        self.peer, self.encrypted, self.via_proxy, self.key = "", False, False, ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.connections.add(self)
        self.last_active = self.head_started = time.monotonic()
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else ""
        self.encrypted = transport.get_extra_info("sslcontext") is not None
        self.via_proxy = self.limits.clients.is_trusted_proxy(self.peer)
        self.key = client_key(self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.pending is not None:
            self.pending.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_active = time.monotonic()
        if self.pending is None and not self.writing_paused:
            self._answer_buffered()
        elif len(self.buffer) > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        """The client is not reading its answers: answer nothing more until it has."""
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.pending is None and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self._answer_buffered()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _answer_buffered(self) -> None:
        """Answer every complete request head in the buffer, in order, until one needs the store."""
        transport = self.transport
        while transport is not None and not transport.is_closing() and not self.writing_paused:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self._hand_over()  # aiohttp refuses a head that long
                elif self.buffer and not self.head_started:
                    self.head_started = self.last_active
                return
            self.head_started = 0.0
            try:
                request = self.parser.parse(bytes(self.buffer[: end + len(HEAD_END)]))
            except (ValueError, UnicodeDecodeError):
                self._hand_over()
                return
            del self.buffer[: end + len(HEAD_END)]
            if self.limiter is not None:
                key = self._client_key() if self.via_proxy else self.key
                wait = self.limiter.wait(key, self.last_active)
                if wait:
                    self._refuse_over_budget(key, wait, request.keep_alive)
                    continue
            answer = self.resolver.cached(request.asked, request.raw_query)
            if answer is None:
                self.pending = asyncio.ensure_future(self._respond(request))
                return
            self._send(answer, request)

    def _client_key(self) -> str:
        """The budget key of the client behind a trusted proxy, from the head just parsed."""
        headers = self.parser.headers
        forwarded = headers.get(b"x-forwarded-for")
        channel = self.limits.clients.channel(
            self.peer, self.encrypted, forwarded.decode("latin-1") if forwarded is not None else None
        )
        return client_key(channel.address)

    def _refuse_over_budget(self, key: str, wait: float, keep_alive: bool) -> None:
        assert self.transport is not None
        refused = self.limits.clients.refusal(key, wait)
        extra = [b"Retry-After: %d" % refused.retry_after]
        RESPONSES[429] += 1
        self.transport.write(
            heads.refusal(429, refused.response_code, refused.message, extra, not keep_alive)
        )
        if not keep_alive:
            self.transport.close()

    async def _respond(self, request: ResolveRequest) -> None:
        try:
            answer = await self.resolver.respond(request.asked, request.query, request.raw_query)
        except Exception:  # the store failed: answer as the aiohttp app would, and keep serving
            log.exception("resolving %s failed", request.asked)
            answer = cached_response(2, encode({"responseCode": 2, "message": "Internal server error."}), 0)
        self.pending = None
        self._send(answer, request._replace(keep_alive=False) if self.draining else request)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
            self._answer_buffered()

    def _send(self, answer: CachedResponse, request: ResolveRequest) -> None:
        assert self.transport is not None
        status, response = heads.render(answer, request)
        RESPONSES[status] += 1
        self.transport.write(response)
        if not request.keep_alive:
            self.transport.close()

    def _hand_over(self) -> None:
        """Give the connection, and the bytes not yet answered, to aiohttp's protocol."""
        assert self.transport is not None
        self._forget()
        protocol = self.fallback()
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if self.buffer:
            protocol.data_received(bytes(self.buffer))
        self.buffer.clear()
        self.transport = None

    def check_timeouts(self, now: float) -> None:
        """Close the connection if its head is late (408) or it has waited for one too long."""
        if self.pending is not None or self.transport is None:
            return
        if self.head_started and now - self.head_started > self.limits.header_timeout:
            message = f"The request head did not arrive within {self.limits.header_timeout:g} s."
            RESPONSES[408] += 1
            self.transport.write(heads.refusal(408, 4, message, [], close=True))
            self.close()
        elif now - self.last_active > self.limits.idle_timeout:
            self.close()

    def drain(self) -> None:
        """Stop serving: close now if no answer is being worked out, else right after it is sent."""
        self.draining = True
        if self.pending is None:
            self.close()

    def _forget(self) -> None:
        self.connections.discard(self)


async def check_timeouts(connections: set[FastPathProtocol], limits: Limits) -> None:
    """Run forever: a few times per timeout, close the fast path's connections that are past one."""
    interval = min(limits.header_timeout, limits.idle_timeout) / 4
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        for connection in list(connections):
            connection.check_timeouts(now)
