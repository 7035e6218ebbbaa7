"""Keeping every process's resolution cache honest about writes made elsewhere.

Every write of a record is appended to the transparency log in its own transaction, whoever makes it
(this process, another worker, another node on the same database, the command line). The feed reads
the log's new entries every ``bound / 4`` seconds and drops those handles from the cache. Re-signing
after a key rotation changes no content and is not logged; it bumps the ``SIGNATURES_EPOCH``
counter instead, and the feed drops the whole cache when that moves. After each
successful read it vouches for the cache until ``bound`` seconds after that read began; if reads
fail or fall behind, the cache stops answering (``ResolutionCache.trusted_until``) and resolves go to
the store, so no process serves an answer older than a write it could have seen by more than
``bound`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from redis.exceptions import RedisError

from idnode.background import running
from idnode.cache import ResolutionCache
from idnode.model.errors import StoreUnavailable
from idnode.storage.repository import SIGNATURES_EPOCH, Repository

log = logging.getLogger(__name__)
BATCH = 10_000
CLEAR_AFTER = 100_000  # more changes than this since the last read: drop the whole cache instead


class LogFeed:
    """Follows the transparency log from its end at start-up (the cache starts empty)."""

    def __init__(self, repository: Repository, cache: ResolutionCache, bound: float) -> None:
        self.repository = repository
        self.cache = cache
        self.bound = bound
        self.next_seq: int | None = None
        self.epoch: str | None = None

    async def catch_up(self) -> None:
        """Read every entry logged so far and invalidate their handles; then vouch for the cache."""
        started = time.monotonic()
        if self.next_seq is None:
            self.next_seq = await self.repository.log_size()
        epoch = await self.repository.get_meta(SIGNATURES_EPOCH)
        if epoch != self.epoch:
            self.epoch = epoch
            self.cache.clear()
        seen = 0
        while True:
            changes = await self.repository.log_changes(self.next_seq, BATCH)
            seen += len(changes)
            if seen > CLEAR_AFTER:
                self.cache.clear()
            else:
                self.cache.invalidate(handle for _, handle in changes)
            if changes:
                self.next_seq = changes[-1][0] + 1
            if len(changes) < BATCH:
                break
        self.cache.trusted_until = started + self.bound

    async def run(self) -> None:
        while True:
            try:
                await self.catch_up()
            except StoreUnavailable as exc:  # the database restarting: expected, no traceback
                log.warning("reading the transparency log for cache invalidation failed: %s", exc)
            except Exception:  # a database hiccup: the cache stops being trusted until reads succeed
                log.exception("reading the transparency log for cache invalidation failed")
            await asyncio.sleep(self.bound / 4)


@asynccontextmanager
async def following_log(
    repository: Repository, cache: ResolutionCache, bound: float
) -> AsyncIterator[LogFeed]:
    """Run a LogFeed for the duration of the block (the cache is untrusted until its first read)."""
    feed = LogFeed(repository, cache, bound)
    cache.trusted_until = 0.0
    await feed.catch_up()
    async with running(feed.run(), "idnode-log-feed"):
        yield feed


class RedisBus:
    """Invalidations between processes through Redis pub/sub, in milliseconds rather than the log
    feed's fraction of ``bound``. The log feed stays the guarantee: a message lost while Redis is
    unreachable is caught by it, so Redis speeds freshness up but is never needed for correctness.

    A connection idle for ``HEALTH_CHECK_SECONDS`` is pinged before use, and the subscriber pings
    while it waits: a Redis that restarted unseen (behind a partition, say) leaves connections that
    look open but are dead, and a subscriber that only reads would wait on one forever."""

    MAX_HANDLES_PER_MESSAGE = 1000
    HEALTH_CHECK_SECONDS = 5.0

    def __init__(self, url: str, channel: str, cache: ResolutionCache) -> None:
        self.client = redis.asyncio.from_url(url, health_check_interval=self.HEALTH_CHECK_SECONDS)
        self.channel = channel
        self.cache = cache
        self.outbox: asyncio.Queue[str] = asyncio.Queue()

    def publish_later(self, handle: str) -> None:
        """Queue a changed handle for the other processes (called after the write commits)."""
        self.outbox.put_nowait(handle)

    async def publish_forever(self) -> None:
        while True:
            handles = [await self.outbox.get()]
            while not self.outbox.empty() and len(handles) < self.MAX_HANDLES_PER_MESSAGE:
                handles.append(self.outbox.get_nowait())
            try:  # suffixes never contain control characters, so a newline separates handles
                await self.client.publish(self.channel, "\n".join(handles))
            except RedisError as exc:
                # What queued up meanwhile would fail the same way, one slow batch after another, and
                # pile up under a write burst: drop it all (the log feed delivers every invalidation).
                dropped = len(handles) + self.outbox.qsize()
                while not self.outbox.empty():
                    self.outbox.get_nowait()
                log.warning(
                    "publishing %d invalidations to Redis failed (%s); left to the log feed", dropped, exc
                )

    async def listen_forever(self, subscribed: asyncio.Event) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    subscribed.set()
                    while True:  # each wait ends in time for the next health check (a PING)
                        message = await pubsub.get_message(timeout=self.HEALTH_CHECK_SECONDS)
                        if message is not None and message["type"] == "message":
                            self.cache.invalidate(message["data"].decode("utf-8").split("\n"))
            except RedisError as exc:
                log.warning("Redis invalidation channel lost (%s); retrying", exc)
                await asyncio.sleep(1)


@asynccontextmanager
async def redis_bus(url: str, node_prefix: str, cache: ResolutionCache) -> AsyncIterator[RedisBus]:
    """Run a RedisBus for the duration of the block; RedisError if Redis is unreachable at the start
    (a configured tier that is missing is a mistake to report, not to hide)."""
    bus = RedisBus(url, f"idnode:{node_prefix}:invalidate", cache)
    try:
        await bus.client.ping()
    except RedisError as exc:
        await bus.client.aclose()
        raise RedisError(f"Redis at {url} is unreachable ({exc}); start it or drop --redis") from exc
    subscribed = asyncio.Event()
    tasks = [
        asyncio.create_task(bus.publish_forever(), name="idnode-redis-publish"),
        asyncio.create_task(bus.listen_forever(subscribed), name="idnode-redis-listen"),
    ]
    await asyncio.wait_for(subscribed.wait(), timeout=10)
    try:
        yield bus
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.client.aclose()
