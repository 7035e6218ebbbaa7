"""A mirror following a primary: real processes, the mirror on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from idnode.merkle import leaf_hash
from tests.conftest import Server, fresh_pg_database, run_cli, start_server, stop_server
from tests.federation.conftest import start_node, write_settings
from tests.http.helpers import get_json, onboard, operator, put_values

URL = {"index": 1, "type": "URL", "data": "https://example.com/pump/1"}


@dataclass
class Pair:
    primary: Server
    mirror: Server


def _mirror_settings(primary: Server) -> dict[str, Any]:
    return {
        "mirror_of": primary.url,
        "mirror_credential": ":".join(primary.operator),
        "mirror_poll_seconds": 0.2,
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """A primary (SQLite) and its mirror (on each database), shared by the module's tests."""
    databases = fresh_pg_database() if request.param == "postgresql" else iter([""])
    db = next(databases)
    primary = start_server(tmp_path_factory.mktemp("primary"))
    mirror = start_node(tmp_path_factory.mktemp("mirror"), db, **_mirror_settings(primary))
    pair = Pair(primary, mirror)
    try:
        yield pair
    finally:
        stop_server(pair.mirror)
        stop_server(primary)
        next(databases, None)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the mirror did not catch up in time"
        await asyncio.sleep(0.1)


async def answer(session: aiohttp.ClientSession, server: Server, handle: str) -> tuple[int, dict[str, Any]]:
    return await get_json(session, f"{server.url}/api/handles/{handle}")


async def mirrored(session: aiohttp.ClientSession, pair: Pair, *handles: str) -> None:
    """Wait until the mirror answers for each handle exactly as the primary does."""

    async def same() -> bool:
        for handle in handles:
            if await answer(session, pair.mirror, handle) != await answer(session, pair.primary, handle):
                return False
        return True

    await eventually(same)


async def metrics(session: aiohttp.ClientSession, server: Server) -> dict[str, float]:
    async with session.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name.startswith("idnode_mirror_")
    }


async def test_writes_and_deletions_reach_the_mirror(pair: Pair, session: aiohttp.ClientSession) -> None:
    primary, mirror = pair.primary, pair.mirror
    prefix, auth = await onboard(session, primary)
    created, changed, deleted = f"{prefix}/NEW", f"{prefix}/CHANGED", f"{prefix}/DELETED"
    for handle in (created, changed, deleted):
        assert (await put_values(session, primary, handle, [URL], auth))[0] == 200
    private = {"index": 5, "type": "NOTE", "data": "internal", "permissions": "1100"}
    await put_values(session, primary, changed, [URL, private], auth)
    async with session.delete(f"{primary.url}/api/handles/{deleted}", headers=auth) as response:
        assert response.status == 200
    await mirrored(session, pair, created, changed, deleted, f"0.NA/{prefix}", "0.NA/88.999")
    status, body = await answer(session, mirror, changed)
    assert status == 200 and {v["type"] for v in body["values"]} == {"URL", "HS_ADMIN", "HS_SIGNATURE"}
    bodies, etags = [], []
    for server in (primary, mirror):  # the very same bytes, so partners' caches may use either
        async with session.get(f"{server.url}/api/handles/{changed}") as response:
            bodies.append(await response.read())
            etags.append(response.headers["ETag"])
    assert bodies[0] == bodies[1] and etags[0] == etags[1]
    assert (await answer(session, mirror, deleted))[0] == 404
    # The mirror's records verify against the primary's key as the mirror serves it, and its log
    # proves them under the primary's signed tree head.
    result = run_cli("verify", changed, "--server", mirror.url, "--log", "--json", check=False)
    assert result.returncode == 0, result.stdout
    _, mirror_head = await get_json(session, f"{mirror.url}/api/log/sth")
    _, proof = await get_json(
        session, f"{primary.url}/api/log/consistency?first=1&second={mirror_head['tree_size']}"
    )
    assert proof["second_root_hash"] == mirror_head["sha256_root_hash"]
    # Derived rows came along: the mirror finds the record by value.
    status, found = await get_json(
        session, f"{mirror.url}/api/search?type=URL&value={URL['data']}&prefix={prefix}"
    )
    assert status == 200 and found["handles"] == [changed, created]


async def test_templates_come_from_the_primary(pair: Pair, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, pair.primary)
    handle = f"{prefix}/PRODUCT"
    metadata = {
        "productName": "水泵",
        "manufacturer": "盐城示范泵业",
        "manufactureDate": "2026-01-05",
        "model": "P-1",
    }
    values = [
        URL,
        {"index": 2, "type": "TEMPLATE", "data": "generic-product@1"},
        {"index": 3, "type": "METADATA", "data": orjson.dumps(metadata).decode()},
    ]
    status, body = await put_values(session, pair.primary, handle, values, auth)
    assert status == 200, body
    await mirrored(session, pair, handle)
    _, template = await get_json(session, f"{pair.mirror.url}/api/templates/generic-product/1")
    _, original = await get_json(session, f"{pair.primary.url}/api/templates/generic-product/1")
    assert template["template"]["document"] == original["template"]["document"]
    status, found = await get_json(session, f"{pair.mirror.url}/api/search?field=model&value=P-1")
    assert status == 200 and found["handles"] == [handle]


