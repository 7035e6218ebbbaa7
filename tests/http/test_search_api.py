"""Reverse lookup over HTTP against a running node: /api/search, and /hrls/handles as pyhandle's
``search_handle`` uses it."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import orjson
from pyhandle.handleclient import PyHandleClient

from tests.conftest import Server
from tests.http.helpers import Credentials, get_json, onboard, put_values


async def _register(session: aiohttp.ClientSession, node: Server, n: int) -> tuple[str, Credentials, str]:
    """An enterprise with ``n`` records sharing a fresh URL beginning; (prefix, credentials, beginning)."""
    prefix, auth = await onboard(session, node)
    start = f"https://scan.example.com/{uuid.uuid4().hex}/"
    for i in range(n):
        values = [
            {"index": 1, "type": "URL", "data": f"{start}{i}"},
            {
                "index": 2,
                "type": "EMAIL",
                "data": {"format": "string", "value": "qa@example.com"},
                "permissions": "1100",
            },
        ]
        status, body = await put_values(session, node, f"{prefix}/ITEM-{i}", values, auth)
        assert status in (200, 201), body
    return prefix, auth, start


async def test_search_finds_pages_and_scopes(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth, start = await _register(session, node, 3)
    status, body = await get_json(
        session, f"{node.url}/api/search", params={"type": "URL", "value": f"{start}1"}
    )
    assert status == 200 and body["handles"] == [f"{prefix}/ITEM-1"] and body["totalCount"] == "1"

    params = {"type": "URL", "value": start + "*", "pageSize": "2", "page": "1"}
    status, body = await get_json(session, f"{node.url}/api/search", params=params)
    assert (body["totalCount"], body["page"], body["pageSize"]) == ("3", 1, 2)
    assert body["handles"] == [f"{prefix}/ITEM-2"]

    hidden = {"type": "EMAIL", "value": "qa@example.com", "prefix": prefix}
    _, anonymous = await get_json(session, f"{node.url}/api/search", params=hidden)
    _, owner = await get_json(session, f"{node.url}/api/search", params=hidden, headers=auth)
    assert anonymous["handles"] == [] and len(owner["handles"]) == 3


async def test_bad_searches_are_json_errors(node: Server, session: aiohttp.ClientSession) -> None:
    for params in (
        {"value": "x"},
        {"type": "URL", "field": "serial", "value": "x"},
        {"type": "URL", "value": "*a*"},
    ):
        status, body = await get_json(session, f"{node.url}/api/search", params=params)
        assert status == 400 and body["responseCode"] == 4 and body["message"], body
    status, body = await get_json(session, f"{node.url}/hrls/handles", params={"URL": "a*b"})
    assert status == 400 and body["responseCode"] == 4


def test_pyhandle_search_handle(node: Server) -> None:
    async def setup() -> tuple[str, Credentials, str]:
        async with aiohttp.ClientSession() as session:
            return await _register(session, node, 2)

    prefix, auth, start = asyncio.run(setup())
    client = PyHandleClient("rest").instantiate_for_read_and_search(
        node.url, auth.username, auth.secret, HTTPS_verify=False
    )
    assert client.search_handle(URL=f"{start}0") == [f"{prefix}/ITEM-0"]
    assert sorted(client.search_handle(URL=f"{start}*")) == [f"{prefix}/ITEM-0", f"{prefix}/ITEM-1"]
    assert client.search_handle(URL=f"{start}*", prefix="88.999.0") == []


async def test_search_by_a_searchable_template_field(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    status, body = await get_json(session, f"{node.url}/api/templates/solar-module")
    assert status == 200
    template = body["template"]
    serial = f"CS7N{uuid.uuid4().hex[:12].upper()}"
    metadata = {**template["document"]["examples"][0], "serialNumber": serial}
    values = [
        {"index": 1, "type": "URL", "data": "https://csisolar.example/m"},
        {"index": 2, "type": "TEMPLATE", "data": template["ref"]},
        {"index": 3, "type": "METADATA", "data": orjson.dumps(metadata).decode()},
    ]
    status, body = await put_values(session, node, f"{prefix}/{serial}", values, auth)
    assert status in (200, 201), body

    status, body = await get_json(
        session, f"{node.url}/api/search", params={"field": "serialNumber", "value": serial}
    )
    assert (status, body["handles"]) == (200, [f"{prefix}/{serial}"])
    _, body = await get_json(session, f"{node.url}/api/search", params={"field": "cellCount", "value": "132"})
    assert body["handles"] == []  # not a searchable field
