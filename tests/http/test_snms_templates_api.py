"""SNMS data templates (``/snms/api/v5/template``) against a running node (SQLite and PostgreSQL): the
documented requests adapted to this node, the same templates seen as JSON Schema at /api/templates and
the other way round, who may change them, and records held to them through Handle REST."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import Server, module_node
from tests.dns.test_server import name_of, resolver_for, texts
from tests.http.helpers import get_json, operator, put_values
from tests.http.test_snms_api import Body, enterprise, item, ok, refused, snms

PATH = "/snms/api/v5/template"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real node answering HTTP and DNS, per module and database (tests use their own enterprises)."""
    yield from module_node(request, tmp_path_factory, dns=True)


Caller = str | dict[str, str] | None  # an SNMS token, Basic credentials, or nobody


async def v5(
    session: aiohttp.ClientSession, node: Server, method: str, caller: Caller, body: Any = None, **params: str
) -> tuple[int, Body]:
    """Call /snms/api/v5/template; the answer must be an SNMS envelope."""
    headers = {"Authorization": f"Bearer {caller}"} if isinstance(caller, str) else caller
    async with session.request(
        method, f"{node.url}{PATH}", json=body, headers=headers, params=params
    ) as resp:
        answer = await resp.json()
        assert set(answer) == {"status", "message", "data"}, answer
        return resp.status, answer


def documented(prefix: str, *, change: bool = False) -> Body:
    """The request example of the v5 document (POST, or with ``change`` PUT), for ``prefix``."""
    item: Body = {
        "name": "e1",
        "idType": "ip",
        "idIndex": "2000",
        "metadata": {"type": "string", "minLength": 1, "maxLength": 10},
        "required": False,
    }
    if change:
        item["state"] = 1
    return {
        "prefix": prefix,
        "version": "1.0.0",
        "industryCategory": "A",
        "industrySpecific": "01",
        "industryTrade": "011",
        "industrySubclass": "0111",
        "type": 1,
        "description": "测试模板",
        "items": [item],
    }


def v5_answer(prefix: str | None, ref: str, description: str, items: list[Body]) -> Body:
    """The v5 GET answer's data for a template made from ``documented``."""
    facts = {k: v for k, v in documented("").items() if k not in ("prefix", "description", "items")}
    return {"prefix": prefix, **facts, "description": description, "items": items, "ref": ref}


def ip_item(**changes: Any) -> Body:
    item = {
        "name": "e1",
        "idType": "ip",
        "idIndex": 2000,
        "required": False,
        "state": 1,
        "metadata": {"type": "string", "minLength": 1, "maxLength": 10},
    }
    return {**item, **changes}


