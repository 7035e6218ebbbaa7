"""Small HTTP helpers for end-to-end tests against a running node."""

from __future__ import annotations

import base64
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
