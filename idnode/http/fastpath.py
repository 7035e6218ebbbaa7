"""The resolution fast path: anonymous ``GET /api/handles/…`` answered without the web framework.

A uvloop/httptools protocol owns every connection to the node's port. A request head it recognises as
an anonymous resolve (GET, path ``/api/handles/…``, no Authorization, no body, no Upgrade) is answered
through ``Resolver.cached`` (a cache hit: pre-serialised bytes, no JSON encoding, no database, no
middleware) or ``Resolver.respond``. At the first request it does not recognise, it hands the
connection, with every byte not yet answered, to aiohttp's protocol, which serves everything else
(writes, authenticated reads, the other APIs). Pipelined requests are answered in order.
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
from idnode.http.answers import framed
from idnode.resolver import Resolver, cached_response, encode

log = logging.getLogger(__name__)
RESOLVE_PATH = b"/api/handles/"
RESOLVE_PREFIX = b"GET " + RESOLVE_PATH
HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 16 * 1024
MAX_BUFFERED_BYTES = 256 * 1024  # stop reading from a client that pipelines faster than we answer
IDLE_TIMEOUT = 75.0  # seconds, as aiohttp's keep-alive timeout
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


heads = Heads()


class FastPathProtocol(asyncio.Protocol):
    """One client connection; see the module docstring."""

    def __init__(
        self,
        resolver: Resolver,
        fallback: Callable[[], asyncio.Protocol],
        connections: set[FastPathProtocol],
    ) -> None:
        self.resolver = resolver
        self.fallback = fallback
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.parser = RequestParser()
        self.pending: asyncio.Task[Any] | None = None
        self.last_active = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.connections.add(self)
        self.last_active = time.monotonic()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.pending is not None:
            self.pending.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_active = time.monotonic()
        if self.pending is None:
            self._answer_buffered()
        elif len(self.buffer) > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _answer_buffered(self) -> None:
        """Answer every complete request head in the buffer, in order, until one needs the store."""
        transport = self.transport
        while transport is not None and not transport.is_closing():
            end = self.buffer.find(HEAD_END)
            if end < 0:
                head_so_far = bytes(self.buffer[: len(RESOLVE_PREFIX)])
                if len(self.buffer) > MAX_HEAD_BYTES or not RESOLVE_PREFIX.startswith(head_so_far):
                    self._hand_over()
                return
            try:
                request = self.parser.parse(bytes(self.buffer[: end + len(HEAD_END)]))
            except (ValueError, UnicodeDecodeError):
                self._hand_over()
                return
            del self.buffer[: end + len(HEAD_END)]
            answer = self.resolver.cached(request.asked, request.raw_query)
            if answer is None:
                self.pending = asyncio.ensure_future(self._respond(request))
                return
            self._send(answer, request)

    async def _respond(self, request: ResolveRequest) -> None:
        try:
            answer = await self.resolver.respond(request.asked, request.query, request.raw_query)
        except Exception:  # the store failed: answer as the aiohttp app would, and keep serving
            log.exception("resolving %s failed", request.asked)
            answer = cached_response(2, encode({"responseCode": 2, "message": "Internal server error."}), 0)
        self.pending = None
        self._send(answer, request)
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

    def close_if_idle(self, now: float) -> None:
        """Close the connection if it has waited for a request longer than IDLE_TIMEOUT."""
        if self.pending is None and now - self.last_active > IDLE_TIMEOUT:
            self.close()

    def _forget(self) -> None:
        self.connections.discard(self)


async def close_idle_connections(connections: set[FastPathProtocol]) -> None:
    """Run forever: every few seconds, close the fast path's connections idle past IDLE_TIMEOUT."""
    while True:
        await asyncio.sleep(IDLE_TIMEOUT / 8)
        now = time.monotonic()
        for connection in list(connections):
            connection.close_if_idle(now)
