"""Delivering one channel of the outbox: one process at a time, at least once, retrying with backoff.

The sender of a channel (upstream reports, notifications) is the process holding the channel's node
lock; the others try again every few seconds, so one takes over when the holder stops or dies. A
failed delivery leaves the messages queued and the next attempt waits twice as long as the one
before (from half a second, with jitter, at most the channel's maximum).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from idnode.storage.repository import Repository

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0  # how often an idle sender looks for new messages
LOCK_RETRY_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.5


class DeliveryFailed(Exception):
    """The receiver did not acknowledge a whole batch."""


def backoff(failures: int, most: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling, at most ``most``, the upper half
    of it drawn at random (so senders that failed together do not retry together)."""
    delay = min(most, FIRST_BACKOFF_SECONDS * 2 ** min(failures - 1, 30))
    return delay / 2 + random.uniform(0, delay / 2)


async def deliver_forever(
    repository: Repository,
    lock_name: str,
    deliver_batch: Callable[[], Awaitable[int]],
    batch_size: int,
    max_backoff: float,
    what: str,
) -> None:
    """Call ``deliver_batch`` (returning how many messages it delivered; raising on failure) while
    this process holds the lock ``lock_name``, forever (cancel to stop)."""
    lock = repository.node_lock(lock_name)
    failures = 0
    try:
        while True:
            if not await lock.try_acquire():
                await asyncio.sleep(LOCK_RETRY_SECONDS)
                continue
            try:
                sent = await deliver_batch()
            except Exception as exc:
                failures += 1
                wait = backoff(failures, max_backoff)
                if isinstance(exc, DeliveryFailed):
                    log.warning("%s delivery failed (%s); retrying in %.1f s", what, exc, wait)
                else:  # e.g. the database: the messages stay queued all the same
                    log.exception("%s delivery failed; retrying in %.1f s", what, wait)
                await asyncio.sleep(wait)
                continue
            failures = 0
            if sent < batch_size:
                await asyncio.sleep(IDLE_SECONDS)
    finally:
        await lock.release()
