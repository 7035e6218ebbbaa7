"""Requests aiohttp rejects before the app sees them are answered in the node's JSON error form."""

from __future__ import annotations

import aiohttp

from tests.conftest import Server
from tests.http.helpers import operator


async def _rejected(session: aiohttp.ClientSession, url: str, **kwargs: object) -> None:
    async with session.get(url, **kwargs) as resp:  # type: ignore[arg-type]
        assert resp.status == 400
        assert resp.content_type == "application/json"
        body = await resp.json()
        assert body["responseCode"] == 4
        assert 0 < len(body["message"]) <= 200


async def test_over_long_request_line_is_a_json_error(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    # Authorization keeps the request off the resolution fast path: aiohttp's parser refuses it.
    url = f"{sqlite_server.url}/api/handles/88.999.1001/x?pretty={'a' * 9000}"
    await _rejected(session, url, headers=operator(sqlite_server))


async def test_over_long_header_is_a_json_error_and_the_node_goes_on(
    sqlite_server: Server, session: aiohttp.ClientSession
) -> None:
    await _rejected(session, f"{sqlite_server.url}/api/node", headers={"X-Long": "b" * 9000})
    async with session.get(f"{sqlite_server.url}/api/node") as resp:
        assert resp.status == 200
