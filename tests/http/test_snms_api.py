"""The SNMS business API against a running node (SQLite and PostgreSQL): login, the identifier
operations with the documented request examples (adapted to this node's prefixes), batches, tokens,
tenant isolation, and the same identifiers seen through the Handle REST API."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from idnode.model.data_template import catalog_name, parse_request
from tests.conftest import Server, start_server, stop_server
from tests.http.helpers import Credentials, get_json, onboard, operator, put_values

Body = dict[str, Any]


async def snms(
    session: aiohttp.ClientSession,
    node: Server,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    **params: str,
) -> tuple[int, Body]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(
        method, f"{node.url}{path}", json=body, headers=headers, params=params
    ) as resp:
        assert resp.content_type == "application/json"
        answer = await resp.json()
        assert set(answer) == {"status", "message", "data"}, answer
        if resp.status == 401:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        return resp.status, answer


async def login(session: aiohttp.ClientSession, node: Server, username: str, password: str) -> str:
    status, answer = await snms(
        session, node, "POST", "/identity/token", body={"username": username, "password": password}
    )
    assert (status, answer["status"], answer["message"]) == (200, 1, "success"), answer
    return answer["data"]["token"]


async def data_template(
    session: aiohttp.ClientSession,
    node: Server,
    prefix: str,
    version: str,
    *items: tuple[int, str, bool, int],
) -> str:
    """Store the SNMS data template ``version`` of ``prefix`` with items (index, idType, required, max
    length), as the operator; return the catalog reference records name it by."""
    body = {
        "prefix": prefix,
        "version": version,
        "industryCategory": "C",
        "industrySpecific": "34",
        "industryTrade": "344",
        "industrySubclass": "3441",
        "type": 1,
        "items": [
            {
                "name": f"属性{index}",
                "idType": id_type,
                "idIndex": index,
                "required": required,
                "metadata": {"type": "string", "minLength": 1, "maxLength": longest},
            }
            for index, id_type, required, longest in items
        ],
    }
    document = parse_request(body).document()
    async with session.post(f"{node.url}/api/templates", json=document, headers=operator(node)) as resp:
        assert resp.status == 201, await resp.text()
    return f"{catalog_name(prefix, version)}@1"


async def enterprise(session: aiohttp.ClientSession, node: Server) -> tuple[str, Credentials, str]:
    """A new enterprise with data template 1.0 (2000 name, required, and 2001 model): its prefix, its
    Handle Basic credentials and an SNMS token."""
    prefix, auth = await onboard(session, node)
    await data_template(session, node, prefix, "1.0", (2000, "name", True, 20), (2001, "model", False, 10))
    return prefix, auth, await login(session, node, prefix, auth.secret)


def item(handle: str, *values: tuple[int, str, str], version: str = "1.0") -> Body:
    """A register/update request object as the SNMS examples write it."""
    return {
        "handle": handle,
        "templateVersion": version,
        "value": [
            {"data": {"format": "string", "value": value}, "auth": "", "index": index, "type": kind}
            for index, kind, value in values
        ],
    }


def ok(status: int, answer: Body, data: Any = True) -> None:
    assert (status, answer["status"], answer["message"], answer["data"]) == (200, 1, "success", data)


def refused(status: int, answer: Body, http: int, code: int, message: str) -> None:
    assert (status, answer["status"], answer["message"], answer["data"]) == (http, code, message, None)


async def handle_values(session: aiohttp.ClientSession, node: Server, handle: str) -> dict[int, Any] | None:
    status, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    return {v["index"]: (v["type"], v["data"]["value"]) for v in body["values"]} if status == 200 else None


@pytest.fixture
def tuned_node(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A node whose tokens last one second and which allows the day-salted login."""
    monkeypatch.setenv("IDNODE_SNMS_TOKEN_SECONDS", "1")
    monkeypatch.setenv("IDNODE_SNMS_DAY_SALTED_LOGIN", "true")
    running = start_server(tmp_path / "node", db_url)
    try:
        yield running
    finally:
        stop_server(running)


# -- login ---------------------------------------------------------------------------------------


