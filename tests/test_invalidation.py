"""The Redis invalidation bus when Redis is away: writers never wait for it and nothing piles up."""

from __future__ import annotations

import asyncio
import time

from idnode.cache import ResolutionCache
from idnode.invalidation import RedisBus

BACKLOG = 10 * RedisBus.MAX_HANDLES_PER_MESSAGE


async def test_invalidations_queued_while_redis_hangs_are_dropped_not_hoarded() -> None:
    """A Redis that accepts connections but never answers (a paused host) fails each publish only
    after a timeout; a write burst meanwhile must not grow the queue batch by slow batch: the log feed
    delivers those invalidations, so the bus drops what piled up."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    bus = RedisBus(f"redis://127.0.0.1:{port}/0", "idnode:test:invalidate", ResolutionCache(1 << 20))
    publisher = asyncio.create_task(bus.publish_forever())
    try:
        for n in range(BACKLOG):
            bus.publish_later(f"88.999.1/h{n}")
        started = time.monotonic()
        while not bus.outbox.empty():
            assert time.monotonic() - started < 15, f"{bus.outbox.qsize()} invalidations still queued"
            await asyncio.sleep(0.05)
        assert not publisher.done()  # and it carries on
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
        await bus.client.aclose()
        server.close()
        for writer in held:
            writer.close()
