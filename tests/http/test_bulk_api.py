"""``POST /api/bulk``: CSV and JSON Lines uploads against a running node (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from tests.conftest import Server
from tests.http.helpers import Credentials, basic, get_json, onboard, operator

CSV = "text/csv"


async def upload(
    session: aiohttp.ClientSession,
    node: Server,
    body: bytes,
    auth: Credentials | None,
    content_type: str = CSV,
    **params: str,
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type, **(auth or {})}
    async with session.post(f"{node.url}/api/bulk", data=body, headers=headers, params=params) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


async def values_of(session: aiohttp.ClientSession, node: Server, handle: str) -> dict[int, Any] | None:
    status, body = await get_json(session, f"{node.url}/api/handles/{handle}")
    return {v["index"]: v["data"]["value"] for v in body["values"]} if status == 200 else None


def counts(body: dict[str, Any]) -> tuple[int, int, int, int]:
    return body["created"], body["updated"], body["unchanged"], body["failed"]


async def test_a_gbk_csv_upload_registers_its_rows_and_lists_the_failed_ones(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    text = "标识后缀,网址,GS1,型号\nP-1,https://example.com/1,(01)09506000134352,离心泵\n,https://x,,\nP-2,https://example.com/2,,\nP-1,,,\n"
    status, body = await upload(session, node, text.encode("gbk"), auth, prefix=prefix)
    assert status == 200 and body["responseCode"] == 1 and body["dryRun"] is False
    assert counts(body) == (2, 0, 0, 2)
    assert body["failures"] == [
        {"row": 3, "handle": "", "responseCode": 102, "message": "The row has no suffix."},
        {
            "row": 5,
            "handle": f"{prefix}/P-1",
            "responseCode": 101,
            "message": f"Handle {prefix}/P-1 appears more than once in the file (first in row 2).",
        },
    ]
    assert body["failuresTruncated"] is False
    stored = await values_of(session, node, f"{prefix}/P-1")
    assert stored is not None
    assert (stored[1], stored[3], stored[4]) == (
        "https://example.com/1",
        '{"型号":"离心泵"}',
        "(01)09506000134352",
    )
    assert 400 in stored  # signed
    status, again = await upload(session, node, text.encode("gbk"), auth, prefix=prefix)
    assert status == 200 and counts(again) == (0, 0, 2, 2)


async def test_json_lines_uploads_create_and_update(node: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboard(session, node)
    lines = [
        {"suffix": "J-1", "url": "https://example.com/j1", "colour": "红"},
        {
            "handle": f"{prefix}/J-2",
            "values": [{"index": 1, "type": "URL", "data": "https://example.com/j2"}],
        },
        {"suffix": "J-3", "values": [{"index": 1, "type": "URL"}]},
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    status, first = await upload(session, node, body, auth, "application/x-ndjson", prefix=prefix)
    assert status == 200 and counts(first) == (2, 0, 0, 1)
    assert [(f["row"], f["handle"], f["responseCode"]) for f in first["failures"]] == [
        (3, f"{prefix}/J-3", 202)
    ]
    moved_url = {"suffix": "J-1", "url": "https://example.com/j1-moved", "colour": "红"}
    changed = orjson.dumps(moved_url) + b'\n{"suffix": "J-2"}\n'
    status, second = await upload(session, node, changed, auth, "application/jsonl", prefix=prefix)
    assert status == 200 and counts(second) == (0, 2, 0, 0)
    assert (await values_of(session, node, f"{prefix}/J-1") or {})[1] == "https://example.com/j1-moved"
    moved = await values_of(session, node, f"{prefix}/J-2")
    assert moved is not None and sorted(moved) == [100, 400]  # the row owns index 1 and left it empty


async def test_a_dry_run_answers_what_would_happen_and_writes_nothing(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    body = b"suffix,url\nD-1,https://example.com/d1\nD-2,https://example.com/d2\n"
    status, dry = await upload(session, node, body, auth, prefix=prefix, dryRun="true")
    assert status == 200 and dry["dryRun"] is True and counts(dry) == (2, 0, 0, 0)
    assert await values_of(session, node, f"{prefix}/D-1") is None
    status, real = await upload(session, node, body, auth, prefix=prefix)
    assert counts(real) == (2, 0, 0, 0)


async def test_only_the_enterprise_and_the_operator_may_upload(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    _, other = await onboard(session, node)
    body = b"suffix,url\nA-1,https://example.com/a1\n"
    async with session.post(
        f"{node.url}/api/bulk", data=body, headers={"Content-Type": CSV}, params={"prefix": prefix}
    ) as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="handle"'
        assert (await resp.json())["responseCode"] == 402
    status, wrong = await upload(session, node, body, basic(auth.username, "not-the-secret"), prefix=prefix)
    assert (status, wrong["responseCode"]) == (401, 402)
    status, refused = await upload(session, node, body, other, prefix=prefix)
    assert (status, refused["responseCode"]) == (403, 401)
    assert "may not write under prefix" in refused["message"]
    assert await values_of(session, node, f"{prefix}/A-1") is None
    status, done = await upload(session, node, body, operator(node), prefix=prefix)
    assert status == 200 and counts(done) == (1, 0, 0, 0)


async def test_bad_requests_are_refused_with_a_json_error(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    cases: list[tuple[bytes, str, dict[str, str], str]] = [
        (b"suffix\nx\n", CSV, {}, "Name the enterprise prefix"),
        (b"suffix\nx\n", "application/json", {"prefix": prefix}, "Content-Type must be one of text/csv"),
        (b"suffix\n\xff\xfe\x80\x80\n", CSV, {"prefix": prefix}, "neither UTF-8 nor GBK"),
        (b"url\nhttps://x\n", CSV, {"prefix": prefix}, "needs a 'suffix' column"),
        (b"suffix\nx\n", CSV, {"prefix": prefix, "dryRun": "perhaps"}, "dryRun must be true or false"),
    ]
    for body, content_type, params, message in cases:
        status, answer = await upload(session, node, body, auth, content_type, **params)
        assert status == 400 and message in answer["message"], answer
    status, answer = await upload(session, node, b"suffix\nx\n", auth, prefix=prefix, template="pump@7")
    assert (status, answer["responseCode"]) == (404, 100) and "No template pump@7" in answer["message"]
    assert await values_of(session, node, f"{prefix}/x") is None


async def test_large_bodies_stream_and_failures_are_capped(
    node: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(session, node)
    note = "说明" * 1000  # 6 kB a row: 1,000 rows are more than the 4 MiB a JSON request may carry
    rows = [f"L-{n:04d},https://example.com/l/{n},{note}" for n in range(1000)]
    body = ("suffix,url,note\n" + "\n".join(rows) + "\n" + ",x,\n" * 1200).encode()
    assert len(body) > 5 * 2**20
    status, answer = await upload(session, node, body, auth, prefix=prefix)
    assert status == 200 and counts(answer) == (1000, 0, 0, 1200)
    assert len(answer["failures"]) == 1000 and answer["failuresTruncated"] is True
    assert answer["failures"][0]["row"] == 1002 and answer["failures"][-1]["row"] == 2001
    stored = await values_of(session, node, f"{prefix}/L-0999")
    assert stored is not None and stored[3] == f'{{"note":"{note}"}}'
