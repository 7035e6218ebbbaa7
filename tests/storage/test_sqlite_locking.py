"""The embedded SQLite store runs in WAL mode with a busy timeout: a writer elsewhere holding the lock for
a moment (the command line, a backup, another worker) delays a request instead of failing it, and
readers are never blocked by a writer."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import aiohttp

from tests.conftest import Server
from tests.http.helpers import onboard, put_values

HOLD_SECONDS = 1.0


def _database(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(server.data_dir / "idnode.db", isolation_level=None, timeout=10)


async def test_the_node_database_is_in_wal_mode(sqlite_server: Server) -> None:
    with _database(sqlite_server) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_write_lock_held_elsewhere_delays_a_write_instead_of_failing_it(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    prefix, admin = await onboard(session, sqlite_server)
    handle = f"{prefix}/locked"
    assert (
        await put_values(session, sqlite_server, handle, [{"index": 1, "type": "URL", "data": "a"}], admin)
    )[0] == 200
    other = _database(sqlite_server)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock, as another process's transaction takes it
        started = time.monotonic()
        write = asyncio.create_task(
            put_values(session, sqlite_server, handle, [{"index": 1, "type": "URL", "data": "b"}], admin)
        )
        await asyncio.sleep(HOLD_SECONDS)
        assert not write.done(), "the write did not wait for the lock"
        async with session.get(f"{sqlite_server.url}/api/handles/{handle}?auth=true") as response:
            assert response.status == 200, "a reader was blocked by the writer"
        other.execute("ROLLBACK")
        status, body = await write
    finally:
        other.close()
    assert (status, body["responseCode"]) == (200, 1)
    assert time.monotonic() - started >= HOLD_SECONDS
    async with session.get(f"{sqlite_server.url}/api/handles/{handle}?index=1") as response:
        assert (await response.json())["values"][0]["data"]["value"] == "b"
