"""A TCP proxy that tests can cut and restore, to simulate a database or Redis going away and coming back
without touching the shared local services.

It runs its own event loop in a thread, so it keeps forwarding while the test blocks (starting a server,
waiting on a subprocess) as well as while it awaits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import free_port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``. ``cut()`` drops every open connection and refuses new
    ones (as a restarting server does); ``restore()`` accepts again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0  # connections accepted so far (a reconnect shows up here)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self.restore()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._drop())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def _drop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, not a polite close: the peer learns at its next read
        self._writers.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer, upstream_writer}
        self._writers |= pair
        try:
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        finally:
            for writer in pair:
                writer.transport.abort()
            self._writers -= pair


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


@contextmanager
def proxied(host: str, port: int) -> Iterator[TcpProxy]:
    """A started proxy to ``host:port``, closed after the block."""
    proxy = TcpProxy(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
