"""Applying from the portal and reviewing in the console, against a real node: the form with its
licence upload, the applicant's status page, the operator's queue, approval (the enterprise then
signs in with the credential shown once), the applicant's one-time collection of its credential,
rejection with a reason, and the refusals."""

from __future__ import annotations

import pytest

from tests.conftest import Server
from tests.http.portal_client import PNG, Portal, application_fields, apply, csrf_of, marked, signed_in


@pytest.fixture
def console(node: Server) -> Portal:
    return signed_in(node, *node.operator, area="console")


def submitted(node: Server, **changes: str) -> tuple[str, str]:
    applicant = apply(node, application_fields(**changes))
    assert applicant.status == 201, marked(applicant.page, "message")
    return marked(applicant.page, "application-id")[0], marked(applicant.page, "application-token")[0]


def status(node: Server, application_id: str, token: str, **extra: str) -> Portal:
    applicant = Portal(node)
    applicant.get("/portal/application")
    applicant.post("/portal/application", {"id": application_id, "token": token, **extra})
    return applicant


def test_apply_then_approve_then_the_enterprise_signs_in(node: Server, console: Portal) -> None:
    application_id, token = submitted(node)
    assert marked(status(node, application_id, token).page, "application-state") == ["已提交"]
    queue = console.get("/console/applications").text
    assert f'data-testid="application-{application_id}"' in queue
    detail = console.get(f"/console/applications/{application_id}").text
    assert 'data-testid="licence-image"' in detail and "C34" in detail
    licence = console.get(f"/console/applications/{application_id}/licence")
    assert licence.headers["Content-Type"] == "image/png" and licence.content.startswith(b"\x89PNG")
    console.post(f"/console/applications/{application_id}/review", {})
    assert marked(console.page, "application-state") == ["审核中"]
    console.post(f"/console/applications/{application_id}/approve", {})
    prefix, username, secret = (
        marked(console.page, name)[0] for name in ("admin-prefix", "admin-username", "admin-secret")
    )
    assert username == f"300:{prefix}/ADMIN" and marked(console.page, "application-state") == ["已通过"]
    assert marked(status(node, application_id, token).page, "application-prefix") == [prefix]
    enterprise = signed_in(node, username, secret)
    assert prefix in enterprise.get("/portal/stats").text


def test_the_approved_applicant_collects_its_credential_once(node: Server, console: Portal) -> None:
    application_id, token = submitted(node)
    assert 'data-testid="collect-credential"' not in status(node, application_id, token).page
    console.get(f"/console/applications/{application_id}")
    console.post(f"/console/applications/{application_id}/review", {})
    console.post(f"/console/applications/{application_id}/approve", {})
    username, approval_secret = (
        marked(console.page, "admin-username")[0],
        marked(console.page, "admin-secret")[0],
    )
    assert "失效" in marked(console.page, "admin-credential-note")[0]  # the operator is told
    handed_on = signed_in(node, username, approval_secret)  # the operator passed it on meanwhile

    applicant = status(node, application_id, token)
    assert 'data-testid="collect-credential"' in applicant.page
    collect = {"id": application_id, "token": token, "action": "collect"}
    forged = applicant.post("/portal/application", collect, csrf="forged")
    assert forged.status_code == 403
    signed_in(node, username, approval_secret)  # the forged form collected nothing
    applicant = status(node, application_id, token)
    collected = applicant.post("/portal/application", collect)
    assert collected.status_code == 200 and "请立即妥善保存" in collected.text
    assert marked(collected.text, "credential-username") == [username]
    secret = marked(collected.text, "credential-secret")[0]
    assert secret != approval_secret and 'data-testid="collect-credential"' not in collected.text
    enterprise = signed_in(node, username, secret)
    assert "/login" not in enterprise.get("/portal/stats").url
    assert handed_on.get("/portal/stats").url.endswith("/portal/login")  # its session ended
    assert Portal(node).sign_in(username, approval_secret).status_code == 401

    again = applicant.post("/portal/application", collect)  # the form sent again
    assert again.status_code == 409 and "已领取" in marked(again.text, "message")[0]
    assert secret not in again.text
    later = status(node, application_id, token).page
    assert marked(later, "credential-collected") and secret not in later
    english = Portal(node)
    english.http.cookies.set("idnode_lang", "en")
    english.get("/portal/application")
    english.post("/portal/application", {"id": application_id, "token": token})
    assert "collected at" in marked(english.page, "credential-collected")[0]


