"""The long and disruptive reliability runs, excluded from the default suite (``slow``) and run by
tools/chaos.py: a real restart of the local PostgreSQL server under load (it drops every other
client's connections too), and many rounds of kill -9."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import stop_server
from tests.federation.conftest import start_node
from tests.http.helpers import onboard
from tests.http.test_crash_recovery import crash_rounds
from tests.http.test_store_outage import CLIENT_TIMEOUT, UNLIMITED_WRITES, WriteLoad, clean_failure
from tests.integrity import check_node, value_at

pytestmark = pytest.mark.slow
ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "10"))
RECOVERY_SECONDS = 30.0


def restart_postgresql() -> None:
    """Restart the machine's PostgreSQL cluster (Debian's pg_ctlcluster; needs root)."""
    (version,) = os.listdir("/etc/postgresql")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, timeout=120
    )


async def test_repeated_kill_9(tmp_path: Path, db_url: str) -> None:
    for summary in await crash_rounds(tmp_path / "node", db_url, ROUNDS):
        print(f"\n{db_url.split(':')[0] or 'sqlite'} {summary}")


async def test_postgresql_restart_under_load(tmp_path: Path, pg_database: str) -> None:
    node = start_node(tmp_path / "node", pg_database, **UNLIMITED_WRITES)
    try:
        async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
            prefix, admin = await onboard(session, node)
            async with WriteLoad(session, node, prefix, admin) as load:
                await load.answered(40)
                restart_started = time.monotonic()
                await asyncio.to_thread(restart_postgresql)
                back, restarted_at = time.monotonic(), len(load.answers)
                while not any(s == 200 for _, _, s, _ in load.answers[restarted_at:]):
                    assert time.monotonic() - back < RECOVERY_SECONDS, "the node did not reconnect"
                    await asyncio.sleep(0.05)
                recovered = time.monotonic()
                await asyncio.sleep(1.0)
            refused = load.refused()
            assert all(clean_failure(s, b) for s, b in refused), refused
            acknowledged = load.acknowledged()
            found = await check_node(session, node, sorted(acknowledged))
            assert found.problems == []
            assert all(value_at(found.records[h], 1) == c for h, c in acknowledged.items())
        print(
            f"\nPostgreSQL restart took {back - restart_started:.1f} s; the node wrote again "
            f"{recovered - back:.1f} s after; {len(load.answers)} writes answered: {len(acknowledged)} "
            f"acknowledged (all present and verified), {len(refused)} refused with 503 (responseCode 3)"
        )
    finally:
        stop_server(node)