async def test_login_accepts_the_prefix_or_the_handle_username_and_refuses_a_wrong_secret(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, _ = await enterprise(session, node)
    for username in (prefix, f"{prefix}/ADMIN", f"300:{prefix}/ADMIN", f"300%3A{prefix}/ADMIN"):
        token = await login(session, node, username, auth.secret)
        assert token.count(".") == 2  # a JWT
    body = {"username": prefix, "password": auth.secret + "x"}
    status, answer = await snms(session, node, "POST", "/identity/token", body=body)
    refused(status, answer, 401, -2, "用户名/密码错误！")
    status, answer = await snms(session, node, "POST", "/identity/token", body={"username": prefix})
    refused(status, answer, 400, -2, "缺少必要的请求参数: password")


async def test_the_day_salted_login_works_after_a_plaintext_login_until_the_secret_changes(
    tuned_node: Server, session: aiohttp.ClientSession
) -> None:
    node = tuned_node
    prefix, auth = await onboard(session, node)

    def salted(secret: str, day: str) -> str:
        inner = hashlib.sha256(secret.encode()).hexdigest()
        return hashlib.sha256((inner + day).encode()).hexdigest()

    today = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d")
    body = {"username": prefix, "password": salted(auth.secret, today)}
    status, answer = await snms(session, node, "POST", "/identity/token/v1", body=body)
    refused(status, answer, 401, -2, "用户名/密码错误！")  # no plaintext login yet: nothing to check against
    await login(session, node, prefix, auth.secret)
    status, answer = await snms(session, node, "POST", "/identity/token/v1", body=body)
    assert status == 200 and answer["status"] == 1 and answer["data"]["token"]
    stale = {"username": prefix, "password": salted(auth.secret, "2019-08-15")}
    status, answer = await snms(session, node, "POST", "/identity/token/v1", body=stale)
    refused(status, answer, 401, -2, "用户名/密码错误！")
    url = f"{node.url}/api/enterprises/{prefix}/secret"
    async with session.post(url, headers=operator(node)) as resp:
        assert resp.status == 200, await resp.text()
    status, answer = await snms(session, node, "POST", "/identity/token/v1", body=body)
    refused(status, answer, 401, -2, "用户名/密码错误！")


async def test_the_day_salted_login_is_off_unless_the_operator_turns_it_on(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, _ = await enterprise(session, node)
    digest = hashlib.sha256(auth.secret.encode()).hexdigest()
    body = {"username": prefix, "password": hashlib.sha256((digest + "2026-11-24").encode()).hexdigest()}
    status, answer = await snms(session, node, "POST", "/identity/token/v1", body=body)
    refused(status, answer, 400, -2, "本节点未开启密文登录，请使用 /identity/token")


# -- single identifiers --------------------------------------------------------------------------


async def test_register_query_update_delete_as_documented(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    ref = f"{catalog_name(prefix, '1.0')}@1"
    handle = f"{prefix}/xx002"
    created = item(handle, (2000, "name", "小型机械01"))
    status, answer = await snms(session, node, "POST", "/identityv2/data", token, created)
    assert status == 200
    ok(status, answer)
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=handle)
    assert status == 200
    ok(
        status,
        answer,
        {
            "prefix": prefix,
            "handle": handle,
            "templateVersion": "1.0",
            "value": [
                {
                    "index": 1000,
                    "type": "TEMPLATE_ID",
                    "data": {"format": "string", "value": ref},
                    "auth": "1110",
                },
                {
                    "index": 1001,
                    "type": "TEMPLATE",
                    "data": {"format": "string", "value": "1.0"},
                    "auth": "1110",
                },
                {
                    "index": 2000,
                    "type": "name",
                    "data": {"format": "string", "value": "小型机械01"},
                    "auth": "1110",
                },
            ],
        },
    )
    # A retry after a timeout (504) finds it registered: "already exists" means the first one worked.
    status, answer = await snms(session, node, "POST", "/identityv2/data", token, created)
    refused(status, answer, 409, -2, "标识已存在")

    newer = await data_template(
        session, node, prefix, "1.1", (2000, "name", True, 20), (2001, "model", True, 9)
    )
    changed = item(handle, (2000, "name", "小型机械02"), (2001, "model", "XJ-2"), version="1.1")
    status, answer = await snms(session, node, "PUT", "/identityv2/data", token, changed)
    assert status == 200
    ok(status, answer)
    stored = await handle_values(session, node, handle)
    assert stored is not None
    assert (stored[1000], stored[1001], stored[2000], stored[2001]) == (
        ("TEMPLATE", newer),
        ("SNMS_TEMPLATE", "1.1"),
        ("name", "小型机械02"),
        ("model", "XJ-2"),
    )
    assert stored[100][0] == "HS_ADMIN" and stored[400][0] == "HS_SIGNATURE"  # kept and re-signed

    status, answer = await snms(session, node, "DELETE", "/identityv2/data", token, {"handle": handle})
    assert status == 200
    ok(status, answer)
    assert await handle_values(session, node, handle) is None
    status, answer = await snms(session, node, "DELETE", "/identityv2/data", token, {"handle": handle})
    refused(status, answer, 404, -2, "没有找到标识")
    status, answer = await snms(session, node, "PUT", "/identityv2/data", token, changed)
    refused(status, answer, 404, -2, "没有找到标识")
    assert await handle_values(session, node, handle) is None  # an update never creates
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=handle)
    refused(status, answer, 404, -2, "没有找到标识")
    assert auth  # the enterprise's Basic credentials are untouched by all of this


async def test_bad_requests_are_refused_with_the_documented_messages(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, _, token = await enterprise(session, node)
    handle = f"{prefix}/bad"
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token)
    refused(status, answer, 400, -2, "缺少必要的请求参数: handle")
    cases = [
        (item(handle, (2000, "name", "x"), (1000, "TEMPLATE_ID", "x")), "非法操作，索引1000在模板中不存在"),
        (item(handle, (2000, "name", "x"), (1001, "TEMPLATE", "2.0")), "非法操作，索引1001在模板中不存在"),
        (
            item(handle, (2000, "model", "x")),
            "非法操作，索引2000的类型应为name，格式应为string；缺少必填的模板属性属性2000（索引2000，类型name）",
        ),
        (item(handle, (2000, "name", "x" * 21)), "模板属性属性2000（索引2000，类型name）的长度不能大于20"),
        (item(handle, (2001, "model", "x")), "缺少必填的模板属性属性2000（索引2000，类型name）"),
        (item(handle, (2000, "name", "x"), version="9.9"), f"数据模板不存在：前缀{prefix}没有模板版本9.9"),
        ({**item(handle, (2000, "name", "x")), "templateVersion": ""}, "缺少必要的请求参数: templateVersion"),
        ({"handle": handle, "templateVersion": "1.0", "value": []}, "缺少必要的请求参数: value"),
        (item(handle, (2000, "name", "x" * 256)), "标识属性内容值长度不能超过255"),
        (item(handle, (2000, "name", "a"), (2000, "name", "b")), "非法操作，索引2000重复"),
    ]
    for body, message in cases:
        status, answer = await snms(session, node, "POST", "/identityv2/data", token, body)
        assert (answer["status"], answer["message"], answer["data"]) == (-2, message, None)
        assert status == (404 if message.startswith("数据模板不存在") else 400)
    binary = item(handle, (2000, "name", "x"))
    binary["value"][0]["data"]["format"] = "base64"
    status, answer = await snms(session, node, "POST", "/identityv2/data", token, binary)
    refused(status, answer, 400, -2, "标识属性内容格式暂时只支持string")
    status, answer = await snms(
        session, node, "POST", "/identityv2/data", token, item("no-slash", (2000, "name", "x"))
    )
    assert (status, answer["status"]) == (400, -2) and answer["message"].startswith("标识格式错误：")
    assert await handle_values(session, node, handle) is None


# -- both APIs on the same records ---------------------------------------------------------------


async def test_identifiers_cross_between_the_snms_and_handle_apis(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    via_handle = f"{prefix}/from-handle"
    status, _ = await put_values(
        session, node, via_handle, [{"index": 1, "type": "URL", "data": "https://example.com/1"}], auth
    )
    assert status == 200
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=via_handle)
    assert status == 200 and answer["data"]["templateVersion"] == ""
    assert answer["data"]["value"] == [
        {
            "index": 1,
            "type": "URL",
            "data": {"format": "string", "value": "https://example.com/1"},
            "auth": "1110",
        }
    ]

    via_snms = f"{prefix}/from-snms"
    await snms(session, node, "POST", "/identityv2/data", token, item(via_snms, (2000, "name", "泵")))
    assert (await handle_values(session, node, via_snms) or {})[2000] == ("name", "泵")  # cached now
    await snms(session, node, "PUT", "/identityv2/data", token, item(via_snms, (2000, "name", "阀")))
    assert (await handle_values(session, node, via_snms) or {})[2000] == ("name", "阀")  # cache dropped
    status, _ = await put_values(
        session, node, via_snms, [{"index": 2000, "type": "name", "data": "管"}], auth, index="2000"
    )
    assert status == 200
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=via_snms)
    assert [v["data"]["value"] for v in answer["data"]["value"]][1:] == ["1.0", "管"]
    # The template binds the record whichever API writes it.
    status, body = await put_values(
        session, node, via_snms, [{"index": 2000, "type": "name", "data": "x" * 21}], auth, index="2000"
    )
    assert (status, body["responseCode"]) == (400, 202)
    await snms(session, node, "DELETE", "/identityv2/data", token, {"handle": via_snms})
    async with session.get(f"{node.url}/api/handles/{via_snms}") as resp:
        assert resp.status == 404


