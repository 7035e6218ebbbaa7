"""The applications API end to end against a real node: submit with a licence, review, approve, and
the new enterprise's credential registers identifiers; the applicant collects its credential once;
upload limits; duplicates; who may do what."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Server
from tests.http.helpers import (
    PDF,
    application_fields,
    application_form,
    apply,
    basic,
    get_json,
    onboard,
    operator,
    post_json,
    put_values,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32) + b"\xff\xd9"
MAX_BYTES = 5 * 1024 * 1024  # the default licence_max_bytes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def step(
    session: aiohttp.ClientSession, node: Server, app_id: str, action: str, **body: Any
) -> dict[str, Any]:
    url = f"{node.url}/api/applications/{app_id}/{action}"
    status, answer = await post_json(session, url, json=body or None, headers=operator(node))
    assert status == 200, answer
    return answer


async def enterprises_total(session: aiohttp.ClientSession, node: Server) -> int:
    _, stats = await get_json(session, f"{node.url}/api/stats", headers=operator(node))
    return stats["enterprises"]["total"]


async def test_apply_review_approve_then_register(node: Server, session: aiohttp.ClientSession) -> None:
    before = await enterprises_total(session, node)
    app_id, token, application = await apply(session, node)
    assert application["state"] == "submitted"
    assert application["industry"] == {"code": "C3411", "name": "通用设备制造业"}
    assert application["licence"] == {
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    status, shown = await get_json(session, f"{node.url}/api/applications/{app_id}", headers=bearer(token))
    assert status == 200 and shown["application"]["state"] == "submitted"
    assert [(t["from"], t["to"], t["actor"]) for t in shown["transitions"]] == [
        (None, "submitted", "applicant")
    ]

    await step(session, node, app_id, "review")
    assert await enterprises_total(session, node) == before  # pending applications do not count
    approved = await step(session, node, app_id, "approve")
    assert await enterprises_total(session, node) == before + 1
    prefix = approved["enterprise"]["prefix"]
    assert approved["application"]["state"] == "approved"
    assert approved["application"]["enterprise_prefix"] == prefix
    assert approved["admin"]["username"] == f"300:{prefix}/ADMIN"
    assert set(approved) == {"responseCode", "application", "enterprise", "admin"}

    admin = basic(approved["admin"]["username"], approved["admin"]["secret"])
    value = [{"index": 1, "type": "URL", "data": "https://example.com/pump/1"}]
    status, body = await put_values(session, node, f"{prefix}/PUMP-1", value, admin, overwrite="false")
    assert status == 201, body
    status, shown = await get_json(session, f"{node.url}/api/applications/{app_id}", headers=operator(node))
    assert [(t["from"], t["to"]) for t in shown["transitions"]] == [
        (None, "submitted"),
        ("submitted", "under_review"),
        ("under_review", "approved"),
    ]
    assert all(t["actor"] == node.operator[0] for t in shown["transitions"][1:])


async def test_the_applicant_collects_its_credential_once(
    node: Server, session: aiohttp.ClientSession
) -> None:
    app_id, token, _ = await apply(session, node)
    url = f"{node.url}/api/applications/{app_id}/credential"
    await step(session, node, app_id, "review")
    status, body = await post_json(session, url, headers=bearer(token))
    assert status == 409 and body["responseCode"] == 2 and "under_review" in body["message"]
    approval = (await step(session, node, app_id, "approve"))["admin"]
    prefix = approval["username"].removeprefix("300:").removesuffix("/ADMIN")
    _, other_token, _ = await apply(session, node)
    for headers, expected in [
        ({}, (401, 402)),
        (bearer("guess"), (401, 402)),
        (bearer(other_token), (401, 402)),
        (operator(node), (403, 401)),  # the operator resets secrets instead
        (basic(approval["username"], approval["secret"]), (403, 401)),
    ]:
        status, body = await post_json(session, url, headers=headers)
        assert (status, body["responseCode"]) == expected and body["message"]

    async with session.post(url, headers=bearer(token)) as resp:
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        collected = await resp.json()
    assert set(collected) == {"responseCode", "username", "secret"}
    assert collected["username"] == approval["username"] and collected["secret"] != approval["secret"]
    value = [{"index": 1, "type": "URL", "data": "https://example.com/pump/1"}]
    old = basic(approval["username"], approval["secret"])
    status, body = await put_values(session, node, f"{prefix}/PUMP-1", value, old, overwrite="false")
    assert status == 401, body  # the secret the operator saw stops working
    new = basic(collected["username"], collected["secret"])
    status, body = await put_values(session, node, f"{prefix}/PUMP-1", value, new, overwrite="false")
    assert status == 201, body

    status, body = await post_json(session, url, headers=bearer(token))
    assert status == 409 and body["responseCode"] == 2 and "once" in body["message"]
    status, shown = await get_json(session, f"{node.url}/api/applications/{app_id}", headers=bearer(token))
    assert status == 200 and shown["application"]["credential_collected_at"]
    status, body = await put_values(session, node, f"{prefix}/PUMP-2", value, new, overwrite="false")
    assert status == 201, body  # the refused second collection changed nothing


async def test_licence_download_for_operator_and_applicant_only(
    node: Server, session: aiohttp.ClientSession
) -> None:
    app_id, token, _ = await apply(
        session,
        node,
        application_form(application_fields(), PNG, filename="scan.png", content_type="image/png"),
    )
    _, other_token, _ = await apply(session, node)
    url = f"{node.url}/api/applications/{app_id}/licence"
    for headers in (operator(node), bearer(token)):
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.headers["Content-Disposition"] == f'attachment; filename="{app_id}.png"'
            assert await resp.read() == PNG
    for headers in ({}, bearer(other_token), bearer("guess")):
        status, body = await get_json(session, url, headers=headers)
        assert status == 401 and body["responseCode"] == 402
    _, enterprise_admin = await onboard(session, node)
    assert (await get_json(session, url, headers=enterprise_admin))[0] == 403


@pytest.mark.parametrize(
    ("licence", "filename", "content_type", "stored_type"),
    [
        (PDF, "licence.png", "image/png", "application/pdf"),  # the content decides, not the name
        (JPEG, "licence", "application/octet-stream", "image/jpeg"),
        (PNG, "licence.pdf", "application/pdf", "image/png"),
    ],
)
async def test_type_is_taken_from_the_content(
    node: Server,
    session: aiohttp.ClientSession,
    licence: bytes,
    filename: str,
    content_type: str,
    stored_type: str,
) -> None:
    data = application_form(application_fields(), licence, filename=filename, content_type=content_type)
    _, _, application = await apply(session, node, data)
    assert application["licence"]["content_type"] == stored_type


@pytest.mark.parametrize(
    "licence",
    [
        b"MZ\x90\x00 a Windows executable named like a PDF",
        b"<html><script>alert(1)</script></html>",
        b"GIF89a\x01\x00\x01\x00",
        b" %PDF-1.4 with a leading space",
        b"",
    ],
)
async def test_other_types_are_refused_with_415(
    node: Server, session: aiohttp.ClientSession, licence: bytes
) -> None:
    values, before = application_fields(), await licence_files(node)
    status, body = await post_json(
        session, f"{node.url}/api/applications", data=application_form(values, licence, filename="x.pdf")
    )
    assert status == 415 and "PDF, PNG or JPEG" in body["message"]
    assert await licence_files(node) == before
    await apply(session, node, application_form(values))  # nothing was kept: the same USCC may apply


async def licence_files(node: Server) -> list[str]:
    directory = node.data_dir / "licences"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def test_size_limit_413_and_nothing_kept(node: Server, session: aiohttp.ClientSession) -> None:
    before = await licence_files(node)
    values = application_fields()
    too_big = PDF + bytes(MAX_BYTES + 1 - len(PDF))
    status, body = await post_json(
        session, f"{node.url}/api/applications", data=application_form(values, too_big)
    )
    assert status == 413 and body["responseCode"] == 4
    assert await licence_files(node) == before
    largest = PDF + bytes(MAX_BYTES - len(PDF))
    _, _, application = await apply(session, node, application_form(values, largest))
    assert application["licence"]["size"] == MAX_BYTES


@pytest.mark.parametrize(
    "filename",
    ["../../../../../../tmp/idnode-evil.pdf", "/etc/passwd", "..\\..\\evil.pdf", "licences/../../x.pdf", "."],
)
async def test_client_file_names_are_ignored(
    node: Server, session: aiohttp.ClientSession, filename: str
) -> None:
    before = set(await licence_files(node))
    app_id, _, _ = await apply(session, node, application_form(application_fields(), PDF, filename=filename))
    added = set(await licence_files(node)) - before
    assert len(added) == 1 and re.fullmatch(r"[0-9a-f]{32}\.pdf", added.pop())
    assert not Path("/tmp/idnode-evil.pdf").exists()
    assert not (node.data_dir.parent / "x.pdf").exists()
    async with session.get(f"{node.url}/api/applications/{app_id}/licence", headers=operator(node)) as resp:
        assert await resp.read() == PDF


async def test_malformed_submissions_are_refused(node: Server, session: aiohttp.ClientSession) -> None:
    url = f"{node.url}/api/applications"
    before = await licence_files(node)
    status, body = await post_json(session, url, json=application_fields())
    assert status == 400 and "multipart/form-data" in body["message"]
    status, body = await post_json(session, url, data=application_form(application_fields(), None))
    assert status == 400 and "licence" in body["message"]
    status, body = await post_json(session, url, data=application_form(application_fields(industry="X99")))
    assert status == 400 and "industry" in body["message"]
    twice = application_form(application_fields())
    twice.add_field("name", "另一个名称")
    status, body = await post_json(session, url, data=twice)
    assert status == 400 and "twice" in body["message"]
    assert await licence_files(node) == before


BOUNDARY = "b0undary"
LICENCE_PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="licence"; filename="x.pdf"\r\n\r\n'.encode()
    + PDF
    + b"\r\n"
)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", LICENCE_PART),  # no boundary
        ("multipart/form-data; boundary=", LICENCE_PART),
        (f"multipart/form-data; boundary={'x' * 71}", LICENCE_PART),  # longer than RFC 2046 allows
        (f"multipart/form-data; boundary={BOUNDARY}", b"no boundary anywhere"),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\n-2.2e+273--{BOUNDARY}--\r\n".encode(),
        ),
        (f"multipart/form-data; boundary={BOUNDARY}", LICENCE_PART + b"--"),  # cut off after the file
    ],
)
async def test_broken_multipart_framing_is_a_400_and_nothing_kept(
    node: Server, session: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    before = await licence_files(node)
    url = f"{node.url}/api/applications"
    status, answer = await post_json(session, url, data=body, headers={"Content-Type": content_type})
    assert status == 400 and answer["responseCode"] == 4, answer
    assert answer["message"].startswith("Malformed multipart/form-data body")
    assert await licence_files(node) == before


async def test_duplicate_uscc_and_reapplication_after_rejection(
    node: Server, session: aiohttp.ClientSession
) -> None:
    values = application_fields()
    app_id, token, _ = await apply(session, node, application_form(values))
    status, body = await post_json(session, f"{node.url}/api/applications", data=application_form(values))
    assert status == 409 and body["responseCode"] == 101
    assert "已有" in body["message"] and "already open" in body["message"]
    await step(session, node, app_id, "review")
    rejected = await step(session, node, app_id, "reject", reason="营业执照已过期 / licence expired")
    assert rejected["application"]["reason"] == "营业执照已过期 / licence expired"
    again_id, _, again = await apply(session, node, application_form(values))
    assert again_id != app_id and again["state"] == "submitted"
    status, shown = await get_json(session, f"{node.url}/api/applications/{app_id}", headers=bearer(token))
    assert shown["application"]["state"] == "rejected"


async def test_transitions_over_http(node: Server, session: aiohttp.ClientSession) -> None:
    app_id, token, _ = await apply(session, node)
    base = f"{node.url}/api/applications/{app_id}"
    status, body = await post_json(session, f"{base}/approve", headers=operator(node))
    assert status == 409 and body["responseCode"] == 2 and "submitted" in body["message"]
    status, body = await post_json(session, f"{base}/review", headers=bearer(token))
    assert status == 403
    status, body = await post_json(session, f"{base}/review")
    assert status == 401
    await step(session, node, app_id, "review")
    status, body = await post_json(session, f"{base}/reject", headers=operator(node))
    assert status == 400 and "reason" in body["message"]
    status, body = await post_json(
        session, f"{base}/withdraw", json={"reason": "j\x00"}, headers=bearer(token)
    )
    assert status == 400 and "non-printable" in body["message"]  # not a 500 from PostgreSQL
    status, body = await post_json(
        session, f"{base}/withdraw", json={"reason": "改日再申请"}, headers=bearer(token)
    )
    assert status == 200 and body["application"]["state"] == "withdrawn"
    status, body = await post_json(session, f"{base}/withdraw", headers=bearer(token))
    assert status == 409
    for unknown in ("0" * 32, "a%00b"):  # NUL: not looked up (PostgreSQL would fail the query)
        status, body = await post_json(
            session, f"{node.url}/api/applications/{unknown}/review", headers=operator(node)
        )
        assert status == 404 and body["responseCode"] == 100


async def test_operator_lists_by_state(node: Server, session: aiohttp.ClientSession) -> None:
    first, _, _ = await apply(session, node)
    second, _, _ = await apply(session, node)
    await step(session, node, second, "review")
    url = f"{node.url}/api/applications"
    status, body = await get_json(
        session, url, params={"state": "under_review", "pageSize": "1000"}, headers=operator(node)
    )
    assert status == 200
    ids = [a["id"] for a in body["applications"]]
    assert second in ids and first not in ids and body["totalCount"] == len(ids)
    assert all(a["state"] == "under_review" for a in body["applications"])
    status, body = await get_json(session, url, params={"state": "bogus"}, headers=operator(node))
    assert status == 400
    status, body = await get_json(session, url, params={"pageSize": "1"}, headers=operator(node))
    assert len(body["applications"]) == 1 and body["totalCount"] >= 2
    assert (await get_json(session, url))[0] == 401
    _, enterprise_admin = await onboard(session, node)
    assert (await get_json(session, url, headers=enterprise_admin))[0] == 403


async def test_stats_and_metrics_count_applications_by_state(
    node: Server, session: aiohttp.ClientSession
) -> None:
    async def figures() -> tuple[dict[str, int], str]:
        _, stats = await get_json(session, f"{node.url}/api/stats", headers=operator(node))
        async with session.get(f"{node.url}/metrics", headers=operator(node)) as resp:
            return stats["applications"], await resp.text()

    before, _ = await figures()
    app_id, _, _ = await apply(session, node)
    await step(session, node, app_id, "review")
    after, metrics = await figures()
    assert after["under_review"] == before["under_review"] + 1 and after["submitted"] == before["submitted"]
    assert set(after) == {"submitted", "under_review", "approved", "rejected", "withdrawn"}
    assert f'idnode_applications{{state="under_review"}} {float(after["under_review"])}' in metrics
    assert re.search(r"^idnode_notifications_pending \d", metrics, re.MULTILINE)
    assert re.search(r"^idnode_upstream_pending_reports \d", metrics, re.MULTILINE)


async def test_the_form_lists_districts_industries_and_licence_limits(
    node: Server, session: aiohttp.ClientSession
) -> None:
    status, body = await get_json(session, f"{node.url}/api/applications/form")  # no credentials needed
    assert status == 200 and "盐南高新区" in body["districts"] and len(body["districts"]) == 11
    sections = {s["code"]: s for s in body["industries"]}
    assert len(sections) == 20 and sections["C"]["name"] == "制造业"
    assert {"code": "C34", "name": "通用设备制造业"} in sections["C"]["divisions"]
    assert len(sections["C"]["divisions"]) == 31
    assert body["licence"] == {
        "types": ["application/pdf", "image/png", "image/jpeg"],
        "max_bytes": MAX_BYTES,
    }
