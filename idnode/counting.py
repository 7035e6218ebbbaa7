"""Counting resolutions without slowing them: in-memory counts per enterprise prefix, flushed in batches.

A resolution adds one to a dictionary entry (no I/O and no lock: one event loop owns the counter).
Every ``interval`` seconds the counts gathered since the last flush are added to the stored
``(day, prefix)`` counts in one transaction (an upsert, so the counts of every serving process add
up); the rest are flushed at shutdown. A failed flush keeps its counts for the next one. A batch is
booked on the day its flush began, so counts within one interval of midnight may land on the next day.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from idnode.background import running
from idnode.model.errors import StoreUnavailable
from idnode.storage.repository import Repository, today

log = logging.getLogger(__name__)


class ResolutionCounter:
    """Resolutions per enterprise prefix since the last flush."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0  # counted by this process since it started (for /metrics)

    def count(self, prefix: str) -> None:
        self.counts[prefix] += 1
        self.total += 1

    async def flush(self, repository: Repository) -> None:
        """Add the counts so far to the store (kept for the next flush if that fails)."""
        if not self.counts:
            return
        batch, self.counts = self.counts, Counter()
        try:
            await repository.add_resolution_counts(today(), batch)
        except BaseException:
            self.counts.update(batch)
            raise


@asynccontextmanager
async def flushing(
    repository: Repository, counter: ResolutionCounter, interval: float
) -> AsyncIterator[None]:
    """Flush ``counter`` every ``interval`` seconds during the block, and once more at its end."""

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await counter.flush(repository)
            except StoreUnavailable as exc:  # the database restarting: expected, no traceback
                log.warning("storing resolution counts failed (%s); they are kept for the next attempt", exc)
            except Exception:
                log.exception("storing resolution counts failed; they are kept for the next attempt")

    try:
        async with running(flush_forever(), "idnode-resolution-counts"):
            yield
    finally:
        await counter.flush(repository)
