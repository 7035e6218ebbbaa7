"""Redis going away and coming back, simulated with a proxy between two nodes and the shared Redis: while
it is away both keep resolving (their caches and the store) and accepting writes; when it is back a
write on one node again reaches the other's cache through Redis, well inside the log feed's bound."""

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

from tests.conftest import Server, start_server, stop_server
from tests.http.helpers import Credentials, get_json, onboard, put_values
from tests.http.test_resolution_cache import REDIS_URL, redis_unavailable
from tests.tcpproxy import TcpProxy, proxied

FEED_BOUND = "600"  # the log feed reads every 150 s: within this test only Redis can invalidate in time
RESUME_WITHIN = 20.0  # seconds after Redis is back (or known to be gone) for invalidations to flow again
REDIS_DELIVERY = 3.0  # seconds a write may take to reach the other node's cache through Redis


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    target = make_url(REDIS_URL)
    with proxied(target.host or "127.0.0.1", target.port or 6379) as proxy:
        yield proxy


@pytest.fixture
def two_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_proxy: TcpProxy
) -> Iterator[tuple[Server, Server]]:
    """Two nodes on one store, carrying invalidations through Redis (via the proxy)."""
    monkeypatch.setenv("IDNODE_REDIS", f"redis://127.0.0.1:{redis_proxy.port}/0")
    monkeypatch.setenv("IDNODE_CACHE_STALENESS_SECONDS", FEED_BOUND)
    monkeypatch.setenv("IDNODE_NODE_PREFIX", "88.996")  # its own channel: other runs cannot interfere
    first = start_server(tmp_path / "node")
    second = start_server(tmp_path / "node")
    try:
        yield first, second
    finally:
        stop_server(first)
        stop_server(second)


def url(text: str) -> list[dict[str, Any]]:
    return [{"index": 1, "type": "URL", "data": f"https://example.com/{text}"}]


async def resolved(session: aiohttp.ClientSession, node: Server, handle: str) -> str:
    status, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert status == 200, body
    return body["values"][0]["data"]["value"]


async def cached(session: aiohttp.ClientSession, node: Server, handle: str, text: str) -> None:
    """Have ``node`` cache ``handle`` (with content ``text``). A read that overlaps the write's own
    invalidation is not cached, so wait for that to arrive first: otherwise the next change could be
    read from the store and pass for one delivered through Redis."""
    await asyncio.sleep(0.2)
    for _ in range(2):
        assert await resolved(session, node, handle) == f"https://example.com/{text}"


async def delivered(session: aiohttp.ClientSession, node: Server, handle: str, text: str) -> bool:
    """Does ``node`` answer the new content within REDIS_DELIVERY seconds?"""
    deadline = time.monotonic() + REDIS_DELIVERY
    while time.monotonic() < deadline:
        if await resolved(session, node, handle) == f"https://example.com/{text}":
            return True
        await asyncio.sleep(0.02)
    return False


async def test_nodes_serve_and_write_without_redis_and_resume_invalidating_when_it_returns(
    two_nodes: tuple[Server, Server], redis_proxy: TcpProxy, session: aiohttp.ClientSession
) -> None:
    writer, reader = two_nodes
    prefix, admin = await onboard(session, writer)
    handle, other = f"{prefix}/REDIS-OUT-1", f"{prefix}/REDIS-OUT-2"
    assert (await put_values(session, writer, handle, url("v1"), admin))[0] == 200
    await cached(session, reader, handle, "v1")
    assert (await put_values(session, writer, handle, url("v2"), admin))[0] == 200
    assert await delivered(session, reader, handle, "v2")

    redis_proxy.cut()
    for node in (writer, reader):  # resolves: from the cache, and from the store on a miss
        assert await resolved(session, node, handle) == "https://example.com/v2"
    started = time.monotonic()
    assert (await put_values(session, reader, other, url("o1"), admin))[0] == 200
    assert (await put_values(session, writer, handle, url("v3"), admin))[0] == 200
    assert time.monotonic() - started < 2, "writes waited for Redis"
    assert await resolved(session, writer, handle) == "https://example.com/v3"  # its own write: at once
    assert await resolved(session, writer, other) == "https://example.com/o1"  # a miss: from the store

    redis_proxy.restore()
    await resumed(session, writer, reader, handle, admin)


async def test_nodes_notice_a_redis_that_restarted_unseen_and_resume_invalidating(
    two_nodes: tuple[Server, Server], redis_proxy: TcpProxy, session: aiohttp.ClientSession
) -> None:
    """Redis restarted behind a partition: the nodes' connections look open but are dead, and a node
    that only listens would wait on its forever."""
    writer, reader = two_nodes
    prefix, admin = await onboard(session, writer)
    handle = f"{prefix}/REDIS-GONE-1"
    assert (await put_values(session, writer, handle, url("v1"), admin))[0] == 200
    await cached(session, reader, handle, "v1")
    redis_proxy.forget()
    await resumed(session, writer, reader, handle, admin)


async def resumed(
    session: aiohttp.ClientSession, writer: Server, reader: Server, handle: str, admin: Credentials
) -> None:
    """Writes on ``writer`` soon reach ``reader``'s cache through Redis again, and then all of them do."""
    deadline = time.monotonic() + RESUME_WITHIN
    for n in itertools.count():  # the nodes reconnect on their own; from then on every write arrives in time
        assert (await put_values(session, writer, handle, url(f"r{n}"), admin))[0] == 200
        if await delivered(session, reader, handle, f"r{n}"):
            break
        assert time.monotonic() < deadline, "invalidations did not resume through Redis"
    for m in range(n + 1, n + 4):
        assert (await put_values(session, writer, handle, url(f"r{m}"), admin))[0] == 200
        assert await delivered(session, reader, handle, f"r{m}")
