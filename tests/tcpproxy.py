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

Pair = tuple[asyncio.StreamWriter, asyncio.StreamWriter]  # (client side, upstream side)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``, with the faults a test may inject:

    - ``cut()``: every open connection is reset and new ones are refused (a server restarting);
      ``restore()`` accepts again on the same port;
    - ``forget()``: the far end forgets every open connection without a word (a server that restarted
      behind a partition): each stays silent until it next carries data, and is reset then.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0  # connections accepted so far (a reconnect shows up here)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[Pair] = set()
        self._forgotten: set[Pair] = set()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def start(self) -> None:
        self._thread.start()
        self.restore()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._drop())

    def forget(self) -> None:
        self._call(self._forget())

    def close(self) -> None:
        self.cut()
        self._call(self._finish_relays())
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
        for pair in list(self._open):
            _reset(pair)
        self._open.clear()

    async def _finish_relays(self) -> None:
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _forget(self) -> None:
        self._forgotten |= self._open
        for _, upstream in self._forgotten:
            upstream.transport.abort()  # the far end's state (a Redis subscription, say) is gone

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, upstream_writer)
        self._open.add(pair)
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, pair),
                self._pipe(upstream_reader, client_writer, pair),
            )
        finally:
            _reset(pair)
            self._open.discard(pair)
            self._forgotten.discard(pair)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: Pair) -> None:
        try:
            while data := await reader.read(65536):
                if pair in self._forgotten:
                    break  # the client spoke on a forgotten connection: now it is reset
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if pair not in self._forgotten or writer is pair[1]:
                _reset(pair)


def _reset(pair: Pair) -> None:
    """Abort both sides: a reset, not a polite close, so each peer learns at its next read or write."""
    for writer in pair:
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
