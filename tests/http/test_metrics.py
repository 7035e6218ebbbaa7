"""/metrics end to end, parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, run_cli, start_server, stop_server
from tests.http.helpers import get_json, onboard, operator, put_values


async def scrape(session: aiohttp.ClientSession, node: Server) -> dict[tuple[str, tuple[Any, ...]], float]:
    async with session.get(f"{node.url}/metrics", headers=operator(node)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_cache_and_registrations(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    node = sqlite_server
    async with session.get(f"{node.url}/metrics") as resp:
        assert resp.status == 401  # aggregate figures are the operator's unless public_stats
    before = await scrape(session, node)
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/METRIC-1"
    value = {"index": 1, "type": "URL", "data": "https://example.com/m"}
    assert (await put_values(session, node, handle, [value], auth))[0] == 200
    # a scanner's own connection (``session``'s was handed to aiohttp by the writes above)
    async with aiohttp.ClientSession() as scanner:
        for _ in range(3):  # one miss, then hits, all on the fast path
            async with scanner.get(f"{node.url}/api/handles/{handle}") as resp:
                assert resp.status == 200
        async with scanner.get(f"{node.url}/api/handles/{prefix}/ABSENT") as resp:
            assert resp.status == 404
    after = await scrape(session, node)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("idnode_fastpath_responses_total", status="200") == 3
    assert grew("idnode_fastpath_responses_total", status="404") == 1
    assert grew("idnode_cache_misses_total") == 2 and grew("idnode_cache_hits_total") == 2
    assert grew("idnode_resolutions_total") == 3  # the absent handle is not a resolution
    route, put_route = "/api/enterprises", "/api/handles/{handle}"
    assert grew("idnode_http_requests_total", route=route, method="POST", status="201") == 1
    assert grew("idnode_http_requests_total", route=put_route, method="PUT", status="200") == 1
    assert grew("idnode_http_request_duration_seconds_count", route=put_route) == 1
    assert after[("idnode_enterprises", (("status", "active"),))] >= 1
    assert after[("idnode_identifiers", ())] >= 1
    assert after[("idnode_cache_entries", ())] >= 2  # the record and the negative entry


async def test_resolutions_are_counted_flushed_and_kept_at_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session: aiohttp.ClientSession
) -> None:
    monkeypatch.setenv("IDNODE_RESOLUTION_FLUSH_SECONDS", "0.2")
    node = start_server(tmp_path / "node")
    try:
        prefix, auth = await onboard(session, node)
        handle = f"{prefix}/COUNTED-1"
        value = {"index": 1, "type": "URL", "data": "https://example.com/c"}
        assert (await put_values(session, node, handle, [value], auth))[0] == 200
        async with aiohttp.ClientSession() as scanner:
            for _ in range(5):
                async with scanner.get(f"{node.url}/api/handles/{handle}") as resp:
                    assert resp.status == 200
            async with scanner.get(f"{node.url}/api/handles/{prefix}/ABSENT") as resp:
                assert resp.status == 404  # not a resolution of an identifier: not counted
        deadline = time.monotonic() + 5
        while (await get_json(session, f"{node.url}/api/stats", headers=operator(node)))[1]["resolutions"][
            "total"
        ] != 5:
            assert time.monotonic() < deadline, "resolution counts were not flushed"
            await asyncio.sleep(0.1)
    finally:
        stop_server(node)
    # counts still in memory at shutdown are stored too
    monkeypatch.setenv("IDNODE_RESOLUTION_FLUSH_SECONDS", "600")
    node = start_server(tmp_path / "node")
    try:
        async with aiohttp.ClientSession() as scanner:
            for _ in range(2):
                async with scanner.get(f"{node.url}/api/handles/{handle}") as resp:
                    assert resp.status == 200
    finally:
        stop_server(node)
    stats = json.loads(run_cli("stats", *node.cli_args(), "--json").stdout)
    assert stats["resolutions"]["total"] == 7
