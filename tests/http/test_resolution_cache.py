"""The cached resolution path end to end: HTTP caching headers, the fast path's framing, and
freshness after writes in the same process and in another process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.http.helpers import get_json, onboard, put_values

URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/v1"}


async def test_etag_304_and_max_age_from_ttl(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/TTL-1"
    values = [{**URL_VALUE, "ttl": 600}, {"index": 2, "type": "LOT", "data": "B-1", "ttl": 120}]
    assert (await put_values(session, node, handle, values, auth))[0] == 200
    url = f"{node.url}/api/handles/{handle}"
    async with session.get(url) as resp:
        etag, cache_control = resp.headers["ETag"], resp.headers["Cache-Control"]
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
    assert cache_control.startswith("max-age=") and 110 <= int(cache_control.split("=")[1]) <= 120
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        async with session.get(url, headers={"If-None-Match": header}) as resp:
            assert resp.status == 304 and await resp.read() == b"" and resp.headers["ETag"] == etag
    async with session.get(url, headers={"If-None-Match": '"other"'}) as resp:
        assert resp.status == 200
    # a change makes a new ETag, so the partner's copy is refreshed
    changed = [{**URL_VALUE, "data": "https://example.com/v2"}]
    assert (await put_values(session, node, handle, changed, auth))[0] == 200
    async with session.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200 and resp.headers["ETag"] != etag
        assert (await resp.json())["values"][0]["data"]["value"] == "https://example.com/v2"


async def test_ttl_zero_is_never_cached_and_private_answers_are_not_stored(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/TTL-0"
    assert (await put_values(session, node, handle, [{**URL_VALUE, "ttl": 0}], auth))[0] == 200
    async with session.get(f"{node.url}/api/handles/{handle}") as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    async with session.get(f"{node.url}/api/handles/{handle}", headers=auth) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "private, no-store"
        assert "ETag" not in resp.headers


async def test_no_stale_read_after_a_write_and_negative_entries_dropped(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/FRESH-1"
    url = f"{node.url}/api/handles/{handle}"
    for _ in range(2):  # absent, and negatively cached
        status, body = await get_json(session, url)
        assert status == 404 and body["responseCode"] == 100
    assert (await put_values(session, node, handle, [URL_VALUE], auth))[0] == 200
    status, body = await get_json(session, url)
    assert status == 200 and body["values"][0]["data"]["value"] == "https://example.com/v1"
    for n in range(3):  # each write is visible to the very next read
        value = f"https://example.com/n{n}"
        assert (await put_values(session, node, handle, [{**URL_VALUE, "data": value}], auth))[0] == 200
        assert (await get_json(session, url))[1]["values"][0]["data"]["value"] == value
    async with session.delete(url, headers=auth) as resp:
        assert resp.status == 200
    assert (await get_json(session, url))[0] == 404


async def _raw_exchange(server: Server, payload: bytes, responses: int) -> list[tuple[int, bytes]]:
    """Send ``payload`` on one connection; read ``responses`` HTTP responses (status, body)."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(payload)
    out = []
    try:
        for _ in range(responses):
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            out.append((int(status_line.split()[1]), body))
    finally:
        writer.close()
    return out


