"""Node locks: held by one process of the node at a time, released when that process exits or dies.

On PostgreSQL a lock is a session advisory lock, taken on a connection kept for the purpose: the
server releases it when that connection closes, which it does when the holder is killed, on any
machine. On SQLite it is an exclusive ``flock`` on a file next to the database: the kernel releases it
with the holder's file descriptors (every process using one SQLite file runs on one machine).
Nobody has to wait for a lease to expire after a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from idnode.storage.engine import Engines, is_sqlite


class NodeLock(Protocol):
    async def try_acquire(self) -> bool:
        """True if this process holds the lock now (taken by this call, or held and still valid)."""

    async def release(self) -> None:
        """Let go of the lock, if held."""


class AdvisoryLock:
    """A PostgreSQL session advisory lock (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self.key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._conn: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # the connection is gone, and the lock with it
                await self.release()
        conn = await self.engine.connect()
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")  # never idle in a transaction
            taken = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            ).scalar()
        except BaseException:
            await conn.close()
            raise
        if taken:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing the session releases the lock anyway
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            with contextlib.suppress(Exception):
                await conn.close()


class FileLock:
    """An exclusive ``flock`` on a file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor of this open file releases its lock


def node_lock(engines: Engines, name: str) -> NodeLock:
    """The lock ``name`` of the node whose database ``engines`` open."""
    url = engines.writer.url
    if is_sqlite(url.drivername):
        return FileLock(f"{url.database}.{name}.lock")
    return AdvisoryLock(engines.writer, name)
