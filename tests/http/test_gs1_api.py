"""GS1 Digital Link resolution end to end: records registered with GS1 keys through the Handle API,
then resolved as a scanner would, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.conftest import Server
from tests.http.helpers import Credentials, onboard, put_values

GTIN = "09506000134352"
PIP, CERT = "https://gs1.org/voc/pip", "https://gs1.org/voc/certificationInfo"
DEFAULT = "https://gs1.org/voc/defaultLink"


def url(index: int, href: str) -> dict[str, Any]:
    return {"index": index, "type": "URL", "data": href}


def gs1(key: str) -> dict[str, Any]:
    return {"index": 4, "type": "GS1", "data": {"format": "string", "value": key}}


def link(index: int, **fields: Any) -> dict[str, Any]:
    return {"index": index, "type": "GS1_LINK", "data": json.dumps(fields)}


async def register(
    session: aiohttp.ClientSession, node: Server, auth: Credentials, handle: str, values: list[dict[str, Any]]
) -> None:
    status, body = await put_values(session, node, handle, values, auth)
    assert status in (200, 201), body


async def get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> aiohttp.ClientResponse:
    async with session.get(url, allow_redirects=False, **kwargs) as resp:
        await resp.read()
        return resp


async def test_redirect_link_header_link_types_and_linkset(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    handle = f"{prefix}/RICE-1"
    cert = {"linkType": "gs1:certificationInfo", "href": "https://example.com/cert.pdf", "title": "有机认证"}
    await register(
        session,
        node,
        auth,
        handle,
        [
            url(1, "https://example.com/rice"),
            gs1(f"(01){GTIN}"),
            link(10, **cert, hreflang=["zh", "en"], type="application/pdf"),
            {
                **link(11, linkType="gs1:recipeInfo", href="https://example.com/secret", title="x"),
                "permissions": "1100",
            },
        ],
    )

    resp = await get(session, f"{node.url}/01/{GTIN}")
    assert resp.status == 307
    assert resp.headers["Location"] == "https://example.com/rice"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert resp.headers["Access-Control-Expose-Headers"] == "Link"
    header = resp.headers["Link"]
    assert f'<https://example.com/rice>; rel="{DEFAULT}"; title="Product information page"' in header
    assert f'<https://example.com/rice>; rel="{PIP}"' in header
    assert (
        f'<https://example.com/cert.pdf>; rel="{CERT}"; title="certificationInfo"; '
        'title*=UTF-8\'\'%E6%9C%89%E6%9C%BA%E8%AE%A4%E8%AF%81; hreflang="zh"; hreflang="en"; '
        'type="application/pdf"'
    ) in header
    assert "secret" not in header  # a value the public may not read is no link
    assert f'<{node.url}/01/{GTIN}?linkType=linkset>; rel="linkset"' in header

    # A link type as a CURIE or a full IRI; the request's query string is passed on.
    resp = await get(session, f"{node.url}/01/{GTIN}?linkType=gs1:certificationInfo&utm=qr")
    assert resp.status == 307
    assert resp.headers["Location"] == "https://example.com/cert.pdf?linkType=gs1:certificationInfo&utm=qr"
    resp = await get(session, f"{node.url}/01/{GTIN}", params={"linkType": CERT})
    assert resp.headers["Location"].startswith("https://example.com/cert.pdf?")
    resp = await get(session, f"{node.url}/01/{GTIN}?linkType=gs1:recipeInfo")
    body = json.loads(await resp.text())
    assert resp.status == 404 and body["responseCode"] == 100 and CERT in body["message"]

    expected = {
        "linkset": [
            {
                "anchor": f"{node.url}/01/{GTIN}",
                DEFAULT: [{"href": "https://example.com/rice", "title": "Product information page"}],
                PIP: [{"href": "https://example.com/rice", "title": "Product information page"}],
                CERT: [
                    {
                        "href": "https://example.com/cert.pdf",
                        "title": "有机认证",
                        "type": "application/pdf",
                        "hreflang": ["zh", "en"],
                    }
                ],
            }
        ]
    }
    for kwargs in ({"params": {"linkType": "all"}}, {"headers": {"Accept": "application/linkset+json"}}):
        async with session.get(f"{node.url}/01/{GTIN}", allow_redirects=False, **kwargs) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/linkset+json"
            assert json.loads(await resp.text()) == expected
            assert 'rel="http://www.w3.org/ns/json-ld#context"' in resp.headers["Link"]
            assert resp.headers["Vary"] == "Accept"
    async with session.get(
        f"{node.url}/01/{GTIN}?linkType=linkset", headers={"Accept": "application/json"}
    ) as resp:
        assert resp.content_type == "application/json" and await resp.json() == expected

    # A HEAD answers as GET does, without a body; GTIN-13 and a trailing slash name the same key.
    async with session.head(f"{node.url}/01/9506000134352/", allow_redirects=False) as resp:
        assert resp.status == 307 and resp.headers["Location"] == "https://example.com/rice"


async def test_fallback_from_serial_to_lot_to_gtin(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    gtin = "04006381333931"
    await register(
        session, node, auth, f"{prefix}/DRILL", [url(1, "https://example.com/drill"), gs1(f"(01){gtin}")]
    )
    lot_uri = f"https://id.example.org/01/{gtin}/10/LOT%2F7"  # a lot with a slash, percent-encoded
    lot_values = [
        gs1(lot_uri),
        link(10, linkType="gs1:recallStatus", href="https://example.com/r7", title="Recall"),
    ]
    await register(session, node, auth, f"{prefix}/DRILL-LOT7", lot_values)
    await register(
        session,
        node,
        auth,
        f"{prefix}/DRILL-LOT7-S1",
        [url(1, "https://example.com/s1"), gs1(f"{lot_uri}/21/S1")],
    )

    async def location(path: str) -> str:
        resp = await get(session, f"{node.url}{path}")
        assert resp.status == 307, await resp.text()
        return resp.headers["Location"]

    assert await location(f"/01/{gtin}/10/LOT%2F7/21/S1") == "https://example.com/s1"
    # Another serial of the lot: the lot's record has no URL, so its first GS1_LINK is its default.
    assert await location(f"/01/{gtin}/10/LOT%2F7/21/S2") == "https://example.com/r7"
    assert await location(f"/01/{gtin}/10/LOT9/21/S1") == "https://example.com/drill"  # unknown lot
    assert await location(f"/01/{gtin}/21/S1") == "https://example.com/drill"  # serial without its lot
    # A link type missing at the serial's level is found further up.
    assert await location(f"/01/{gtin}/10/LOT%2F7/21/S1?linkType=gs1:recallStatus") == (
        "https://example.com/r7?linkType=gs1:recallStatus"
    )

    async with session.get(f"{node.url}/01/{gtin}/10/LOT%2F7/21/S1?linkType=all") as resp:
        body = await resp.json(content_type=None)
    anchors = [context["anchor"] for context in body["linkset"]]
    assert anchors == [
        f"{node.url}/01/{gtin}/10/LOT%2F7/21/S1",
        f"{node.url}/01/{gtin}/10/LOT%2F7",
        f"{node.url}/01/{gtin}",
    ]
    assert body["linkset"][1]["https://gs1.org/voc/recallStatus"][0]["href"] == "https://example.com/r7"


async def test_unknown_and_malformed_keys(node: Server, session: aiohttp.ClientSession) -> None:
    for path in ("/01/09520123456788", "/01/09520123456788/10/A/21/B"):
        resp = await get(session, f"{node.url}{path}")
        body = json.loads(await resp.text())
        assert resp.status == 404 and resp.content_type == "application/json"
        assert body["responseCode"] == 100 and "/01/09520123456788" in body["message"]
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    malformed = {
        "/01/09520123456789": "check digit",
        "/01/09520123456": "digits",
        "/01/09520123456788/foo": "without a value",
        "/01/09520123456788/21/S/10/L": "order",
        "/01/09520123456788/17/271231": "query string",
        "/01/09520123456788/99/X": "key qualifier",
        "/01/09520123456788?17=271301": "month",
        f"/01/09520123456788/10/{'L' * 21}": "20 characters",
    }
    for path, complaint in malformed.items():
        resp = await get(session, f"{node.url}{path}")
        body = json.loads(await resp.text())
        assert resp.status == 400, path
        assert body["responseCode"] == 4 and complaint in body["message"], body


async def test_resolver_description_and_preflight(node: Server, session: aiohttp.ClientSession) -> None:
    async with session.get(f"{node.url}/.well-known/gs1resolver") as resp:
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
        document = await resp.json()
    assert document == {
        "name": "idnode 88.999 GS1 resolver",
        "resolverRoot": node.url,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": "https://gs1.org/voc/", "prefix": "gs1:"}],
        "linkTypeDefaultCanBeLinkset": False,
        "jsonLdContextLocation": "https://ref.gs1.org/standards/resolver/linkset-context",
    }
    async with session.options(
        f"{node.url}/01/{GTIN}",
        headers={"Origin": "https://scan.example", "Access-Control-Request-Method": "GET"},
    ) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert resp.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


async def test_registration_checks_gs1_values(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    refused = {
        "(01)09506000134353": "check digit",
        "(01)00036000291452(17)250230": "28 days",
        "https://id.example.org/01/00036000291452/10/" + "L" * 21: "20 characters",
        "not a key": "Expected a GS1 Digital Link URI",
    }
    for key, complaint in refused.items():
        status, body = await put_values(
            session, node, f"{prefix}/BAD", [url(1, "https://e.example"), gs1(key)], auth
        )
        assert status == 400 and body["responseCode"] == 202, body
        assert body["message"].startswith("Value 4 (GS1): ") and complaint in body["message"]
    bad_link = link(10, linkType="gs1:pip", href="ftp://example.com/x", title="x")
    status, body = await put_values(session, node, f"{prefix}/BAD", [bad_link], auth)
    assert status == 400 and "Value 10 (GS1_LINK)" in body["message"] and "href" in body["message"]
    async with session.get(f"{node.url}/api/handles/{prefix}/BAD") as resp:
        assert resp.status == 404  # nothing was stored


async def test_one_key_one_identifier_and_moving_keys(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    other_prefix, other_auth = await onboard(session, node)
    gtin = "00036000291452"
    key = f"https://example.com/01/{gtin[2:]}/21/A1?17=281200"  # a UPC-A, padded to 14 digits
    await register(session, node, auth, f"{prefix}/CAN-A1", [url(1, "https://example.com/a1"), gs1(key)])

    # The same key (spelt as an element string) cannot map to a second identifier, of any enterprise.
    for owner, credentials in ((prefix, auth), (other_prefix, other_auth)):
        status, body = await put_values(
            session,
            node,
            f"{owner}/CAN-COPY",
            [url(1, "https://x.example"), gs1(f"(01){gtin}(21)A1")],
            credentials,
        )
        assert status == 409 and body["responseCode"] == 201
        assert body["message"] == f"GS1 key /01/{gtin}/21/A1 is already mapped to {prefix}/CAN-A1."
        async with session.get(f"{node.url}/api/handles/{owner}/CAN-COPY") as resp:
            assert resp.status == 404

    # Changing the record's GS1 value moves its key.
    status, _ = await put_values(session, node, f"{prefix}/CAN-A1", [gs1(f"(01){gtin}(21)A2")], auth, index=4)
    assert status == 200
    assert (await get(session, f"{node.url}/01/{gtin}/21/A1")).status == 404
    assert (await get(session, f"{node.url}/01/{gtin}/21/A2")).headers["Location"] == "https://example.com/a1"
    # The freed key can be taken by another record; deleting a record frees its key.
    await register(
        session, node, other_auth, f"{other_prefix}/CAN-A1", [url(1, "https://b.example"), gs1(key)]
    )
    assert (await get(session, f"{node.url}/01/{gtin}/21/A1")).headers["Location"] == "https://b.example"
    async with session.delete(f"{node.url}/api/handles/{prefix}/CAN-A1", headers=auth) as resp:
        assert resp.status == 200
    assert (await get(session, f"{node.url}/01/{gtin}/21/A2")).status == 404
