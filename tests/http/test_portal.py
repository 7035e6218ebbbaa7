"""The enterprise portal against a real node (SQLite and PostgreSQL): sign-in sessions, the template
form, edit and delete, bulk upload with its error report, QR codes, statistics, and the refusals:
CSRF, other enterprises' identifiers, upload limits, and injected markup rendered inert."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import Server, start_server, stop_server
from tests.http.portal_client import Portal, csrf_of, marked, onboard, signed_in

PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;")
SOLAR = {
    "template": "solar-module@1",
    "m.manufacturer": "阿特斯阳光电力集团股份有限公司",
    "m.model": "CS7N-700TB-AG",
    "m.serialNumber": "CS7N2603180001234",
    "m.manufactureDate": "2026-03-18",
    "m.cellType": "TOPCon",
    "m.ratedPower": "700",
    "m.dimensions": '{"length":2384,"width":1303,"thickness":33}',
    "m.weight": "37.8",
}


def resolve(node: Server, handle: str) -> requests.Response:
    return requests.get(f"{node.url}/api/handles/{quote(handle, safe='/')}", timeout=30)


def values_by_type(node: Server, handle: str) -> dict[str, str]:
    answer = resolve(node, handle)
    assert answer.status_code == 200, answer.text
    return {v["type"]: v["data"]["value"] for v in answer.json()["values"]}


@pytest.fixture
def enterprise(node: Server) -> tuple[str, str]:
    return onboard(node)


@pytest.fixture
def portal(node: Server, enterprise: tuple[str, str]) -> Portal:
    return signed_in(node, *enterprise)


def register(portal: Portal, suffix: str, fields: dict[str, str]) -> requests.Response:
    portal.get(f"/portal/register?template={fields.get('template', '')}")
    return portal.post("/portal/register", {"suffix": suffix, **fields})


# -- sign-in ---------------------------------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_and_lands_on_the_list(
    node: Server, enterprise: tuple[str, str]
) -> None:
    prefix, secret = enterprise
    portal = Portal(node)
    assert portal.get("/portal/identifiers").url.endswith("/portal/login")  # not signed in yet
    answer = portal.sign_in(prefix, secret)
    assert answer.url.endswith("/portal/identifiers")
    assert marked(answer.text, "total") == ["1"] and f"{prefix}/ADMIN" in answer.text  # as the Handle listing
    cookie = answer.history[0].headers["Set-Cookie"]
    assert "idnode_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    full = signed_in(node, f"300:{prefix}/ADMIN", secret)  # the Handle username works too
    assert full.get("/portal/stats").status_code == 200


def test_wrong_secret_is_refused_and_repeated_failures_lock_the_account(
    node: Server, enterprise: tuple[str, str]
) -> None:
    prefix, secret = enterprise
    portal = Portal(node)
    for _ in range(10):  # login_failures_per_account
        answer = portal.sign_in(prefix, "wrong-secret")
        assert answer.status_code == 401 and marked(answer.text, "message") == ["用户名或密码错误。"]
    locked = portal.sign_in(prefix, secret)  # even the right secret, while locked
    assert locked.status_code == 429 and "5 分钟" in marked(locked.text, "message")[0]
    assert int(locked.headers["Retry-After"]) <= 300
    assert portal.get("/portal/identifiers").url.endswith("/portal/login")


def test_logout_ends_the_session_even_for_a_kept_cookie(node: Server, portal: Portal) -> None:
    kept = portal.http.cookies.get("idnode_session")
    portal.get("/portal/identifiers")
    answer = portal.post("/portal/logout", {})
    assert answer.url.endswith("/portal/login")
    replay = requests.get(
        f"{node.url}/portal/identifiers", cookies={"idnode_session": kept}, allow_redirects=False, timeout=30
    )
    assert replay.status_code == 303 and replay.headers["Location"] == "/portal/login"


def test_password_change_checks_the_current_one_and_signs_out_other_sessions(
    node: Server, enterprise: tuple[str, str]
) -> None:
    prefix, secret = enterprise
    first, second = signed_in(node, prefix, secret), signed_in(node, prefix, secret)
    first.get("/portal/password")
    wrong = first.post(
        "/portal/password", {"current": "nope", "new": "a-new-pass-1234", "repeat": "a-new-pass-1234"}
    )
    assert wrong.status_code == 400
    short = first.post("/portal/password", {"current": secret, "new": "short", "repeat": "short"})
    assert short.status_code == 400 and "12" in marked(short.text, "message")[0]
    done = first.post(
        "/portal/password", {"current": secret, "new": "a-new-pass-1234", "repeat": "a-new-pass-1234"}
    )
    assert done.status_code == 200 and marked(done.text, "message") == ["密码已修改，其他会话已退出。"]
    assert first.get("/portal/identifiers").url.endswith("/portal/identifiers")  # this session goes on
    assert second.get("/portal/identifiers").url.endswith("/portal/login")  # the other one ended
    basic = (f"300%3A{prefix}/ADMIN", "a-new-pass-1234")
    listing = requests.get(f"{node.url}/api/handles", params={"prefix": prefix}, auth=basic, timeout=30)
    assert listing.status_code == 200  # the same credential store as Basic
    old = requests.get(
        f"{node.url}/api/handles", params={"prefix": prefix}, auth=(basic[0], secret), timeout=30
    )
    assert old.status_code == 401


def test_the_operators_secret_reset_ends_the_enterprises_sessions(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    user, secret = node.operator
    reset = requests.post(
        f"{node.url}/api/enterprises/{enterprise[0]}/secret", auth=(quote(user, safe="/"), secret), timeout=30
    )
    assert reset.status_code == 200
    assert portal.get("/portal/identifiers").url.endswith("/portal/login")


def test_language_defaults_to_chinese_and_toggles_to_english(portal: Portal) -> None:
    page = portal.get("/portal/identifiers").text
    assert '<html lang="zh-CN">' in page and "我的标识" in page
    english = portal.get("/portal/identifiers?lang=en").text
    assert '<html lang="en">' in english and "My identifiers" in english
    assert "My identifiers" in portal.get("/portal/stats").text  # remembered in a cookie


# -- identifiers -----------------------------------------------------------------------------------


def test_register_through_the_template_form_edit_and_delete(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    form = portal.get("/portal/register?template=solar-module@1").text
    assert 'for="m.ratedPower"' in form and "额定功率" in form and "(Wp)" in form  # x-title and x-unit
    assert '<option value="TOPCon"' in form  # an enum is a choice
    bad = register(portal, "CS7N-1", {**SOLAR, "m.ratedPower": "-5", "m.cellCount": "many"})
    assert bad.status_code == 400
    assert marked(bad.text, "problem-m.cellCount") == ["'many' is not a valid integer"]
    assert 'value="CS7N-700TB-AG"' in bad.text  # what was typed is kept
    bad = register(portal, "CS7N-1", {**SOLAR, "m.ratedPower": "-5", "m.model": ""})
    assert marked(bad.text, "problem-m.ratedPower") == ["-5 is less than the minimum of 0"]
    assert marked(bad.text, "problem-m.model") == ["required field is missing"]
    assert resolve(node, f"{prefix}/CS7N-1").status_code == 404  # nothing stored

    saved = register(portal, "CS7N-1", {**SOLAR, "url": "https://example.com/m/1"})
    assert saved.status_code == 200 and marked(saved.text, "notice")
    stored = values_by_type(node, f"{prefix}/CS7N-1")
    assert stored["TEMPLATE"] == "solar-module@1" and stored["URL"] == "https://example.com/m/1"
    assert '"ratedPower":700' in stored["METADATA"] and '"length":2384' in stored["METADATA"]
    assert f"{prefix}/CS7N-1" in portal.get("/portal/identifiers").text
    again = register(portal, "CS7N-1", SOLAR)
    assert again.status_code == 400 and "exists" in marked(again.text, "message")[0]

    edit = portal.get(f"/portal/record/edit?h={prefix}/CS7N-1").text
    assert 'value="CS7N-700TB-AG"' in edit and 'value="https://example.com/m/1"' in edit
    fields = {k: v for k, v in SOLAR.items() if k != "template"}
    changed = portal.post(f"/portal/record/edit?h={prefix}/CS7N-1", {**fields, "m.model": "CS7N-710TB-AG"})
    assert changed.status_code == 200
    stored = values_by_type(node, f"{prefix}/CS7N-1")
    assert '"model":"CS7N-710TB-AG"' in stored["METADATA"] and "URL" not in stored  # emptied: removed

    confirm = portal.get(f"/portal/record/delete?h={prefix}/CS7N-1")
    assert f"{prefix}/CS7N-1" in marked(confirm.text, "confirm-delete")[0] or "CS7N-1" in confirm.text
    gone = portal.post(f"/portal/record/delete?h={prefix}/CS7N-1", {})
    assert gone.url.split("?")[0].endswith("/portal/identifiers") and marked(gone.text, "notice")
    assert resolve(node, f"{prefix}/CS7N-1").status_code == 404


def test_list_pages_and_searches_own_identifiers(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    rows = "suffix,serialNumber,url,产品名称,manufacturer,manufactureDate\n" + "".join(
        f"P-{n:03},SN{n:03},https://e.com/{n},水泵,盐城泵业,2026-01-0{1 + n % 9}\n" for n in range(55)
    )
    assert marked(upload(portal, "p.csv", rows, template="generic-product@1").text, "created") == ["55"]
    first = portal.get("/portal/identifiers").text
    assert marked(first, "total") == ["56"] and len(re.findall(r'<li><a href="/portal/record', first)) == 50
    second = portal.get("/portal/identifiers?page=1").text  # the other five and <prefix>/ADMIN
    assert len(re.findall(r'<li><a href="/portal/record', second)) == 6
    found = portal.get("/portal/identifiers?by=serialNumber&q=SN007").text
    assert marked(found, "total") == ["1"] and f"{prefix}/P-007" in found
    by_url = portal.get("/portal/identifiers?by=URL&q=https://e.com/1*").text
    assert marked(by_url, "total") == ["11"]  # 1 and 10-19


def test_record_page_has_server_made_qr_codes(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    register(portal, "RICE-1", {"url": "https://example.com/rice", "gs1": "(01)09506000134352(10)LOT7"})
    page = portal.get(f"/portal/record?h={prefix}/RICE-1").text
    assert 'data-testid="qr-handle"' in page and 'data-testid="qr-gs1"' in page
    svg = portal.get(f"/portal/record/qr.svg?h={prefix}/RICE-1&kind=handle")
    assert svg.headers["Content-Type"].startswith("image/svg+xml") and "<path" in svg.text
    assert f"<title>{node.url}/api/handles/{prefix}/RICE-1</title>" in svg.text
    gs1 = portal.get(f"/portal/record/qr.svg?h={prefix}/RICE-1&kind=gs1").text
    assert f"<title>{node.url}/01/09506000134352/10/LOT7</title>" in gs1
    assert (
        requests.get(f"{node.url}/01/09506000134352/10/LOT7", allow_redirects=False, timeout=30).status_code
        == 307
    )


def test_own_statistics(node: Server, portal: Portal, enterprise: tuple[str, str]) -> None:
    prefix = enterprise[0]
    register(portal, "S-1", {"url": "https://example.com/s"})
    page = portal.get("/portal/stats").text
    assert marked(page, "identifiers") == ["1"] and prefix in page
    assert len(re.findall(r'data-testid="day-', page)) == 30


# -- bulk upload -----------------------------------------------------------------------------------


def upload(portal: Portal, name: str, content: str | bytes, *, template: str = "") -> requests.Response:
    portal.get("/portal/upload")
    return portal.http.post(
        portal.node.url + "/portal/upload",
        data={"csrf": csrf_of(portal.page), "template": template},
        files={"file": (name, content)},
        timeout=120,
    )


def test_upload_with_a_bad_row_shows_progress_and_an_error_report(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    content = (
        "后缀,网址,GS1\n"
        "U-1,https://example.com/1,\n"
        "U-2,https://example.com/2,(01)09506000134353\n"  # wrong check digit
        "U-3,https://example.com/3,\n"
    )
    answer = upload(portal, "products.csv", content)
    assert answer.status_code == 200
    assert marked(answer.text, "created") == ["2"] and marked(answer.text, "failed") == ["1"]
    assert 'data-testid="progress"' in answer.text and 'value="3"' in answer.text
    failure = re.search(r'data-testid="failure"><td>(\d+)</td><td>([^<]*)</td>', answer.text)
    assert failure and failure.groups() == ("3", f"{prefix}/U-2")
    report_url = re.search(r'href="(/portal/upload/report\?id=[^"]+)"', answer.text).group(1)
    report = portal.get(report_url)
    assert (
        report.headers["Content-Type"].startswith("text/csv")
        and "attachment" in report.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert rows[0] == ["row", "handle", "responseCode", "message"] and rows[1][:3] == [
        "3",
        f"{prefix}/U-2",
        "202",
    ]
    assert (
        resolve(node, f"{prefix}/U-1").status_code == 200
        and resolve(node, f"{prefix}/U-2").status_code == 404
    )

    other = signed_in(node, *onboard(node))  # another enterprise cannot fetch the report
    assert other.get(report_url).status_code == 404


def test_upload_refuses_other_file_types_and_keeps_the_name_out_of_paths(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    for name in ("evil.exe", "products.csv.exe", "noextension"):
        answer = upload(portal, name, "suffix\nX-1\n")
        assert answer.status_code == 415 and marked(answer.text, "message") == [
            "只接受 .csv 或 .jsonl 文件。"
        ]
    tricky = upload(portal, "../../../../tmp/idnode-portal-trick.csv", "suffix,url\nT-1,https://e.com/t\n")
    assert tricky.status_code == 200 and marked(tricky.text, "created") == ["1"]
    assert not Path("/tmp/idnode-portal-trick.csv").exists()
    assert not list(node.data_dir.glob("**/idnode-portal-trick*"))
    unreadable = upload(portal, "binary.csv", b"\xff\xfe\x00\x81garbage")
    assert unreadable.status_code == 400 and resolve(node, f"{prefix}/T-1").status_code == 200


def test_a_broken_upload_body_is_a_400(portal: Portal) -> None:
    portal.get("/portal/upload")
    boundary = "b0undary"
    body = (  # the CSRF field, then a file part whose headers never end
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf_of(portal.page)}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\nsuffix\r\n'
    ).encode()
    answer = portal.post_multipart("/portal/upload", body, boundary)
    assert answer.status_code == 400 and "Malformed multipart/form-data body" in answer.text


@pytest.fixture(scope="module")
def small_upload_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    os.environ["IDNODE_PORTAL_UPLOAD_BYTES"] = "2048"
    try:
        running = start_server(tmp_path_factory.mktemp("small"))
    finally:
        del os.environ["IDNODE_PORTAL_UPLOAD_BYTES"]
    yield running
    stop_server(running)


def test_upload_larger_than_the_limit_is_refused_whole(small_upload_node: Server) -> None:
    node = small_upload_node
    prefix, secret = onboard(node)
    portal = signed_in(node, prefix, secret)
    rows = "suffix\n" + "".join(f"BIG-{n:05}\n" for n in range(400))  # about 4 KiB
    answer = upload(portal, "big.csv", rows)
    assert answer.status_code == 413 and "2 KiB" in marked(answer.text, "message")[0]
    assert marked(portal.get("/portal/identifiers").text, "total") == ["1"]  # <prefix>/ADMIN only
    assert upload(portal, "small.csv", "suffix\nSMALL-1\n").status_code == 200


# -- refusals --------------------------------------------------------------------------------------


def test_forms_without_the_session_csrf_token_are_refused(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    portal.get("/portal/register")
    for token in ("", "forged-token"):
        answer = portal.post("/portal/register", {"suffix": "CSRF-1", "url": "https://e.com"}, csrf=token)
        assert answer.status_code == 403 and marked(answer.text, "error")
        assert resolve(node, f"{prefix}/CSRF-1").status_code == 404
    register(portal, "CSRF-2", {"url": "https://e.com"})
    assert portal.post(f"/portal/record/delete?h={prefix}/CSRF-2", {}, csrf="forged").status_code == 403
    assert resolve(node, f"{prefix}/CSRF-2").status_code == 200
    sent = portal.http.post(
        f"{node.url}/portal/upload", files={"file": ("a.csv", "suffix\nCSRF-3\n")}, timeout=30
    )
    assert sent.status_code == 403 and resolve(node, f"{prefix}/CSRF-3").status_code == 404
    assert portal.post("/portal/logout", {}, csrf="forged").status_code == 403
    assert portal.get("/portal/identifiers").url.endswith("/portal/identifiers")  # still signed in
    fresh = Portal(node)  # a sign-in form posted without the token its page set
    login = fresh.http.post(f"{node.url}/portal/login", data={"username": prefix, "secret": "x"}, timeout=30)
    assert login.status_code == 403


def test_another_enterprises_identifiers_cannot_be_seen_or_changed(node: Server, portal: Portal) -> None:
    other_prefix, other_secret = onboard(node)
    other = signed_in(node, other_prefix, other_secret)
    register(other, "THEIRS", {"url": "https://example.com/theirs"})
    handle = f"{other_prefix}/THEIRS"
    for path in ("/portal/record", "/portal/record/edit", "/portal/record/delete", "/portal/record/qr.svg"):
        assert portal.get(f"{path}?h={handle}").status_code == 404, path
    portal.get("/portal/identifiers")
    assert portal.post(f"/portal/record/edit?h={handle}", {"url": "https://evil.example"}).status_code == 404
    assert portal.post(f"/portal/record/delete?h={handle}", {}).status_code == 404
    assert portal.post("/portal/register", {"suffix": "../" + handle}).status_code == 200  # own prefix only
    assert values_by_type(node, handle)["URL"] == "https://example.com/theirs"
    assert handle not in portal.get("/portal/identifiers?by=URL&q=https://example.com/theirs").text


def test_markup_in_every_text_field_is_rendered_inert(
    node: Server, portal: Portal, enterprise: tuple[str, str]
) -> None:
    prefix = enterprise[0]
    for n, payload in enumerate(PAYLOADS):
        fields = {**SOLAR, "m.manufacturer": payload, "m.model": payload, "m.factory": payload}
        saved = register(portal, f"X{n}{payload}", {**fields, "url": f"https://example.com/?q={payload}"})
        assert saved.status_code == 200, marked(saved.text, "message")
        refused = register(portal, f"Y{payload}", {"gs1": payload, "m.x": payload})  # echoed in errors
        pages = [
            saved.text,
            refused.text,
            portal.get("/portal/identifiers").text,
            portal.get("/portal/identifiers", params={"by": "model", "q": payload}).text,
            portal.get(f"/portal/record/edit?h={prefix}/X{n}{quote(payload)}").text,
            portal.get(f"/portal/record/delete?h={prefix}/X{n}{quote(payload)}").text,
            upload(portal, "x.csv", f'suffix,网址\n{payload},https://e.com\n"{payload}",not a url\n').text,
            portal.sign_in(payload, payload).text,
        ]
        for page in pages:
            assert payload not in page
        assert ESCAPED[n] in pages[0] and ESCAPED[n] in pages[2] and ESCAPED[n] in pages[4]


def test_upload_json_lines_and_a_dry_run(node: Server, portal: Portal, enterprise: tuple[str, str]) -> None:
    prefix = enterprise[0]
    lines = '{"suffix":"J-1","url":"https://example.com/j1","metadata":{"型号":"离心泵"}}\n{"suffix":"J-2"}\n'
    portal.get("/portal/upload")
    dry = portal.http.post(
        f"{node.url}/portal/upload",
        data={"csrf": csrf_of(portal.page), "dry_run": "1"},
        files={"file": ("rows.jsonl", lines)},
        timeout=60,
    )
    assert marked(dry.text, "created") == ["2"] and resolve(node, f"{prefix}/J-1").status_code == 404
    done = upload(portal, "rows.jsonl", lines)
    assert (
        marked(done.text, "created") == ["2"]
        and "离心泵" in values_by_type(node, f"{prefix}/J-1")["METADATA"]
    )
