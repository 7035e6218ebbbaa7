"""Small HTTP helpers for end-to-end tests against a running node."""

from __future__ import annotations

import base64
import itertools
from typing import Any
from urllib.parse import quote

import aiohttp

from idnode.sample import make_uscc
from tests.conftest import Server

_serial = 0


class Credentials(dict[str, str]):
    """An Authorization header (usable as ``headers=``) that remembers the secret it carries."""

    def __init__(self, username: str, secret: str) -> None:
        token = base64.b64encode(f"{quote(username, safe='/')}:{secret}".encode()).decode()
        super().__init__({"Authorization": f"Basic {token}"})
        self.username, self.secret = username, secret


def basic(username: str, secret: str) -> Credentials:
    """Basic credentials the way Handle clients send them: the username's colon percent-encoded."""
    return Credentials(username, secret)


def operator(server: Server) -> Credentials:
    return basic(*server.operator)


async def onboard(session: aiohttp.ClientSession, server: Server, **fields: Any) -> tuple[str, Credentials]:
    """Onboard an enterprise through the operator API; return its prefix and admin credentials."""
    global _serial
    _serial += 1
    body = {
        "name": f"测试企业{_serial}",
        "uscc": make_uscc(_serial),
        "district": "盐都区",
        "industry": "通用设备制造业",
        **fields,
    }
    async with session.post(f"{server.url}/api/enterprises", json=body, headers=operator(server)) as resp:
        payload = await resp.json()
        assert resp.status == 201, payload
    admin = payload["admin"]
    return payload["enterprise"]["prefix"], basic(admin["username"], admin["secret"])


async def put_values(
    session: aiohttp.ClientSession,
    server: Server,
    handle: str,
    values: Any,
    auth: Credentials | None,
    **params: Any,
) -> tuple[int, dict[str, Any]]:
    async with session.put(
        f"{server.url}/api/handles/{handle}", json=values, headers=auth, params=params
    ) as resp:
        return resp.status, await resp.json()


async def get_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with session.get(url, **kwargs) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_application_serial = itertools.count(700_001)


def application_fields(**changes: Any) -> dict[str, str]:
    """Valid application fields, each call for a new USCC."""
    serial = next(_application_serial)
    return {
        "name": f"盐城申请{serial}有限公司",
        "uscc": make_uscc(serial),
        "district": "盐南高新区",
        "industry": "C3411",
        "contact_name": "李经理",
        "contact_phone": "0515-88886666",
        "contact_email": f"li{serial}@example.com",
        "intended_use": "产品追溯与供应链协同",
        **changes,
    }


def application_form(values: dict[str, str], licence: bytes | None = PDF, **file: str) -> aiohttp.FormData:
    """A multipart submission of ``values`` with ``licence`` as its file (None: no file)."""
    data = aiohttp.FormData()
    for name, value in values.items():
        data.add_field(name, value)
    if licence is not None:
        data.add_field(
            "licence",
            licence,
            filename=file.get("filename", "营业执照.pdf"),
            content_type=file.get("content_type", "application/pdf"),
        )
    return data


async def post_json(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with session.post(url, **kwargs) as resp:
        return resp.status, await resp.json()


async def apply(
    session: aiohttp.ClientSession, node: Server, data: aiohttp.FormData | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Submit; return the application id, the applicant token and the application."""
    status, body = await post_json(
        session, f"{node.url}/api/applications", data=data or application_form(application_fields())
    )
    assert status == 201, body
    return body["application"]["id"], body["token"], body["application"]
