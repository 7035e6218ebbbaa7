"""PostgreSQL going away under load and coming back, simulated with a proxy between the node and the
shared server (the real restart is tools/chaos.py): requests meanwhile fail fast with a JSON 503 and a
Handle responseCode, the node reconnects by itself, and nothing it stored is corrupt."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import make_url

from tests.conftest import Server, stop_server
from tests.federation.conftest import start_node
from tests.http.helpers import Credentials, onboard, put_values
from tests.integrity import check_node, value_at
from tests.tcpproxy import TcpProxy, proxied

STREAMS = 4  # writers at once, so that some are inside a transaction when the connection drops
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=20)  # a request that hangs longer than this fails the test


@pytest.fixture
def store_proxy(pg_database: str) -> Iterator[TcpProxy]:
    url = make_url(pg_database)
    with proxied(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
def proxied_node(tmp_path: Path, pg_database: str, store_proxy: TcpProxy) -> Iterator[Server]:
    db = make_url(pg_database).set(port=store_proxy.port).render_as_string(hide_password=False)
    node = start_node(tmp_path / "node", db, **UNLIMITED_WRITES)
    try:
        yield node
    finally:
        stop_server(node)


# The writers send the next write as soon as one is refused; the subject is the outage, not the rate limit.
UNLIMITED_WRITES = {"rate_limit_writes": 0}


def url(n: int) -> list[dict[str, Any]]:
    return [{"index": 1, "type": "URL", "data": f"https://example.com/outage/{n}"}]


def clean_failure(status: int, body: dict[str, Any]) -> bool:
    """A refusal a Handle client can act on: 503 with a JSON responseCode (and the server said retry)."""
    return status == 503 and body.get("responseCode") == 3 and "message" in body


class WriteLoad:
    """STREAMS writers creating new handles, for the duration of an ``async with`` block; ``answers``
    holds (handle, content, status, body) for each write answered. Leaving the block lets each writer
    finish its request in flight, so the node is quiet afterwards."""

    def __init__(self, session: aiohttp.ClientSession, node: Server, prefix: str, admin: Credentials) -> None:
        self.session, self.node, self.prefix, self.admin = session, node, prefix, admin
        self.answers: list[tuple[str, str, int, dict[str, Any]]] = []
        self._stop = asyncio.Event()
        self._writers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> WriteLoad:
        self._writers = [asyncio.create_task(self._write(number)) for number in range(STREAMS)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._writers)

    async def answered(self, count: int) -> None:
        """Wait until ``count`` writes have been answered."""
        while len(self.answers) < count:
            assert not any(w.done() for w in self._writers), "a writer stopped"
            await asyncio.sleep(0.01)

    def acknowledged(self) -> dict[str, str]:
        return {handle: content for handle, content, status, _ in self.answers if status == 200}

    def refused(self) -> list[tuple[int, dict[str, Any]]]:
        return [(status, body) for _, _, status, body in self.answers if status != 200]

    async def _write(self, number: int) -> None:
        for n in itertools.count(number * 1_000_000):
            if self._stop.is_set():
                return
            handle = f"{self.prefix}/stream-{n}"
            status, body = await put_values(self.session, self.node, handle, url(n), self.admin)
            self.answers.append((handle, f"https://example.com/outage/{n}", status, body))


async def test_postgresql_outage_fails_requests_cleanly_and_the_node_recovers(
    proxied_node: Server, store_proxy: TcpProxy
) -> None:
    node = proxied_node
    async with aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as session:
        prefix, admin = await onboard(session, node)
        assert (await put_values(session, node, f"{prefix}/before", url(0), admin))[0] == 200
        async with WriteLoad(session, node, prefix, admin) as load:
            await load.answered(20)
            store_proxy.cut()
            cut_at = len(load.answers)
            await asyncio.sleep(1.0)
            started = time.monotonic()
            status, body = await put_values(session, node, f"{prefix}/during", url(-1), admin)
            assert clean_failure(status, body), (status, body)
            async with session.get(f"{node.url}/api/handles/{prefix}/never-written") as response:
                assert clean_failure(response.status, await response.json())
            assert time.monotonic() - started < 5, "requests hung while the store was away"
        assert load.refused(), "no write failed while the store was away"
        assert all(clean_failure(s, b) for s, b in load.refused()), load.refused()
        assert all(s == 200 for _, _, s, _ in load.answers[:cut_at])

        accepted = store_proxy.accepted
        store_proxy.restore()
        deadline = time.monotonic() + 15
        while (status := (await put_values(session, node, f"{prefix}/after", url(1), admin))[0]) != 200:
            assert time.monotonic() < deadline, "the node did not reconnect"
            await asyncio.sleep(0.2)
        assert store_proxy.accepted > accepted
        acknowledged = load.acknowledged()
        handles = [f"{prefix}/before", f"{prefix}/after", *acknowledged]
        found = await check_node(session, node, handles)
        assert found.problems == []
        assert all(value_at(found.records[h], 1) == c for h, c in acknowledged.items())
    # An outage is an expected condition: logged in a line each time, not as a crash with a traceback.
    assert "Traceback" not in node.log.read_text()
