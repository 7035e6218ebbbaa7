"""A small browser stand-in for the portal and console pages: a requests session that signs in through
the login form and sends each form with the CSRF token of the page it came from."""

from __future__ import annotations

import base64
import html
import re
from itertools import count
from typing import Any
from urllib.parse import quote

import requests

from idnode.sample import make_uscc
from tests.conftest import Server
from tests.http.helpers import application_fields

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_serial = count(7000)
__all__ = ["PNG", "Portal", "application_fields", "apply", "csrf_of", "marked", "onboard", "signed_in"]


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def marked(page: str, name: str) -> list[str]:
    """The text of every element marked ``data-testid=name`` that holds only text."""
    return [html.unescape(m) for m in re.findall(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', page)]


def onboard(node: Server, **fields: Any) -> tuple[str, str]:
    """A new enterprise through the operator API: (prefix, admin secret)."""
    serial = next(_serial)
    body = {
        "name": f"门户测试企业{serial}",
        "uscc": make_uscc(serial),
        "district": "盐都区",
        "industry": "通用设备制造业",
        **fields,
    }
    user, secret = node.operator
    answer = requests.post(
        f"{node.url}/api/enterprises", json=body, auth=(quote(user, safe="/"), secret), timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["enterprise"]["prefix"], answer.json()["admin"]["secret"]


class Portal:
    """One signed-in (or not yet) browser session."""

    def __init__(self, node: Server) -> None:
        self.node = node
        self.http = requests.Session()
        self.page = ""
        self.status = 0

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        answer = self.http.get(self.node.url + path, timeout=60, **kwargs)
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            self.page = answer.text
        return answer

    def post(
        self, path: str, data: dict[str, Any], *, csrf: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """POST a form with the CSRF token of the last page (``csrf`` overrides it; "" sends none)."""
        token = csrf_of(self.page) if csrf is None else csrf
        fields = {**data, **({"csrf": token} if token else {})}
        answer = self.http.post(self.node.url + path, data=fields, timeout=60, **kwargs)
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            self.page = answer.text
        return answer

    def post_multipart(self, path: str, body: bytes, boundary: str) -> requests.Response:
        """POST ``body`` as it is, declared multipart/form-data with ``boundary`` (for broken bodies)."""
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.http.post(self.node.url + path, data=body, headers=headers, timeout=30)

    def sign_in(self, username: str, secret: str, area: str = "portal") -> requests.Response:
        self.get(f"/{area}/login")
        return self.post(f"/{area}/login", {"username": username, "secret": secret})


PNG = base64.b64decode(  # a 1x1 PNG: a licence file the node accepts by its magic bytes
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def apply(node: Server, fields: dict[str, str], licence: tuple[str, bytes] | None = ("l.png", PNG)) -> Portal:
    """Fill in and send the application form as an applicant's browser does; the answer is ``.page``."""
    applicant = Portal(node)
    applicant.get("/portal/apply")
    files = {"licence": licence} if licence else {"licence": ("", b"")}
    answer = applicant.http.post(
        f"{node.url}/portal/apply", data={"csrf": csrf_of(applicant.page), **fields}, files=files, timeout=30
    )
    applicant.page, applicant.status = answer.text, answer.status_code
    return applicant


def signed_in(node: Server, username: str, secret: str, area: str = "portal") -> Portal:
    portal = Portal(node)
    answer = portal.sign_in(username, secret, area)
    assert answer.status_code == 200 and "/login" not in answer.url, answer.text[-500:]
    return portal
