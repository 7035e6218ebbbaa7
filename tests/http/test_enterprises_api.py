"""Operator API (enterprises) and the first statistics endpoint, end to end."""

from __future__ import annotations

import aiohttp

from idnode.sample import make_uscc
from tests.conftest import Server
from tests.http.helpers import basic, get_json, onboard, operator, put_values

URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/x"}


async def _count(session: aiohttp.ClientSession, node: Server) -> int:
    _, body = await get_json(session, f"{node.url}/api/enterprises", headers=operator(node))
    return body["totalCount"]


async def test_onboarding_allocates_prefixes_and_credentials(
    node: Server, session: aiohttp.ClientSession
) -> None:
    first, first_auth = await onboard(session, node, contact_name="王工", contact_phone="0515-8888")
    second, _ = await onboard(session, node)
    assert first.startswith("88.999.") and int(second.rsplit(".", 1)[1]) == int(first.rsplit(".", 1)[1]) + 1
    status, body = await get_json(session, f"{node.url}/api/enterprises/{first}", headers=first_auth)
    assert status == 200
    enterprise = body["enterprise"]
    assert enterprise["status"] == "active" and enterprise["contact_name"] == "王工"
    assert enterprise["district"] == "盐都区" and len(enterprise["registered_on"]) == 10
    # The prefix handle and the admin handle exist and resolve publicly.
    assert (await get_json(session, f"{node.url}/api/handles/0.NA/{first}"))[0] == 200
    assert (await get_json(session, f"{node.url}/api/handles/{first}/ADMIN"))[0] == 200


async def test_onboarding_rejects_bad_input_and_stores_nothing(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    _, existing = await get_json(session, f"{node.url}/api/enterprises/{prefix}", headers=operator(node))
    before = await _count(session, node)
    valid = {"name": "新企业", "uscc": make_uscc(900001), "district": "亭湖区", "industry": "汽车制造业"}
    bad_uscc = valid["uscc"][:-1] + ("0" if valid["uscc"][-1] != "0" else "1")
    cases = [
        (
            "invalid USCC checksum",
            {**valid, "uscc": bad_uscc},
            operator(node),
            400,
            202,
            "unified social credit",
        ),
        ("malformed USCC", {**valid, "uscc": "1234"}, operator(node), 400, 202, "unified social credit"),
        (
            "duplicate USCC",
            {**valid, "uscc": existing["enterprise"]["uscc"]},
            operator(node),
            409,
            101,
            "exists",
        ),
        ("unknown district", {**valid, "district": "火星"}, operator(node), 400, 202, "district"),
        ("missing name", {k: v for k, v in valid.items() if k != "name"}, operator(node), 400, 202, "name"),
        ("unknown field", {**valid, "colour": "red"}, operator(node), 400, 202, "colour"),
        ("not the operator", valid, auth, 403, 401, "operator"),
        ("no credentials", valid, {}, 401, 402, "Authentication"),
    ]
    for name, body, headers, status, code, words in cases:
        async with session.post(f"{node.url}/api/enterprises", json=body, headers=headers) as resp:
            reply = await resp.json()
            assert (resp.status, reply["responseCode"]) == (status, code), (name, reply)
            assert words.lower() in reply["message"].lower(), (name, reply)
    async with session.post(
        f"{node.url}/api/enterprises",
        data=b"{",
        headers={"Content-Type": "application/json", **operator(node)},
    ) as resp:
        assert (resp.status, (await resp.json())["responseCode"]) == (400, 4)
    assert await _count(session, node) == before


async def test_suspension_blocks_writes_until_reactivated(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    url = f"{node.url}/api/enterprises/{prefix}"
    async with session.patch(url, json={"status": "suspended"}, headers=operator(node)) as resp:
        assert resp.status == 200 and (await resp.json())["enterprise"]["status"] == "suspended"
    status, body = await put_values(session, node, f"{prefix}/S-1", [URL_VALUE], auth)
    assert (status, body["responseCode"]) == (403, 401) and "suspended" in body["message"]
    async with session.patch(url, json={"status": "active"}, headers=operator(node)) as resp:
        assert resp.status == 200
    status, _ = await put_values(session, node, f"{prefix}/S-1", [URL_VALUE], auth)
    assert status == 200


async def test_patch_validates_and_only_the_operator_may(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    url = f"{node.url}/api/enterprises/{prefix}"
    for body, headers, status in [
        ({"district": "火星"}, operator(node), 400),
        ({"uscc": make_uscc(777)}, operator(node), 400),
        ({"status": "deleted"}, operator(node), 400),
        ({}, operator(node), 400),
        ({"name": "改名"}, auth, 403),
    ]:
        async with session.patch(url, json=body, headers=headers) as resp:
            assert resp.status == status, body
    async with session.patch(
        url, json={"name": "改名后的公司", "industry": "专用设备制造业"}, headers=operator(node)
    ) as resp:
        enterprise = (await resp.json())["enterprise"]
        assert (enterprise["name"], enterprise["industry"]) == ("改名后的公司", "专用设备制造业")
    async with session.patch(
        f"{node.url}/api/enterprises/88.999.99999", json={"name": "x"}, headers=operator(node)
    ) as resp:
        assert resp.status == 404


async def test_enterprise_details_are_private(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, _ = await onboard(session, node)
    _, stranger = await onboard(session, node)
    assert (await get_json(session, f"{node.url}/api/enterprises/{prefix}", headers=stranger))[0] == 403
    assert (await get_json(session, f"{node.url}/api/enterprises/{prefix}"))[0] == 401
    assert (await get_json(session, f"{node.url}/api/enterprises", headers=stranger))[0] == 403
    status, body = await get_json(
        session, f"{node.url}/api/enterprises", headers=operator(node), params={"pageSize": "1"}
    )
    assert status == 200 and len(body["enterprises"]) == 1 and body["totalCount"] >= 2


async def test_secret_reset(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, old = await onboard(session, node)
    async with session.post(f"{node.url}/api/enterprises/{prefix}/secret", headers=operator(node)) as resp:
        admin = (await resp.json())["admin"]
    new = basic(admin["username"], admin["secret"])
    assert (await put_values(session, node, f"{prefix}/R", [URL_VALUE], old))[0] == 401
    assert (await put_values(session, node, f"{prefix}/R", [URL_VALUE], new))[0] == 200


async def test_stats_summary(node: Server, session: aiohttp.ClientSession) -> None:
    _, before = await get_json(session, f"{node.url}/api/stats", headers=operator(node))
    prefix, auth = await onboard(session, node)
    for n in range(3):
        await put_values(session, node, f"{prefix}/ST-{n}", [URL_VALUE], auth)
    status, after = await get_json(session, f"{node.url}/api/stats", headers=operator(node))
    assert status == 200 and after["responseCode"] == 1
    assert after["enterprises"]["total"] == before["enterprises"]["total"] + 1
    assert after["identifiers"] == before["identifiers"] + 3
    assert after["target"]["enterprises"] == 3500
    assert after["target"]["progress"] == round(after["enterprises"]["total"] / 3500, 4)
    assert (await get_json(session, f"{node.url}/api/stats"))[0] == 401
    assert (await get_json(session, f"{node.url}/api/stats", headers=auth))[0] == 403
    status, target = await get_json(session, f"{node.url}/api/stats/target", headers=operator(node))
    assert status == 200 and target["registered"] == after["enterprises"]["total"]
    assert target["windows"]["30"]["new"] >= 1  # the enterprise onboarded above, today
    assert (await get_json(session, f"{node.url}/api/stats/target", headers=auth))[0] == 403
