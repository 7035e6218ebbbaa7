"""DNS listeners: UDP datagrams and TCP streams (RFC 7766, two-octet length framing) on one address.

A query whose answer the zone remembers is answered at once, in the protocol callback; any other is
answered by a task that resolves it (UDP: at most ``MAX_PENDING`` at a time, beyond which queries are
dropped and clients retry, as from any overloaded server). UDP responses longer than the client
accepts (512 octets, or its EDNS size up to 1232) are truncated, and the client asks again over TCP.
A TCP connection is answered in order and closed after ``TCP_IDLE_SECONDS`` without a query.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import dns.rcode

from idnode.config import Settings
from idnode.dns import wire
from idnode.dns.answers import MAX_MESSAGE, Answer
from idnode.dns.zone import Zone
from idnode.resolver import Resolver

log = logging.getLogger(__name__)
MAX_PENDING = 1024
TCP_IDLE_SECONDS = 10.0
MAX_BUFFERED_BYTES = 256 * 1024
FAILED = Answer(dns.rcode.SERVFAIL, 0, 0, b"")
RESPONSES: Counter[tuple[str, int]] = Counter()  # (transport, RCODE) → responses, for /metrics


class Responder:
    """Turns query messages into response messages through a zone (shared by UDP and TCP)."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def now(self, data: bytes, limit: int | None) -> bytes | wire.Query | None:
        """The response to ``data`` if it needs no I/O, else its query (for ``later``); None to send
        nothing. ``limit``: the largest response (None: the client's UDP limit)."""
        query = wire.parse(data)
        if query is None:
            judged = wire.unusual(data)
            if not isinstance(judged, wire.Query):
                return judged
            query = judged
        answer = self.zone.remembered(query.key)
        if answer is None:
            return query
        return wire.respond(query, answer, query.udp_limit if limit is None else limit)

    async def later(self, query: wire.Query, limit: int | None) -> bytes:
        """The response to ``query``, resolved (SERVFAIL if the store fails)."""
        try:
            answer = await self.zone.answer(query.key)
        except Exception:
            log.exception("answering a DNS query failed")
            answer = FAILED
        return wire.respond(query, answer, query.udp_limit if limit is None else limit)


class UdpProtocol(asyncio.DatagramProtocol):
    """Answers datagrams, each on its own."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        outcome = self.responder.now(data, None)
        if isinstance(outcome, bytes):
            self._send(outcome, addr)
        elif outcome is not None and len(self.pending) < MAX_PENDING:
            task = asyncio.ensure_future(self._answer(outcome, addr))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _answer(self, query: wire.Query, addr: tuple[str, int]) -> None:
        self._send(await self.responder.later(query, None), addr)

    def _send(self, response: bytes, addr: tuple[str, int]) -> None:
        RESPONSES["udp", response[3] & 0xF] += 1
        if self.transport is not None:
            self.transport.sendto(response, addr)


class TcpProtocol(asyncio.Protocol):
    """One TCP connection: length-prefixed queries answered in order."""

    def __init__(self, responder: Responder, connections: set[TcpProtocol]) -> None:
        self.responder = responder
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.pending: asyncio.Task[None] | None = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)
        self._rearm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        if self.idle is not None:
            self.idle.cancel()
        if self.pending is not None:
            self.pending.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._rearm()
        if self.pending is None:
            self._answer_buffered()
        elif len(self.buffer) > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _answer_buffered(self) -> None:
        """Answer every complete query in the buffer, in order, until one needs resolving."""
        while self.transport is not None and len(self.buffer) >= 2:
            size = int.from_bytes(self.buffer[:2])
            if len(self.buffer) < 2 + size:
                return
            message = bytes(self.buffer[2 : 2 + size])
            del self.buffer[: 2 + size]
            outcome = self.responder.now(message, MAX_MESSAGE)
            if isinstance(outcome, bytes):
                self._send(outcome)
            elif outcome is not None:
                self.pending = asyncio.ensure_future(self._answer(outcome))
                return

    async def _answer(self, query: wire.Query) -> None:
        response = await self.responder.later(query, MAX_MESSAGE)
        self.pending = None
        self._send(response)
        if self.transport is not None:
            self.transport.resume_reading()
            self._answer_buffered()

    def _send(self, response: bytes) -> None:
        RESPONSES["tcp", response[3] & 0xF] += 1
        if self.transport is not None:
            self.transport.write(len(response).to_bytes(2) + response)
            self._rearm()

    def _rearm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(TCP_IDLE_SECONDS, self.close)


@asynccontextmanager
async def listening(
    settings: Settings, resolver: Resolver, *, reuse_port: bool = False
) -> AsyncIterator[None]:
    """Answer DNS on ``settings.dns_address`` (UDP and TCP) for the duration of the block."""
    address = settings.dns_address
    assert address is not None
    responder = Responder(Zone(settings, resolver))
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(
        lambda: UdpProtocol(responder), local_addr=address, reuse_port=reuse_port or None
    )
    connections: set[TcpProtocol] = set()
    try:
        tcp = await loop.create_server(
            lambda: TcpProtocol(responder, connections), *address, reuse_port=reuse_port or None
        )
    except BaseException:
        udp.close()
        raise
    try:
        yield
    finally:
        udp.close()
        tcp.close()
        for connection in list(connections):
            connection.close()