async def test_the_mirror_refuses_writes(pair: Pair, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, pair.primary)
    handle = f"{prefix}/ONLY-ON-PRIMARY"
    await put_values(session, pair.primary, handle, [URL], auth)
    await mirrored(session, pair, handle)
    for credentials in (auth, None):
        status, body = await put_values(session, pair.mirror, handle, [URL], credentials)
        assert status == 503 and body["responseCode"] == 7
        assert f"read-only mirror of {pair.primary.url}" in body["message"]
    async with session.delete(f"{pair.mirror.url}/api/handles/{handle}", headers=auth) as response:
        assert response.status == 503 and (await response.json())["responseCode"] == 7
    enterprise = {"name": "镜像企业", "uscc": "91320900MA0000002P", "district": "盐都区", "industry": "通用"}
    async with session.post(
        f"{pair.mirror.url}/api/enterprises", json=enterprise, headers=operator(pair.primary)
    ) as response:
        assert response.status == 503 and (await response.json())["responseCode"] == 7
    assert (await answer(session, pair.mirror, handle)) == (await answer(session, pair.primary, handle))


async def test_lag_is_reported(pair: Pair, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, pair.primary)
    await put_values(session, pair.primary, f"{prefix}/LAG", [URL], auth)
    _, head = await get_json(session, f"{pair.primary.url}/api/log/sth")

    async def caught_up() -> bool:
        figures = await metrics(session, pair.mirror)
        return figures["idnode_mirror_applied_entries"] >= head["tree_size"]

    await eventually(caught_up)
    figures = await metrics(session, pair.mirror)
    assert figures["idnode_mirror_lag_entries"] == 0
    assert figures["idnode_mirror_primary_entries"] == figures["idnode_mirror_applied_entries"]
    assert 0 <= figures["idnode_mirror_lag_seconds"] < 10
    assert figures["idnode_mirror_failed_polls_total"] == 0


async def test_the_mirror_resumes_after_a_restart(pair: Pair, session: aiohttp.ClientSession) -> None:
    primary = pair.primary
    prefix, auth = await onboard(session, primary)
    kept, dropped = f"{prefix}/KEPT", f"{prefix}/DROPPED"
    for handle in (kept, dropped):
        await put_values(session, primary, handle, [URL], auth)
    await mirrored(session, pair, kept, dropped)
    stop_server(pair.mirror)
    added = f"{prefix}/ADDED-WHILE-DOWN"
    await put_values(session, primary, added, [URL], auth)
    async with session.delete(f"{primary.url}/api/handles/{dropped}", headers=auth) as response:
        assert response.status == 200
    pair.mirror = start_server(pair.mirror.data_dir, pair.mirror.db)
    await mirrored(session, pair, kept, dropped, added)
    assert (await answer(session, pair.mirror, dropped))[0] == 404
    figures = await metrics(session, pair.mirror)
    # Only the two handles changed while it was down were fetched: it resumed, not started over.
    assert figures["idnode_mirror_records_fetched_total"] == 2


async def test_log_entries_are_the_operators(pair: Pair, session: aiohttp.ClientSession) -> None:
    await onboard(session, pair.primary)  # two more entries, whatever ran before
    url = f"{pair.primary.url}/api/log/entries?start=0&limit=2"
    status, body = await get_json(session, url)
    assert status == 401 and body["responseCode"] == 402
    status, body = await get_json(session, url, headers=operator(pair.primary))
    assert status == 200 and body["start"] == 0 and body["tree_size"] >= 3
    first = body["entries"][0]
    assert first["seq"] == 0 and first["handle"] == "0.NA/88.999" and len(body["entries"]) == 2
    assert json.loads(first["entry"])["action"] == "create"
    assert first["leaf_hash"] == base64.b64encode(leaf_hash(first["entry"].encode())).decode()


async def test_a_mirror_of_another_node_prefix_follows_nothing(
    pair: Pair, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    mirror = start_node(tmp_path / "mirror", node_prefix="88.777", **_mirror_settings(pair.primary))
    try:

        async def failing() -> bool:
            return (await metrics(session, mirror))["idnode_mirror_failed_polls_total"] > 0

        await eventually(failing)
        assert (await metrics(session, mirror))["idnode_mirror_applied_entries"] == 0
        assert "but this mirror is configured for 88.777" in mirror.log.read_text()
    finally:
        stop_server(mirror)


def test_a_mirror_has_no_credential(tmp_path: Path) -> None:
    data_dir = tmp_path / "mirror"
    data_dir.mkdir()
    write_settings(data_dir, mirror_of="http://127.0.0.1:9")
    init = json.loads(run_cli("init", "--data-dir", str(data_dir), "--json").stdout)
    assert init["created"] is False and init["operator"]["secret"] is None
    result = run_cli(
        "enterprise",
        "add",
        "--data-dir",
        str(data_dir),
        "--name",
        "企业",
        "--uscc",
        "91320900MA0000002P",
        "--district",
        "盐都区",
        "--industry",
        "通用",
        check=False,
    )
    assert result.returncode == 2 and "read-only mirror" in result.stderr
