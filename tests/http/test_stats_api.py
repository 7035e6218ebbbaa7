"""The statistics API end to end: JSON shapes, CSV for spreadsheets, access and bad input."""

from __future__ import annotations

import csv
import io

import aiohttp

from tests.conftest import Server
from tests.http.helpers import get_json, onboard, operator, put_values


async def test_breakdowns_lists_and_series(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node, district="滨海县", industry="汽车制造业")
    idle, _ = await onboard(session, node, district="滨海县", industry="汽车制造业")
    for n in range(4):
        value = [{"index": 1, "type": "URL", "data": f"https://example.com/{n}"}]
        assert (await put_values(session, node, f"{prefix}/S-{n}", value, auth))[0] == 200
    op = operator(node)

    status, body = await get_json(session, f"{node.url}/api/stats/districts", headers=op)
    assert status == 200 and body["responseCode"] == 1
    binhai = next(r for r in body["districts"] if r["name"] == "滨海县")
    assert binhai["enterprises"] >= 2 and binhai["identifiers"] >= 4 and binhai["without_identifiers"] >= 1
    assert {"东台市", "响水县", "盐南高新区"} <= {r["name"] for r in body["districts"]}

    status, body = await get_json(session, f"{node.url}/api/stats/industries", headers=op)
    assert any(r["name"] == "汽车制造业" and r["identifiers"] >= 4 for r in body["industries"])

    status, body = await get_json(session, f"{node.url}/api/stats/enterprises", headers=op)
    assert idle in {r["prefix"] for r in body["without_identifiers"]}
    assert prefix not in {r["prefix"] for r in body["without_identifiers"]}

    url = f"{node.url}/api/stats/timeseries?metric=identifiers&interval=month"
    status, body = await get_json(session, url, headers=op)
    assert status == 200 and body["series"][-1]["value"] >= 4 and len(body["series"]) in (12, 13)

    async with session.get(f"{node.url}/api/stats/districts?format=csv", headers=op) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        raw = await resp.read()
    assert raw.startswith("\ufeff".encode())  # spreadsheet programs read UTF-8 with the mark
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0].keys() >= {"name", "enterprises", "identifiers", "resolutions"}
    assert any(r["name"] == "滨海县" and int(r["identifiers"]) >= 4 for r in rows)
    async with session.get(f"{node.url}/api/stats?format=csv", headers=op) as resp:
        summary = {
            r["figure"]: r["value"]
            for r in csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig")))
        }
    assert "enterprises.total" in summary and "target.progress" in summary


async def test_stats_api_refuses_and_rejects(node: Server, session: aiohttp.ClientSession) -> None:
    _, auth = await onboard(session, node)
    for path in ("districts", "industries", "enterprises", "timeseries"):
        assert (await get_json(session, f"{node.url}/api/stats/{path}"))[0] == 401
        assert (await get_json(session, f"{node.url}/api/stats/{path}", headers=auth))[0] == 403
    op = operator(node)
    for query in ("metric=bananas", "interval=week", "from=yesterday", "from=2026-02-01&to=2026-01-01"):
        status, body = await get_json(session, f"{node.url}/api/stats/timeseries?{query}", headers=op)
        assert status == 400 and body["responseCode"] == 4, body
    status, body = await get_json(session, f"{node.url}/api/stats/districts?format=xml", headers=op)
    assert status == 400 and "format" in body["message"]