def test_rejection_needs_a_reason_which_the_applicant_sees(node: Server, console: Portal) -> None:
    application_id, token = submitted(node)
    console.get(f"/console/applications/{application_id}")
    console.post(f"/console/applications/{application_id}/review", {})
    refused = console.post(f"/console/applications/{application_id}/reject", {"reason": ""})
    assert refused.status_code == 400 and "reason" in marked(refused.text, "message")[0]
    console.post(f"/console/applications/{application_id}/reject", {"reason": "营业执照不清晰"})
    assert marked(console.page, "application-state") == ["已驳回"]
    page = status(node, application_id, token).page
    assert marked(page, "application-state") == ["已驳回"] and "营业执照不清晰" in page
    again = console.post(f"/console/applications/{application_id}/approve", {})
    assert again.status_code == 400 and marked(again.text, "message")  # rejected is final


def test_the_applicant_may_withdraw_with_the_token_only(node: Server) -> None:
    application_id, token = submitted(node)
    wrong = status(node, application_id, "not-the-token")
    assert wrong.page and marked(wrong.page, "message") and not marked(wrong.page, "application-state")
    withdrawn = status(node, application_id, token, action="withdraw").page
    assert marked(withdrawn, "application-state") == ["已撤回"] and 'data-testid="withdraw"' not in withdrawn


def test_bad_applications_are_refused_with_the_answers_kept(node: Server) -> None:
    bad_phone = apply(node, application_fields(contact_phone="12345", name="保留的名称"))
    assert bad_phone.status == 400 and "contact_phone" in marked(bad_phone.page, "message")[0]
    assert 'value="保留的名称"' in bad_phone.page
    not_an_image = apply(node, application_fields(), ("licence.png", b"<html>not an image</html>"))
    assert not_an_image.status == 400 and marked(not_an_image.page, "message")
    missing = apply(node, application_fields(), None)
    assert missing.status == 400 and marked(missing.page, "message") == [
        "请上传营业执照（PDF、PNG 或 JPEG）。"
    ]
    uscc = application_fields()["uscc"]
    assert apply(node, application_fields(uscc=uscc)).status == 201
    twice = apply(node, application_fields(uscc=uscc))
    assert twice.status == 400 and uscc in marked(twice.page, "message")[0]


def test_refusals_csrf_and_roles(node: Server, console: Portal) -> None:
    applicant = Portal(node)
    sent = applicant.http.post(
        f"{node.url}/portal/apply", data=application_fields(), files={"licence": ("l.png", b"x")}, timeout=30
    )
    assert sent.status_code == 403
    application_id, _ = submitted(node)
    console.get(f"/console/applications/{application_id}")
    assert (
        console.post(f"/console/applications/{application_id}/review", {}, csrf="forged").status_code == 403
    )
    assert marked(console.get(f"/console/applications/{application_id}").text, "application-state") == [
        "已提交"
    ]
    assert Portal(node).get("/console/applications").url.endswith("/console/login")
    anonymous = Portal(node).http.get(f"{node.url}/console/applications/{application_id}/licence", timeout=30)
    assert anonymous.url.endswith("/console/login")
    prefix, secret = submitted_and_approved(node, console)
    enterprise = signed_in(node, prefix, secret)
    assert enterprise.get(f"/console/applications/{application_id}/licence").status_code == 403


def submitted_and_approved(node: Server, console: Portal) -> tuple[str, str]:
    application_id, _ = submitted(node)
    console.get(f"/console/applications/{application_id}")
    console.post(f"/console/applications/{application_id}/review", {})
    console.post(f"/console/applications/{application_id}/approve", {})
    return marked(console.page, "admin-prefix")[0], marked(console.page, "admin-secret")[0]


def test_markup_in_application_fields_is_rendered_inert(node: Server, console: Portal) -> None:
    payload = '"><img src=x onerror=alert(1)><script>alert(1)</script>'
    application_id, token = submitted(
        node, name=payload, contact_name=payload, intended_use=payload, contact_email="x@example.com"
    )
    pages = [
        console.get("/console/applications").text,
        console.get(f"/console/applications/{application_id}").text,
        status(node, application_id, token).page,
        apply(node, application_fields(name=payload, contact_phone="1")).page,
    ]
    for page in pages:
        assert payload not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_broken_application_form_body_is_a_400_and_keeps_no_licence(node: Server) -> None:
    applicant = Portal(node)
    applicant.get("/portal/apply")
    boundary, token = "b0undary", csrf_of(applicant.page)
    body = (
        (  # the CSRF field, the licence file, then the body ends without its closing boundary
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="licence"; filename="l.png"\r\n\r\n'
        ).encode()
        + PNG
        + b"\r\n--"
    )
    licences = node.data_dir / "licences"
    before = sorted(licences.iterdir()) if licences.exists() else []
    answer = applicant.post_multipart("/portal/apply", body, boundary)
    assert answer.status_code == 400 and "Malformed multipart/form-data body" in answer.text
    assert (sorted(licences.iterdir()) if licences.exists() else []) == before
