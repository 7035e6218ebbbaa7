"""The operator console against a real node: operator sign-in, suspending and reactivating an
enterprise, template management, and the refusals (enterprise sessions, missing CSRF tokens)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import Server
from tests.http.portal_client import Portal, marked, onboard, signed_in

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "templates"


@pytest.fixture
def console(node: Server) -> Portal:
    return signed_in(node, *node.operator, area="console")


def enterprise_status(node: Server, prefix: str) -> str:
    user, secret = node.operator
    answer = requests.get(
        f"{node.url}/api/enterprises/{prefix}", auth=(quote(user, safe="/"), secret), timeout=30
    )
    return answer.json()["enterprise"]["status"]


def test_enterprise_list_escapes_names_and_links_the_dashboard(node: Server, console: Portal) -> None:
    prefix, _ = onboard(node, name="<script>alert(1)</script>盐城")
    assert console.get("/console").url.endswith("/console/applications")  # the review queue first
    page = console.get("/console/enterprises").text
    assert f'data-testid="enterprise-{prefix}"' in page and 'href="/dashboard"' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;盐城" in page


def test_an_enterprise_session_is_not_an_operator(node: Server) -> None:
    portal = signed_in(node, *onboard(node))
    for path in ("/console/enterprises", "/console/templates"):
        answer = portal.get(path)
        assert answer.status_code == 403 and marked(answer.text, "error") == ["此页面仅限运营人员使用。"]
    assert Portal(node).get("/console/enterprises").url.endswith("/console/login")


def test_suspend_and_reactivate_an_enterprise(node: Server, console: Portal) -> None:
    prefix, secret = onboard(node)
    portal = signed_in(node, prefix, secret)
    console.get("/console/enterprises")
    refused = console.post("/console/enterprises/status", {"prefix": prefix, "status": "suspended"}, csrf="x")
    assert refused.status_code == 403 and enterprise_status(node, prefix) == "active"
    done = console.post("/console/enterprises/status", {"prefix": prefix, "status": "suspended"})
    assert (
        done.status_code == 200
        and marked(done.text, "notice")
        and enterprise_status(node, prefix) == "suspended"
    )
    portal.get("/portal/register")
    blocked = portal.post("/portal/register", {"suffix": "S-1", "url": "https://example.com"})
    assert blocked.status_code == 400 and "suspended" in marked(blocked.text, "message")[0]
    console.post("/console/enterprises/status", {"prefix": prefix, "status": "active"})
    assert enterprise_status(node, prefix) == "active"
    portal.get("/portal/register")
    assert portal.post("/portal/register", {"suffix": "S-1", "url": "https://example.com"}).status_code == 200


def test_templates_are_added_listed_and_deleted(node: Server, console: Portal) -> None:
    document = copy.deepcopy(json.loads((SCHEMA / "generic-product.json").read_text()))
    document["$id"] = "urn:idnode:template:console-test"
    document.pop("x-version", None)
    document["title"] = "控制台测试模板"
    console.get("/console/templates")
    added = console.post("/console/templates", {"document": json.dumps(document)})
    assert added.status_code == 200 and marked(added.text, "notice") == ["模板 console-test@1 已添加。"]
    assert 'data-testid="template-console-test@1"' in added.text
    assert "控制台测试模板" in console.get("/console/templates/console-test/1").text
    api = requests.get(f"{node.url}/api/templates/console-test", timeout=30).json()
    assert api["template"]["version"] == 1
    bad = console.post("/console/templates", {"document": "{not json"})
    assert bad.status_code == 400 and marked(bad.text, "message")[0].startswith("Not JSON")
    twice = console.post("/console/templates", {"document": json.dumps({**document, "x-version": 1})})
    assert twice.status_code == 400 and "exists" in marked(twice.text, "message")[0]
    gone = console.post("/console/templates/delete", {"ref": "console-test@1"})
    assert gone.status_code == 200 and 'data-testid="template-console-test@1"' not in gone.text
    assert requests.get(f"{node.url}/api/templates/console-test", timeout=30).status_code == 404


def test_a_template_in_use_cannot_be_deleted(node: Server, console: Portal) -> None:
    prefix, secret = onboard(node)
    portal = signed_in(node, prefix, secret)
    portal.get("/portal/register?template=generic-product@1")
    fields = {"m.productName": "水泵", "m.manufacturer": "盐城泵业", "m.manufactureDate": "2026-01-01"}
    assert portal.post("/portal/register", {"suffix": "G-1", "template": "generic-product@1", **fields}).ok
    console.get("/console/templates")
    refused = console.post("/console/templates/delete", {"ref": "generic-product@1"})
    assert refused.status_code == 400 and "used" in marked(refused.text, "message")[0]


def test_a_console_session_opens_the_dashboard_and_an_enterprise_session_does_not(
    node: Server, console: Portal
) -> None:
    assert console.get("/dashboard").status_code == 200
    assert console.get("/api/stats").json()["enterprises"]["total"] >= 0
    enterprise = signed_in(node, *onboard(node))
    assert enterprise.get("/api/stats").status_code == 403
    assert Portal(node).get("/dashboard").status_code == 401
