"""What fuzzing the node from its OpenAPI document found, each kept as a regression test, on both
databases (PostgreSQL refuses integers SQLite takes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import Server
from tests.http.helpers import Credentials, onboard, operator, put_values

HUGE = 10**20  # past an SQL BIGINT


@pytest.mark.parametrize(
    "path",
    [
        "/api/handles?prefix={prefix}&page={huge}",
        "/api/enterprises?page={huge}",
        "/api/search?type=URL&value=x&page={huge}",
        "/hrls/handles?URL=x&page={huge}",
    ],
)
async def test_a_page_past_any_offset_is_a_bad_request(
    node: Server, session: aiohttp.ClientSession, path: str
) -> None:
    prefix, _ = await onboard(session, node)
    url = node.url + path.format(prefix=prefix, huge=HUGE)
    async with session.get(url, headers=operator(node)) as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["responseCode"] == 4


async def test_log_entries_from_past_the_end_are_none(node: Server, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{node.url}/api/log/entries?start=1000000", headers=operator(node)) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["entries"] == []
    assert body["start"] == 1000000
    assert body["tree_size"] > 0


async def test_log_entries_from_past_any_sequence_number_is_a_bad_request(
    node: Server, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{node.url}/api/log/entries?start={HUGE}", headers=operator(node)) as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["responseCode"] == 4


async def test_a_value_holding_nul_is_stored_and_found(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, admin = await onboard(session, node)
    status, body = await put_values(
        session, node, f"{prefix}/nul", [{"index": 1, "type": "URL", "data": "a\u0000b"}], admin
    )
    assert status == 200, body
    async with session.get(f"{node.url}/api/search?type=URL&value=a%00b", headers=admin) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["handles"] == [f"{prefix}/nul"]
    bulk = "suffix,URL\nnul-row,x\u0000y\n"
    headers = {**admin, "Content-Type": "text/csv"}
    async with session.post(f"{node.url}/api/bulk?prefix={prefix}", data=bulk, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["created"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "type=U%00RL&value=x",
        "field=se%00rial&value=x",
        "type=URL&value=a%00*",
        "type=URL&value=x&prefix=8%00",
    ],
)
async def test_a_search_naming_nul_where_the_index_has_none_is_a_bad_request(
    node: Server, session: aiohttp.ClientSession, query: str
) -> None:
    async with session.get(f"{node.url}/api/search?{query}", headers=operator(node)) as resp:
        assert resp.status == 400, await resp.text()


async def test_a_template_name_no_template_can_have_is_not_found(
    node: Server, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{node.url}/api/templates/a%00b/1") as resp:
        assert resp.status == 404, await resp.text()


@pytest.mark.parametrize("status", [["active"], {}, 1])
async def test_an_enterprise_status_that_is_not_a_string_is_refused(
    node: Server, session: aiohttp.ClientSession, status: object
) -> None:
    prefix, _ = await onboard(session, node)
    url = f"{node.url}/api/enterprises/{prefix}"
    async with session.patch(url, json={"status": status}, headers=operator(node)) as resp:
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["responseCode"] == 202


@pytest.mark.parametrize(
    "query", ["to=0001-01-01", "interval=day&to=0001-01-10", "from=9999-12-01&to=9999-12-31&interval=day"]
)
async def test_a_timeseries_at_the_ends_of_the_calendar(
    node: Server, session: aiohttp.ClientSession, query: str
) -> None:
    url = f"{node.url}/api/stats/timeseries?{query}"
    async with session.get(url, headers=operator(node)) as resp:
        assert resp.status == 200, await resp.text()
        series = (await resp.json())["series"]
    assert series and all(point["value"] == 0 for point in series)


async def _chunks_past_the_body_limit() -> AsyncIterator[bytes]:
    """A chunked body (no Content-Length, so the limit is found while reading) of 5 MiB, past the
    default 4 MiB."""
    for _ in range(5):
        yield b" " * 2**20


async def _bearer(session: aiohttp.ClientSession, node: Server, admin: Credentials) -> dict[str, str]:
    login = {"username": admin.username, "password": admin.secret}
    async with session.post(f"{node.url}/identity/token", json=login) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['data']['token']}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/identity/token"),
        ("POST", "/identityv2/data/batchCreate"),
        ("PUT", "/identityv2/data"),
        ("DELETE", "/snms/api/v5/template"),
    ],
)
async def test_an_snms_body_growing_past_the_limit_is_too_large(
    node: Server, session: aiohttp.ClientSession, method: str, path: str
) -> None:
    """Found while documenting the SNMS API's 413 (the fuzzer sends no chunked bodies): the SNMS
    handlers took aiohttp's too-large error for an internal one (500, status -4)."""
    _, admin = await onboard(session, node)
    headers = {**await _bearer(session, node, admin), "Content-Type": "application/json"}
    url = f"{node.url}{path}"
    async with session.request(method, url, data=_chunks_past_the_body_limit(), headers=headers) as resp:
        assert resp.status == 413, await resp.text()
        assert (await resp.json())["responseCode"] == 4
