"""The Handle.Net 9 JSON REST contract, end to end against a running node (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp

from tests.conftest import Server
from tests.http.helpers import basic, get_json, onboard, operator, put_values

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/pump/123"}}
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def signature_of(values: list[dict[str, Any]]) -> dict[str, Any]:
    """The record's only signature: an HS_SIGNATURE at index 400 holding a compact JWS."""
    signatures = [v for v in values if v["index"] == 400 or v["type"] == "HS_SIGNATURE"]
    assert len(signatures) == 1, signatures
    signature = signatures[0]
    assert (signature["index"], signature["type"]) == (400, "HS_SIGNATURE")
    assert signature["data"]["format"] == "string"
    assert COMPACT_JWS.fullmatch(signature["data"]["value"])
    return signature


async def test_absent_handle_is_404_with_response_code_100(
    node: Server, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{node.url}/api/handles/88.999.1001/NOPE-1") as resp:
        status, body = resp.status, await resp.json()
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert status == 404
    assert body["responseCode"] == 100
    assert body["handle"] == "88.999.1001/NOPE-1"
    assert "not found" in body["message"]


async def test_create_resolve_replace(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/PUMP-2026-000123"
    status, body = await put_values(session, node, handle, [URL_VALUE], auth, overwrite="false")
    assert (status, body) == (201, {"responseCode": 1, "handle": handle})

    status, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert status == 200 and body["responseCode"] == 1 and body["handle"] == handle
    url, admin, signature = body["values"]
    assert url["index"] == 1 and url["type"] == "URL" and url["ttl"] == 86400
    assert url["data"] == {"format": "string", "value": "https://example.com/pump/123"}
    assert ISO_Z.fullmatch(url["timestamp"])
    # A record created without HS_ADMIN gets one at index 100 naming the enterprise admin.
    assert admin["index"] == 100 and admin["type"] == "HS_ADMIN"
    assert admin["data"] == {
        "format": "admin",
        "value": {"handle": f"{prefix}/ADMIN", "index": 300, "permissions": "011111110011"},
    }
    # Every stored record carries the node's signature at index 400.
    assert signature_of(body["values"]) == signature

    status, body = await put_values(session, node, handle, [URL_VALUE], auth, overwrite="false")
    assert (status, body["responseCode"]) == (409, 101)

    replacement = [{"index": 2, "type": "EMAIL", "data": "ops@example.com"}]
    status, body = await put_values(session, node, handle, replacement, auth)
    assert (status, body["responseCode"]) == (200, 1)
    _, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert [(v["index"], v["type"]) for v in body["values"]] == [
        (2, "EMAIL"),
        (100, "HS_ADMIN"),
        (400, "HS_SIGNATURE"),
    ]
    signature_of(body["values"])


async def test_body_shapes_and_data_shorthand(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    shapes = {
        "array": [{"index": 1, "type": "URL", "data": "https://a.example"}],
        "values-object": {"values": [{"index": 1, "type": "URL", "data": "https://a.example"}]},
        "single-value": {"index": 1, "type": "URL", "data": "https://a.example"},
    }
    for name, body in shapes.items():
        status, reply = await put_values(session, node, f"{prefix}/{name}", body, auth)
        assert status == 200 and reply["responseCode"] == 1, (name, reply)
        _, record = await get_json(session, f"{node.url}/api/handles/{prefix}/{name}")
        assert record["values"][0]["data"] == {"format": "string", "value": "https://a.example"}, name


async def test_every_data_format_round_trips(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    values = [
        {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://x.example"}},
        {"index": 2, "type": "BLOB", "data": {"format": "base64", "value": "aGVsbG8="}},
        {"index": 3, "type": "RAW", "data": {"format": "hex", "value": "cafe01"}},
        {
            "index": 4,
            "type": "HS_VLIST",
            "data": {"format": "vlist", "value": [{"handle": f"{prefix}/ADMIN", "index": 300}]},
        },
        {"index": 5, "type": "HS_SITE", "data": {"format": "site", "value": {"version": 1, "servers": []}}},
        {
            "index": 6,
            "type": "HS_PUBKEY",
            "data": {"format": "key", "value": {"kty": "OKP", "crv": "Ed25519", "x": "AA"}},
        },
        {
            "index": 101,
            "type": "HS_ADMIN",
            "data": {
                "format": "admin",
                "value": {"handle": f"{prefix}/ADMIN", "index": "300", "permissions": "011111110011"},
            },
        },
    ]
    status, body = await put_values(session, node, f"{prefix}/formats", values, auth)
    assert status == 200, body
    _, record = await get_json(session, f"{node.url}/api/handles/{prefix}/formats")
    got = {v["index"]: v["data"] for v in record["values"]}
    for sent in values:
        expected = dict(sent["data"])
        if sent["type"] == "HS_ADMIN":  # the index arrives as a string and is stored as a number
            expected["value"] = {**expected["value"], "index": 300}
        assert got[sent["index"]] == expected
    assert 100 not in got  # the record named its own HS_ADMIN, so none was added


async def test_index_and_type_filters(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    values = [
        URL_VALUE,
        {"index": 2, "type": "URL.mirror", "data": "https://m.example"},
        {"index": 3, "type": "EMAIL", "data": "a@example.com"},
    ]
    await put_values(session, node, f"{prefix}/F", values, auth)
    base = f"{node.url}/api/handles/{prefix}/F"

    async def indexes(query: str) -> tuple[int, list[int]]:
        status, body = await get_json(session, f"{base}?{query}")
        assert status == 200  # a resolve answers 200 even when no value matches (responseCode 200)
        return body["responseCode"], [v["index"] for v in body["values"]]

    assert await indexes("index=1&index=3") == (1, [1, 3])
    assert await indexes("type=url") == (1, [1, 2])  # types match case-insensitively, with subtypes
    assert await indexes("type=URL.") == (1, [2])  # 'X.' matches only subtypes
    assert await indexes("type=EMAIL&index=1") == (1, [1, 3])
    assert await indexes("index=42") == (200, [])  # values not found: still HTTP 200 on resolve
    async with session.get(f"{base}?pretty=true") as resp:
        assert "\n  " in await resp.text()


async def test_index_scoped_writes_and_deletes(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/SCOPED"
    await put_values(session, node, handle, [URL_VALUE], auth)
    added = [{"index": 2, "type": "EMAIL", "data": "x@example.com"}]
    status, _ = await put_values(session, node, handle, added, auth, index="2")
    assert status == 200
    status, body = await put_values(session, node, handle, added, auth, index="2", overwrite="false")
    assert (status, body["responseCode"]) == (409, 201)
    status, body = await put_values(session, node, handle, added, auth, index="3")
    assert (status, body["responseCode"]) == (400, 202)  # the body's index is not among the parameters
    status, body = await put_values(session, node, f"{prefix}/MISSING", added, auth, index="2")
    assert (status, body["responseCode"]) == (404, 100)

    async with session.delete(
        f"{node.url}/api/handles/{handle}", params={"index": "99"}, headers=auth
    ) as resp:
        assert (resp.status, (await resp.json())["responseCode"]) == (400, 200)
    async with session.delete(
        f"{node.url}/api/handles/{handle}", params={"index": "2"}, headers=auth
    ) as resp:
        assert resp.status == 200
    _, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert [v["index"] for v in body["values"]] == [1, 100, 400]
    signature_of(body["values"])
    async with session.delete(f"{node.url}/api/handles/{handle}", headers=auth) as resp:
        assert (resp.status, await resp.json()) == (200, {"responseCode": 1, "handle": handle})
    status, _ = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert status == 404


async def test_mint_new_suffix(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    status, body = await put_values(
        session, node, f"{prefix}/BATCH-", [URL_VALUE], auth, mintNewSuffix="true"
    )
    assert status == 201 and body["handle"].startswith(f"{prefix}/BATCH-")
    assert len(body["handle"]) > len(f"{prefix}/BATCH-") + 30
    status, record = await get_json(session, f"{node.url}/api/handles/{body['handle']}")
    assert status == 200 and record["values"][0]["type"] == "URL"


async def test_prefix_is_case_insensitive_suffix_is_not(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    await put_values(session, node, f"{prefix}/CaseSensitive", [URL_VALUE], auth)
    status, body = await get_json(session, f"{node.url}/api/handles/0.na/{prefix}")
    assert status == 200 and body["handle"] == f"0.na/{prefix}"  # echoed as asked, like Handle.Net
    assert (await get_json(session, f"{node.url}/api/handles/{prefix}/CaseSensitive"))[0] == 200
    assert (await get_json(session, f"{node.url}/api/handles/{prefix}/casesensitive"))[0] == 404
    status, body = await get_json(session, f"{node.url}/api/handles/hdl:{prefix}/CaseSensitive")
    assert status == 200


async def test_suffix_with_slashes_and_unicode(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    for suffix in ("LINE/3/STATION 7", "泵-2026-批次%2F01"):
        status, body = await put_values(session, node, f"{prefix}/{suffix}", [URL_VALUE], auth)
        assert status == 200, body
        status, record = await get_json(session, f"{node.url}/api/handles/{prefix}/{suffix}")
        assert status == 200 and record["values"][0]["type"] == "URL"


async def test_secrets_never_returned_and_private_values_need_credentials(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    for credentials in (None, auth, operator(node)):
        _, body = await get_json(session, f"{node.url}/api/handles/{prefix}/ADMIN", headers=credentials)
        assert all(v["type"] != "HS_SECKEY" for v in body["values"])
        assert "scrypt" not in str(body)
    values = [URL_VALUE, {"index": 2, "type": "INTERNAL", "data": "cost=12", "permissions": "1100"}]
    await put_values(session, node, f"{prefix}/PRIV", values, auth)
    url = f"{node.url}/api/handles/{prefix}/PRIV"
    _, anonymous = await get_json(session, url)
    _, owner = await get_json(session, url, headers=auth)
    _, public_only = await get_json(session, f"{url}?publicOnly=true", headers=auth)
    assert [v["index"] for v in anonymous["values"]] == [1, 100, 400]
    assert [v["index"] for v in owner["values"]] == [1, 2, 100, 400]
    assert owner["values"][1]["permissions"] == "1100"
    assert [v["index"] for v in public_only["values"]] == [1, 100, 400]
    for body in (anonymous, owner, public_only):
        signature_of(body["values"])


async def test_list_handles_by_prefix(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    _, stranger = await onboard(session, node)
    for n in range(5):
        await put_values(session, node, f"{prefix}/ITEM-{n}", [URL_VALUE], auth)
    url = f"{node.url}/api/handles"

    async with session.get(url, params={"prefix": prefix}) as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="handle"'
        assert (await resp.json())["responseCode"] == 402
    status, body = await get_json(
        session, url, params={"prefix": prefix, "page": "1", "pageSize": "2"}, headers=auth
    )
    assert status == 200 and body["responseCode"] == 1 and body["prefix"] == prefix
    assert body["totalCount"] == "6"  # five items and the ADMIN handle
    assert body["handles"] == [f"{prefix}/ITEM-1", f"{prefix}/ITEM-2"]
    status, body = await get_json(session, url, params={"prefix": prefix, "pageSize": "0"}, headers=auth)
    assert (status, body["totalCount"], body["handles"]) == (200, "6", [])
    status, body = await get_json(session, url, params={"prefix": prefix}, headers=operator(node))
    assert status == 200 and len(body["handles"]) == 6
    status, body = await get_json(session, url, params={"prefix": prefix}, headers=stranger)
    assert (status, body["responseCode"]) == (403, 401)


async def _snapshot(session: aiohttp.ClientSession, node: Server, handle: str) -> Any:
    async with session.get(f"{node.url}/api/handles/{handle}", headers=operator(node)) as resp:
        return resp.status, await resp.json()


async def test_bad_input_gets_a_json_error_and_changes_nothing(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    other_prefix, other_auth = await onboard(session, node)
    suspended_prefix, suspended_auth = await onboard(session, node)
    await put_values(session, node, f"{suspended_prefix}/S", [URL_VALUE], suspended_auth)
    async with session.patch(
        f"{node.url}/api/enterprises/{suspended_prefix}", json={"status": "suspended"}, headers=operator(node)
    ) as resp:
        assert resp.status == 200
    existing = f"{prefix}/EXISTING"
    await put_values(session, node, existing, [URL_VALUE], auth)
    wrong_secret = basic(f"300:{prefix}/ADMIN", "not-the-secret")
    node_record = node.operator[0].split(":", 1)[1]  # 0.NA/<node prefix>, holding the signing keys
    forged = {"index": 400, "type": "HS_SIGNATURE", "data": "eyJhbGciOiJFZERTQSJ9.e30.AAAA"}
    json_header = {"Content-Type": "application/json"}

    cases: list[tuple[str, str, dict[str, Any], int, int]] = [
        # (name, handle, request kwargs, expected HTTP status, expected responseCode)
        ("malformed JSON", existing, {"data": b"[{", "headers": {**json_header, **auth}}, 400, 4),
        (
            "wrong content type",
            existing,
            {"data": b"[]", "headers": {"Content-Type": "text/plain", **auth}},
            400,
            4,
        ),
        ("not a list", existing, {"json": "hello", "headers": auth}, 400, 4),
        (
            "unknown format",
            existing,
            {
                "json": [{"index": 1, "type": "URL", "data": {"format": "xml", "value": "<a/>"}}],
                "headers": auth,
            },
            400,
            202,
        ),
        ("duplicate indexes", existing, {"json": [URL_VALUE, URL_VALUE], "headers": auth}, 400, 202),
        ("index zero", existing, {"json": [{**URL_VALUE, "index": 0}], "headers": auth}, 400, 202),
        ("index too large", existing, {"json": [{**URL_VALUE, "index": 2**31}], "headers": auth}, 400, 202),
        ("negative ttl", existing, {"json": [{**URL_VALUE, "ttl": -1}], "headers": auth}, 400, 202),
        (
            "bad admin value",
            existing,
            {
                "json": [
                    {"index": 100, "type": "HS_ADMIN", "data": {"format": "admin", "value": {"handle": "x"}}}
                ],
                "headers": auth,
            },
            400,
            202,
        ),
        (
            "value at the signature index",
            existing,
            {"json": [{**URL_VALUE, "index": 400}], "headers": auth},
            400,
            202,
        ),
        ("forged signature", existing, {"json": [URL_VALUE, forged], "headers": auth}, 400, 202),
        ("HS_SIGNATURE elsewhere", existing, {"json": [{**forged, "index": 7}], "headers": auth}, 400, 202),
        (
            "signature index scoped",
            existing,
            {"json": [forged], "headers": operator(node), "params": {"index": "400"}},
            400,
            202,
        ),
        (
            "node record by the operator",
            node_record,
            {"json": [URL_VALUE], "headers": operator(node)},
            403,
            401,
        ),
        ("someone else's prefix", f"{other_prefix}/X", {"json": [URL_VALUE], "headers": auth}, 403, 401),
        ("someone else's record", existing, {"json": [URL_VALUE], "headers": other_auth}, 403, 401),
        ("prefix handle", f"0.NA/{prefix}", {"json": [URL_VALUE], "headers": auth}, 403, 401),
        ("foreign prefix", "99.999.1/X", {"json": [URL_VALUE], "headers": operator(node)}, 400, 301),
        ("no credentials", existing, {"json": [URL_VALUE]}, 401, 402),
        ("wrong secret", existing, {"json": [URL_VALUE], "headers": wrong_secret}, 401, 402),
        (
            "suspended enterprise",
            f"{suspended_prefix}/S",
            {"json": [URL_VALUE], "headers": suspended_auth},
            403,
            401,
        ),
        ("control character", f"{prefix}/BAD%01X", {"json": [URL_VALUE], "headers": auth}, 400, 102),
        ("over-long suffix", f"{prefix}/{'X' * 256}", {"json": [URL_VALUE], "headers": auth}, 400, 102),
        (
            "bad index parameter",
            existing,
            {"json": [URL_VALUE], "headers": auth, "params": {"index": "one"}},
            400,
            4,
        ),
    ]
    for name, handle, kwargs, status, code in cases:
        before = await _snapshot(session, node, handle)
        async with session.put(f"{node.url}/api/handles/{handle}", **kwargs) as resp:
            assert resp.content_type == "application/json", name
            body = await resp.json()
            assert (resp.status, body["responseCode"]) == (status, code), (name, body)
            assert body["message"], name
            if status == 401:
                assert resp.headers["WWW-Authenticate"] == 'Basic realm="handle"'
        assert await _snapshot(session, node, handle) == before, name

    for name, kwargs, status, code in [
        ("delete without credentials", {}, 401, 402),
        ("delete by another enterprise", {"headers": other_auth}, 403, 401),
        ("delete own admin handle", {"headers": auth, "handle": f"{prefix}/ADMIN"}, 403, 401),
        ("delete the signature", {"headers": auth, "params": {"index": "400"}}, 400, 202),
        (
            "delete the signature as operator",
            {"headers": operator(node), "params": {"index": "400"}},
            400,
            202,
        ),
        ("delete the node record", {"headers": operator(node), "handle": node_record}, 403, 401),
        (
            "delete a node key",
            {"headers": operator(node), "handle": node_record, "params": {"index": "301"}},
            403,
            401,
        ),
    ]:
        handle = kwargs.pop("handle", existing)
        before = await _snapshot(session, node, handle)
        async with session.delete(f"{node.url}/api/handles/{handle}", **kwargs) as resp:
            assert (resp.status, (await resp.json())["responseCode"]) == (status, code), name
        assert await _snapshot(session, node, handle) == before, name


async def test_credentials_forms(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/AUTHFORMS"
    # The username's colon sent plain: "300:<prefix>/ADMIN:<secret>".
    raw = base64.b64encode(f"300:{prefix}/ADMIN:{auth.secret}".encode()).decode()
    async with session.put(
        f"{node.url}/api/handles/{handle}", json=[URL_VALUE], headers={"Authorization": f"Basic {raw}"}
    ) as resp:
        assert resp.status == 200, await resp.text()
    for header in ("Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"nobody:x").decode()):
        async with session.put(
            f"{node.url}/api/handles/{handle}", json=[URL_VALUE], headers={"Authorization": header}
        ) as resp:
            assert (resp.status, (await resp.json())["responseCode"]) == (401, 402), header


async def test_unknown_routes_and_methods_answer_json(node: Server, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{node.url}/no/such/thing")
    assert (status, body["responseCode"]) == (404, 100)
    async with session.post(f"{node.url}/api/handles/88.999.1001/X", json=[]) as resp:
        assert resp.status == 405 and (await resp.json())["responseCode"] == 4
