"""Background tasks that live as long as a ``with`` block (log feed, count flushing, senders)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def running(work: Coroutine[Any, Any, Any], name: str) -> AsyncIterator[None]:
    """Run ``work`` as a task named ``name`` during the block; at its end cancel the task and wait
    until it has stopped."""
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