# -- batches -------------------------------------------------------------------------------------


async def test_batch_create_answers_per_item_and_a_retried_batch_registers_nothing_twice(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    await data_template(session, node, prefix, "1.0.0", (2000, "URL", True, 64), (2001, "URL2", False, 64))
    first, second = f"{prefix}/001", f"{prefix}/002"
    batch = [
        item(first, (2000, "URL", "www.001.com"), (2001, "URL2", "www.002.com"), version="1.0.0"),
        item(second, (2000, "URL", "www.003.com"), (2001, "URL2", "www.004.com"), version="1.0.0"),
        item(first, (2000, "URL", "www.005.com"), version="1.0.0"),
        item(f"{prefix}/003", (2000, "URL", "www.006.com"), (1001, "TEMPLATE", "x"), version="1.0.0"),
        {"handle": f"{prefix}/004"},
        "not an object",
    ]
    status, answer = await snms(session, node, "POST", "/identityv2/data/batchCreate", token, batch)
    assert status == 200
    ok(
        status,
        answer,
        [
            {"handle": first, "code": 1, "msg": "success"},
            {"handle": second, "code": 1, "msg": "success"},
            {"handle": first, "code": -2, "msg": "标识已存在"},
            {"handle": f"{prefix}/003", "code": -2, "msg": "非法操作，索引1001在模板中不存在"},
            {"handle": f"{prefix}/004", "code": -2, "msg": "缺少必要的请求参数: templateVersion"},
            {"handle": "not an object", "code": -2, "msg": "请求参数格式错误，应为JSON对象"},
        ],
    )
    status, answer = await snms(session, node, "POST", "/identityv2/data/batchCreate", token, batch[:2])
    ok(status, answer, [{"handle": h, "code": -2, "msg": "标识已存在"} for h in (first, second)])
    listing = f"{node.url}/api/handles?prefix={prefix}&page=0&pageSize=0"
    status, body = await get_json(session, listing, headers=auth)
    assert body["totalCount"] == "3"  # ADMIN, 001 and 002: the retry added nothing
    assert (await handle_values(session, node, first) or {})[2000] == ("URL", "www.001.com")


async def test_batch_update_and_batch_delete_answer_per_item(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, _, token = await enterprise(session, node)
    handles = [f"{prefix}/cc", f"{prefix}/cc1"]
    await snms(
        session,
        node,
        "POST",
        "/identityv2/data/batchCreate",
        token,
        [item(h, (2000, "name", "v1")) for h in handles],
    )
    updates = [item(handles[0], (2000, "name", "v2")), item(f"{prefix}/missing", (2000, "name", "v2"))]
    status, answer = await snms(session, node, "PUT", "/identityv2/data/batchUpdate", token, updates)
    ok(
        status,
        answer,
        [
            {"handle": handles[0], "code": 1, "msg": "success"},
            {"handle": f"{prefix}/missing", "code": -2, "msg": "标识不存在"},
        ],
    )
    assert (await handle_values(session, node, handles[0]) or {})[2000] == ("name", "v2")
    assert await handle_values(session, node, f"{prefix}/missing") is None
    status, answer = await snms(
        session, node, "DELETE", "/identityv2/data/batchDelete", token, [*handles, handles[0]]
    )
    ok(
        status,
        answer,
        [
            {"handle": handles[0], "code": 1, "msg": "success"},
            {"handle": handles[1], "code": 1, "msg": "success"},
            {"handle": handles[0], "code": -2, "msg": "标识不存在"},
        ],
    )


async def test_batches_take_at_most_2000_items(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth, token = await enterprise(session, node)
    too_many = [item(f"{prefix}/n{i}", (2000, "name", "v")) for i in range(2001)]
    for method, path, body in (
        ("POST", "/identityv2/data/batchCreate", too_many),
        ("PUT", "/identityv2/data/batchUpdate", too_many),
        ("DELETE", "/identityv2/data/batchDelete", [f"{prefix}/n{i}" for i in range(2001)]),
    ):
        status, answer = await snms(session, node, method, path, token, body)
        refused(status, answer, 400, -2, "批量操作最多支持2000条，本次2001条")
    status, answer = await snms(session, node, "POST", "/identityv2/data/batchCreate", token, too_many[:2000])
    assert status == 200 and [r["code"] for r in answer["data"]] == [1] * 2000
    status, body = await get_json(session, f"{node.url}/api/handles?prefix={prefix}&pageSize=0", headers=auth)
    assert body["totalCount"] == "2001"  # ADMIN and the 2000


# -- tokens and tenants --------------------------------------------------------------------------


async def test_an_enterprise_token_touches_only_its_own_identifiers(
    node: Server, session: aiohttp.ClientSession
) -> None:
    _, _, token_a = await enterprise(session, node)
    prefix_b, _, token_b = await enterprise(session, node)
    theirs = f"{prefix_b}/secret-product"
    await snms(session, node, "POST", "/identityv2/data", token_b, item(theirs, (2000, "name", "B")))
    attempts = [
        ("GET", "/identityv2/data/detail", None, {"handle": theirs}),
        ("POST", "/identityv2/data", item(f"{prefix_b}/planted", (2000, "name", "A")), {}),
        ("PUT", "/identityv2/data", item(theirs, (2000, "name", "A")), {}),
        ("DELETE", "/identityv2/data", {"handle": theirs}, {}),
    ]
    for method, path, body, params in attempts:
        status, answer = await snms(session, node, method, path, token_a, body, **params)
        refused(status, answer, 403, -3, "没有权限")
    for method, path, body in (
        ("POST", "/identityv2/data/batchCreate", [item(f"{prefix_b}/planted", (2000, "name", "A"))]),
        ("PUT", "/identityv2/data/batchUpdate", [item(theirs, (2000, "name", "A"))]),
        ("DELETE", "/identityv2/data/batchDelete", [theirs]),
    ):
        status, answer = await snms(session, node, method, path, token_a, body)
        assert answer["data"][0]["code"] == -3 and answer["data"][0]["msg"] == "没有权限"
    assert await handle_values(session, node, f"{prefix_b}/planted") is None
    assert (await handle_values(session, node, theirs) or {})[2000] == ("name", "B")


async def test_requests_without_a_live_token_are_refused(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    handle = f"{prefix}/t"
    header, body, signature = token.split(".")
    forged = f"{header}.{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for sent, message in (
        (None, "没有登录，需要验证"),
        ("garbage", "token无效，请重新登录获取token"),
        (forged, "token无效，请重新登录获取token"),
    ):
        status, answer = await snms(session, node, "GET", "/identityv2/data/detail", sent, handle=handle)
        refused(status, answer, 401, -1, message)
    other = await login(session, node, prefix, auth.secret)
    status, answer = await snms(session, node, "DELETE", "/identity/token", token)
    assert status == 200
    ok(status, answer)
    status, answer = await snms(
        session, node, "POST", "/identityv2/data", token, item(handle, (2000, "name", "v"))
    )
    refused(status, answer, 401, -1, "token已失效，请重新登录获取token")
    status, answer = await snms(
        session, node, "POST", "/identityv2/data", other, item(handle, (2000, "name", "v"))
    )
    ok(status, answer)  # logging out ends that token only


async def test_an_expired_token_is_refused(tuned_node: Server, session: aiohttp.ClientSession) -> None:
    node = tuned_node
    prefix, _, token = await enterprise(session, node)
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=f"{prefix}/x")
    refused(status, answer, 404, -2, "没有找到标识")
    await asyncio.sleep(1.2)
    status, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=f"{prefix}/x")
    refused(status, answer, 401, -1, "token已过期，请重新登录获取token")


async def test_a_suspended_enterprise_cannot_write(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, _, token = await enterprise(session, node)
    url = f"{node.url}/api/enterprises/{prefix}"
    async with session.patch(url, json={"status": "suspended"}, headers=operator(node)) as resp:
        assert resp.status == 200
    body = item(f"{prefix}/s", (2000, "name", "v"))
    status, answer = await snms(session, node, "POST", "/identityv2/data", token, body)
    refused(status, answer, 403, -3, "企业已停用，标识不能修改")
    status, answer = await snms(session, node, "POST", "/identityv2/data/batchCreate", token, [body])
    assert answer["data"] == [{"handle": f"{prefix}/s", "code": -3, "msg": "企业已停用，标识不能修改"}]