async def test_pipelined_mixed_requests_on_one_connection(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    handles = [f"{prefix}/PIPE-{n}" for n in range(3)]
    for n, handle in enumerate(handles):
        value = {**URL_VALUE, "data": f"https://example.com/p{n}"}
        assert (await put_values(session, node, handle, [value], auth))[0] == 200
    get = "GET /api/handles/{} HTTP/1.1\r\nHost: x\r\n\r\n"
    payload = (
        get.format(handles[0])  # a miss (first read): answered after a store read
        + get.format(handles[0])  # a hit
        + get.format(f"{prefix}/ABSENT")
        + "GET /api/node HTTP/1.1\r\nHost: x\r\n\r\n"  # not a resolve: the connection moves to aiohttp
        + get.format(handles[2])  # still answered, by aiohttp now
    ).encode()
    answers = await _raw_exchange(node, payload, 5)
    assert [status for status, _ in answers] == [200, 200, 404, 200, 200]
    assert b"/p0" in answers[0][1] and answers[0][1] == answers[1][1]
    assert b'"nodePrefix"' in answers[3][1] and b"/p2" in answers[4][1]


async def test_percent_encoded_and_unicode_handles_resolve_alike(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/泵 批次/7"
    assert (await put_values(session, node, handle, [URL_VALUE], auth))[0] == 200
    encoded = f"{prefix}/%E6%B3%B5%20%E6%89%B9%E6%AC%A1/7"
    raw = (f"GET /api/handles/{encoded}?pretty=true HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    [(status, body)] = await _raw_exchange(node, raw, 1)
    assert status == 200 and f'"handle": "{handle}"'.encode() in body
    status, record = await get_json(session, f"{node.url}/api/handles/{handle}", params={"index": "1"})
    assert status == 200 and record["handle"] == handle and len(record["values"]) == 1
    # malformed requests are not the fast path's to judge: aiohttp answers them (JSON, 400)
    [(status, body)] = await _raw_exchange(node, b"GET /api/handles/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    assert status in (400, 404) and b"responseCode" in body


@pytest.fixture(params=["sqlite", "postgresql"])
def two_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two ``idnode serve`` processes on one database (as two workers or two nodes would be)."""
    from tests.conftest import fresh_pg_database

    databases = fresh_pg_database() if request.param == "postgresql" else iter([""])
    db = next(databases)
    first = start_server(tmp_path / "node", db)
    second = start_server(tmp_path / "node", db)
    try:
        yield first, second
    finally:
        stop_server(first)
        stop_server(second)
        next(databases, None)


STALENESS_BOUND = 1.0  # the default cache_staleness_seconds


async def test_a_write_through_one_process_reaches_the_other_within_the_bound(
    two_processes: tuple[Server, Server], session: aiohttp.ClientSession
) -> None:
    writer, reader = two_processes
    prefix, auth = await onboard(session, writer)
    handle = f"{prefix}/XPROC-1"
    url = f"{reader.url}/api/handles/{handle}"
    assert (await get_json(session, url))[0] == 404  # negatively cached in the reader
    for n in range(3):
        value = f"https://example.com/x{n}"
        assert (await put_values(session, writer, handle, [{**URL_VALUE, "data": value}], auth))[0] == 200
        written = time.monotonic()
        while True:
            status, body = await get_json(session, url)
            if status == 200 and body["values"][0]["data"]["value"] == value:
                break
            assert time.monotonic() - written < STALENESS_BOUND + 0.5, "stale beyond the bound"
            await asyncio.sleep(0.02)
        for _ in range(3):  # and it is now cached in the reader: repeated reads agree
            assert (await get_json(session, url))[1]["values"][0]["data"]["value"] == value


def redis_unavailable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} unreachable: {exc}"
    return None


REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_redis_carries_invalidations_faster_than_the_log_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session: aiohttp.ClientSession
) -> None:
    """With the log feed slowed to a 600 s bound, only Redis can bring a write to the other process
    in time; without --redis this test fails."""
    reason = redis_unavailable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("IDNODE_REDIS", REDIS_URL)
    monkeypatch.setenv("IDNODE_CACHE_STALENESS_SECONDS", "600")
    monkeypatch.setenv("IDNODE_NODE_PREFIX", "88.997")  # its own channel: other runs cannot interfere
    writer = start_server(tmp_path / "node")
    reader = start_server(tmp_path / "node")
    try:
        prefix, auth = await onboard(session, writer)
        handle = f"{prefix}/REDIS-1"
        url = f"{reader.url}/api/handles/{handle}"
        assert (await put_values(session, writer, handle, [URL_VALUE], auth))[0] == 200
        await asyncio.sleep(0.2)
        assert (await get_json(session, url))[0] == 200  # now cached in the reader
        for n in range(3):
            value = f"https://example.com/r{n}"
            assert (await put_values(session, writer, handle, [{**URL_VALUE, "data": value}], auth))[0] == 200
            written = time.monotonic()
            while (await get_json(session, url))[1]["values"][0]["data"]["value"] != value:
                assert time.monotonic() - written < 5, "the invalidation did not come through Redis"
                await asyncio.sleep(0.01)
    finally:
        stop_server(writer)
        stop_server(reader)


async def test_workers_share_the_port_and_stay_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session: aiohttp.ClientSession
) -> None:
    monkeypatch.setenv("IDNODE_WORKERS", "2")
    node = start_server(tmp_path / "node")
    try:
        deadline = time.monotonic() + 10
        while len(workers := _children(node.process.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            await asyncio.sleep(0.1)
        prefix, auth = await onboard(session, node)
        handle = f"{prefix}/WORKERS-1"
        url = f"{node.url}/api/handles/{handle}"
        for n in range(5):  # new connections land on either worker; each sees every write in time
            value = f"https://example.com/w{n}"
            assert (await put_values(session, node, handle, [{**URL_VALUE, "data": value}], auth))[0] == 200
            written = time.monotonic()
            async with aiohttp.ClientSession() as fresh:  # no keep-alive reuse across reads
                for _ in range(4):
                    while (await get_json(fresh, url, headers={"Connection": "close"}))[1]["values"][0][
                        "data"
                    ]["value"] != value:
                        assert time.monotonic() - written < STALENESS_BOUND + 0.5
                        await asyncio.sleep(0.02)
    finally:
        stop_server(node)
    for pid in workers:  # SIGTERM to the parent stopped every worker
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def _children(pid: int) -> list[int]:
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]