async def test_create_query_change_delete_as_documented(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, _, token = await enterprise(session, node)
    ok(*await v5(session, node, "POST", token, documented(prefix)))
    status, answer = await v5(session, node, "GET", token, prefix=prefix, version="1.0.0")
    name = answer["data"]["ref"].partition("@")[0]
    ok(status, answer, v5_answer(prefix, f"{name}@1", "测试模板", [ip_item()]))
    refused(
        *await v5(session, node, "POST", token, documented(prefix)),
        409,
        -2,
        f"数据模板已存在：前缀{prefix}的模板版本1.0.0",
    )

    changed = documented(prefix, change=True)
    changed["description"] = "测试模板（修订）"
    changed["items"].append({"name": "颜色", "idType": "color", "metadata": {"minLength": 0, "maxLength": 8}})
    ok(*await v5(session, node, "PUT", token, changed))
    status, answer = await v5(session, node, "GET", None, prefix=prefix, version="1.0.0")  # reads are public
    color = ip_item(
        name="颜色", idType="color", idIndex=2001, metadata={"type": "string", "minLength": 0, "maxLength": 8}
    )
    ok(status, answer, v5_answer(prefix, f"{name}@2", "测试模板（修订）", [ip_item(), color]))

    ok(*await v5(session, node, "DELETE", token, {"prefix": prefix, "version": "1.0.0"}))
    refused(
        *await v5(session, node, "GET", token, prefix=prefix, version="1.0.0"),
        404,
        -2,
        f"数据模板不存在：前缀{prefix}没有模板版本1.0.0",
    )
    refused(
        *await v5(session, node, "DELETE", token, {"prefix": prefix, "version": "1.0.0"}),
        404,
        -2,
        f"数据模板不存在：前缀{prefix}没有模板版本1.0.0",
    )


async def test_bad_requests_are_refused_in_chinese_and_change_nothing(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, _, token = await enterprise(session, node)
    reserved = documented(prefix)
    reserved["items"][0]["idIndex"] = 1001
    refused(
        *await v5(session, node, "POST", token, reserved), 400, -2, "非法操作，索引1001为预留字段，不可使用"
    )
    mismatched = documented(prefix)
    mismatched["industrySpecific"] = "13"
    refused(*await v5(session, node, "POST", token, mismatched), 400, -2, "行业大类13不属于门类A")
    refused(*await v5(session, node, "GET", token, prefix=prefix), 400, -2, "缺少必要的请求参数: version")
    ok(*await v5(session, node, "POST", token, documented(prefix)))
    renamed = documented(prefix, change=True)
    renamed["items"][0]["idType"] = "mac"
    refused(
        *await v5(session, node, "PUT", token, renamed),
        400,
        -2,
        "非法操作，索引2000与类型mac不匹配（模板中为ip）",
    )
    _, answer = await v5(session, node, "GET", token, prefix=prefix, version="1.0.0")
    assert answer["data"]["ref"].endswith("@1")  # nothing stored by the refused change


async def test_v5_templates_are_catalog_templates_and_back(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, _ = await enterprise(session, node)
    ok(*await v5(session, node, "POST", auth, documented(prefix)))
    _, answer = await v5(session, node, "GET", None, prefix=prefix, version="1.0.0")
    name, _, version = answer["data"]["ref"].partition("@")
    status, body = await get_json(session, f"{node.url}/api/templates/{name}/{version}")
    assert status == 200
    document = body["template"]["document"]
    assert document["x-snms"]["prefix"] == prefix and document["required"] == []
    assert document["properties"]["ip"] == {
        "title": "e1",
        "type": "string",
        "minLength": 1,
        "maxLength": 10,
        "x-id-index": 2000,
        "x-state": 1,
    }
    # A JSON Schema template added by the operator reads in v5 form by its reference.
    added = copy.deepcopy(document)
    del added["x-snms"], added["x-version"]
    added["$id"] = "urn:idnode:template:lot-label"
    added["properties"] = {"lot": {"title": "批号", "type": "string", "maxLength": 20}}
    added["required"] = ["lot"]
    async with session.post(f"{node.url}/api/templates", json=added, headers=operator(node)) as resp:
        assert resp.status == 201, await resp.json()
    status, answer = await v5(session, node, "GET", None, prefix=prefix, version="lot-label@1")
    lot = ip_item(
        name="批号",
        idType="lot",
        required=True,
        metadata={"type": "string", "minLength": None, "maxLength": 20},
    )
    ok(
        status,
        answer,
        {
            **v5_answer(None, "lot-label@1", "测试模板", [lot]),
            "version": "lot-label@1",
            **dict.fromkeys(
                ["industryCategory", "industrySpecific", "industryTrade", "industrySubclass", "type"]
            ),
        },
    )


async def test_only_the_owner_or_the_operator_changes_a_template(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, _, token = await enterprise(session, node)
    _, other_auth, other_token = await enterprise(session, node)
    body = documented(prefix)
    refused(*await v5(session, node, "POST", other_token, body), 403, -3, "没有权限")
    refused(*await v5(session, node, "POST", other_auth, body), 403, -3, "没有权限")
    refused(*await v5(session, node, "POST", None, body), 401, -1, "没有登录，需要验证")
    refused(*await v5(session, node, "POST", "forged", body), 401, -1, "token无效，请重新登录获取token")
    ok(*await v5(session, node, "POST", operator(node), body))
    for method in ("PUT", "DELETE"):
        refused(
            *await v5(session, node, method, other_token, documented(prefix, change=True)),
            403,
            -3,
            "没有权限",
        )
    ok(*await v5(session, node, "DELETE", token, {"prefix": prefix, "version": "1.0.0"}))


async def test_records_follow_the_template_through_handle_rest(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    body = documented(prefix)
    body["items"][0]["required"] = True
    ok(*await v5(session, node, "POST", token, body))
    _, answer = await v5(session, node, "GET", None, prefix=prefix, version="1.0.0")
    ref = answer["data"]["ref"]
    template = {"index": 1000, "type": "TEMPLATE", "data": ref}
    handle = f"{prefix}/router-1"
    # As values at the items' indexes, or as METADATA: the same rules either way.
    for values in (
        [template, {"index": 2000, "type": "ip", "data": "10.0.0.1"}],
        [{**template, "index": 2}, {"index": 3, "type": "METADATA", "data": '{"ip":"10.0.0.1"}'}],
    ):
        status, answer = await put_values(session, node, handle, values, auth)
        assert status == 200, answer
    for values in (
        [template, {"index": 2000, "type": "ip", "data": "10.0.0.100000"}],
        [template, {"index": 2000, "type": "ipv4", "data": "10.0.0.1"}],
        [template],
        [{**template, "index": 2}, {"index": 3, "type": "METADATA", "data": '{"ip":"10.0.0.100000"}'}],
    ):
        status, answer = await put_values(session, node, handle, values, auth)
        assert (status, answer["responseCode"]) == (400, 202), answer
    # The template is in use now, so it cannot be deleted.
    refused(
        *await v5(session, node, "DELETE", token, {"prefix": prefix, "version": "1.0.0"}),
        400,
        -2,
        "数据模板正被标识使用，不能删除",
    )


async def test_a_record_from_either_api_resolves_alike_everywhere(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth, token = await enterprise(session, node)
    body = documented(prefix)
    body["items"] = [
        {"name": "网址", "idType": "URL", "required": True, "metadata": {"minLength": 1, "maxLength": 200}},
        {"name": "GS1码", "idType": "GS1", "metadata": {"minLength": 1, "maxLength": 80}},
        {"name": "产品名称", "idType": "productName", "metadata": {"minLength": 1, "maxLength": 20}},
    ]
    ok(*await v5(session, node, "POST", token, body))
    _, answer = await v5(session, node, "GET", None, prefix=prefix, version="1.0.0")
    ref = answer["data"]["ref"]

    def attributes(serial: str) -> list[tuple[int, str, str]]:
        return [
            (2000, "URL", f"https://example.com/pump/{serial}"),
            (2001, "GS1", f"(01)09506000134352(21){serial}"),
            (2002, "productName", "离心泵"),
        ]

    snms_handle, rest_handle = f"{prefix}/pump-a", f"{prefix}/pump-b"
    ok(
        *await snms(
            session,
            node,
            "POST",
            "/identityv2/data",
            token,
            item(snms_handle, *attributes("A"), version="1.0.0"),
        )
    )
    rest_values = [{"index": i, "type": t, "data": v} for i, t, v in attributes("B")]
    rest_values += [
        {"index": 1000, "type": "TEMPLATE", "data": ref},
        {"index": 1001, "type": "SNMS_TEMPLATE", "data": "1.0.0"},
    ]
    assert (await put_values(session, node, rest_handle, rest_values, auth))[0] == 200

    def alike(text: str) -> str:
        """``text`` with the handle and the serial, the two records' only differences, made the same."""
        return re.sub(r"pump-[ab]", "pump-X", re.sub(r"([/)])[AB]\b", r"\1X", text))

    # Handle REST: the same values (signatures and timestamps aside).
    shown = []
    for handle in (snms_handle, rest_handle):
        _, record = await get_json(session, f"{node.url}/api/handles/{handle}")
        shown.append(
            sorted(
                alike(f"{v['index']}={v['type']}={v['data']['value']}")
                for v in record["values"]
                if v["type"] != "HS_SIGNATURE"
            )
        )
    assert shown[0] == shown[1] and f"1000=TEMPLATE={ref}" in shown[0]
    # SNMS detail: the same answer.
    details = []
    for handle in (snms_handle, rest_handle):
        _, answer = await snms(session, node, "GET", "/identityv2/data/detail", token, handle=handle)
        assert answer["data"]["templateVersion"] == "1.0.0"
        details.append(alike(str(answer["data"])))
    assert details[0] == details[1]
    # DNS: the same TXT strings; GS1 Digital Link: each serial to its own URL.
    resolver = resolver_for(node)
    txt = [
        {alike(t) for t in texts(resolver.resolve(name_of(h), "TXT")) if "HS_SIGNATURE" not in t}
        for h in (snms_handle, rest_handle)
    ]
    assert txt[0] == txt[1] and "2002=productName=离心泵" in txt[0]
    for serial in ("A", "B"):
        async with session.get(f"{node.url}/01/09506000134352/21/{serial}", allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (307, f"https://example.com/pump/{serial}")
    # And a change breaking the template is refused through either API.
    too_long = [(2000, "URL", "https://example.com/pump/A"), (2002, "productName", "离心泵" * 7)]
    refused(
        *await snms(
            session, node, "PUT", "/identityv2/data", token, item(snms_handle, *too_long, version="1.0.0")
        ),
        400,
        -2,
        "模板属性产品名称（索引2002，类型productName）的长度不能大于20",
    )
    status, answer = await put_values(
        session,
        node,
        rest_handle,
        [{"index": 2002, "type": "productName", "data": "离心泵" * 7}],
        auth,
        index="2002",
    )
    assert (status, answer["responseCode"]) == (400, 202) and "/productName (index 2002)" in answer["message"]
