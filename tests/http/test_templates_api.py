"""``/api/templates`` and metadata validation through the Handle REST API, against a real node on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import aiohttp
import orjson

from tests.conftest import Server
from tests.http.helpers import Credentials, get_json, onboard, operator, put_values
from tests.test_templates import SHIPPED, example


def new_template(name: str) -> dict[str, Any]:
    """The shipped part template as the first version of a template called ``name``."""
    document = copy.deepcopy(SHIPPED["part"])
    document["$id"] = f"urn:idnode:template:{name}"
    del document["x-version"]
    return document


async def post(
    session: aiohttp.ClientSession, node: Server, body: Any, auth: Credentials | None
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{node.url}/api/templates", json=body, headers=auth) as resp:
        return resp.status, await resp.json()


async def delete(
    session: aiohttp.ClientSession, node: Server, ref: str, auth: Credentials | None
) -> tuple[int, dict[str, Any]]:
    name, _, version = ref.partition("@")
    async with session.delete(f"{node.url}/api/templates/{name}/{version}", headers=auth) as resp:
        return resp.status, await resp.json()


def described(ref: str, content: Any) -> list[dict[str, Any]]:
    return [
        {"index": 1, "type": "URL", "data": "https://example.com/p/1"},
        {"index": 2, "type": "TEMPLATE", "data": ref},
        {"index": 3, "type": "METADATA", "data": orjson.dumps(content).decode()},
    ]


async def test_anyone_reads_the_templates(node: Server, session: aiohttp.ClientSession) -> None:
    status, body = await get_json(session, f"{node.url}/api/templates")
    assert status == 200 and body["responseCode"] == 1
    solar = next(t for t in body["templates"] if t["name"] == "solar-module")
    assert solar == {
        "name": "solar-module",
        "version": 1,
        "ref": "solar-module@1",
        "title": "光伏组件",
        "titleEn": "Photovoltaic module",
        "versions": [1],
    }
    assert {t["name"] for t in body["templates"]} >= set(SHIPPED)
    status, latest = await get_json(session, f"{node.url}/api/templates/solar-module")
    assert status == 200 and latest["template"]["document"] == SHIPPED["solar-module"]
    assert latest["template"]["ref"] == "solar-module@1" and latest["template"]["created"].endswith("Z")
    status, pinned = await get_json(session, f"{node.url}/api/templates/solar-module/1")
    assert status == 200 and pinned["template"] == latest["template"]
    for missing in ("solar-module/99", "no-such-template", "no-such-template/1", "solar-module/one"):
        status, body = await get_json(session, f"{node.url}/api/templates/{missing}")
        assert (status, body["responseCode"]) == (404, 100), missing


async def test_only_the_operator_adds_templates(node: Server, session: aiohttp.ClientSession) -> None:
    name = f"valve-{uuid.uuid4().hex[:8]}"
    _, enterprise = await onboard(session, node)
    status, body = await post(session, node, new_template(name), None)
    assert (status, body["responseCode"]) == (401, 402)
    status, body = await post(session, node, new_template(name), enterprise)
    assert (status, body["responseCode"]) == (403, 401)
    status, body = await get_json(session, f"{node.url}/api/templates/{name}")
    assert status == 404

    status, body = await post(session, node, new_template(name), operator(node))
    assert status == 201 and body["template"]["ref"] == f"{name}@1"
    assert body["template"]["document"]["$id"] == f"urn:idnode:template:{name}:1"
    status, body = await post(session, node, new_template(name), operator(node))
    assert status == 201 and body["template"]["ref"] == f"{name}@2"
    status, body = await post(session, node, {**new_template(name), "x-version": 2}, operator(node))
    assert (status, body["responseCode"]) == (409, 101) and "next version is 3" in body["message"]
    status, body = await get_json(session, f"{node.url}/api/templates/{name}")
    assert body["template"]["version"] == 2


async def test_invalid_template_documents_get_clear_errors(
    node: Server, session: aiohttp.ClientSession
) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    broken = {**new_template(name), "required": "serialNumber"}
    status, body = await post(session, node, broken, operator(node))
    assert (status, body["responseCode"]) == (400, 202)
    assert body["message"].startswith("Not a valid JSON Schema 2020-12 document at /required:")
    async with session.post(
        f"{node.url}/api/templates", data=b"{", headers={**operator(node), "Content-Type": "application/json"}
    ) as resp:
        assert (resp.status, (await resp.json())["responseCode"]) == (400, 4)
    status, _ = await get_json(session, f"{node.url}/api/templates/{name}")
    assert status == 404


async def test_records_are_checked_against_their_template(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, enterprise = await onboard(session, node)
    handle = f"{prefix}/CS7N-0001"
    bad = example("solar-module", ratedPower=-5)
    status, body = await put_values(
        session, node, handle, described("solar-module@1", bad), enterprise, overwrite="false"
    )
    assert (status, body["responseCode"]) == (400, 202)
    assert (
        body["message"] == "METADATA /ratedPower: -5 is less than the minimum of 0 (template solar-module@1)."
    )
    status, _ = await get_json(session, f"{node.url}/api/handles/{handle}")
    assert status == 404

    good = example("solar-module")
    status, body = await put_values(
        session, node, handle, described("solar-module@1", good), enterprise, overwrite="false"
    )
    assert (status, body["responseCode"]) == (201, 1)
    status, record = await get_json(session, f"{node.url}/api/handles/{handle}", params={"type": "METADATA"})
    assert orjson.loads(record["values"][0]["data"]["value"]) == good
    status, body = await put_values(
        session, node, handle, described("solar-module@7", good)[1:2], enterprise, index="2"
    )
    assert (status, body["message"]) == (
        400,
        "TEMPLATE solar-module@7: no such template version on this node.",
    )


async def test_a_template_in_use_cannot_be_deleted(node: Server, session: aiohttp.ClientSession) -> None:
    name = f"casting-{uuid.uuid4().hex[:8]}"
    prefix, enterprise = await onboard(session, node)
    await post(session, node, new_template(name), operator(node))
    handle = f"{prefix}/CASTING-1"
    status, _ = await put_values(session, node, handle, described(f"{name}@1", example("part")), enterprise)
    assert status == 200

    status, body = await delete(session, node, f"{name}@1", enterprise)
    assert (status, body["responseCode"]) == (403, 401)
    status, body = await delete(session, node, f"{name}@1", operator(node))
    assert (status, body["responseCode"]) == (400, 202)
    assert body["message"] == f"Template {name}@1 is used by stored records; it cannot be deleted."
    status, _ = await get_json(session, f"{node.url}/api/templates/{name}/1")
    assert status == 200

    async with session.delete(f"{node.url}/api/handles/{handle}", headers=enterprise) as resp:
        assert resp.status == 200
    status, body = await delete(session, node, f"{name}@1", operator(node))
    assert (status, body) == (200, {"responseCode": 1, "ref": f"{name}@1"})
    status, _ = await get_json(session, f"{node.url}/api/templates/{name}/1")
    assert status == 404
    status, body = await delete(session, node, f"{name}@1", operator(node))
    assert (status, body["responseCode"]) == (404, 100)
    status, body = await put_values(
        session, node, handle, described(f"{name}@1", example("part")), enterprise
    )
    assert (status, body["responseCode"]) == (400, 202)
