"""Operator API: onboard, list, show and change enterprises."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import REGISTRY, SETTINGS
from idnode.http.params import page_body, paging
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import (
    AuthenticationNeeded,
    EnterpriseNotFound,
    InsufficientPermissions,
    ProtocolError,
)
from idnode.model.identifier import admin_handle, canonical_prefix
from idnode.model.permissions import Principal
from idnode.registry import SECKEY_INDEX


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ProtocolError("Content-Type must be application/json.")
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"Malformed JSON: {exc}.") from None


async def operator_of(request: web.Request) -> Principal:
    principal = await principal_of(request)
    request.app[REGISTRY].require_operator(principal)
    assert principal is not None
    return principal


def admin_credential(prefix: str, secret: str) -> dict[str, str]:
    return {"username": f"{SECKEY_INDEX}:{admin_handle(prefix)}", "secret": secret}


async def add_enterprise(request: web.Request) -> web.Response:
    principal = await operator_of(request)
    draft = EnterpriseDraft.from_json(await json_body(request), request.app[SETTINGS].districts)
    enterprise, secret = await request.app[REGISTRY].add_enterprise(principal, draft)
    body = {
        "responseCode": 1,
        "enterprise": enterprise.to_json(),
        "admin": admin_credential(enterprise.prefix, secret),
    }
    return json_response(body, 201)


async def list_enterprises(request: web.Request) -> web.Response:
    await operator_of(request)
    settings = request.app[SETTINGS]
    page, size = paging(request, 100, settings.max_page_size)
    total, found = await request.app[REGISTRY].repository.list_enterprises(page * size, size)
    return json_response(page_body("enterprises", [e.to_json() for e in found], total, page, size))


async def get_enterprise(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    prefix = canonical_prefix(request.match_info["prefix"])
    if principal is None:
        raise AuthenticationNeeded("Reading enterprise details needs credentials.")
    if not (principal.is_operator or principal.prefix == prefix):
        raise InsufficientPermissions("Only the operator or the enterprise itself may read its details.")
    enterprise = await request.app[REGISTRY].repository.get_enterprise(prefix)
    if enterprise is None:
        raise EnterpriseNotFound(f"No enterprise with prefix {prefix}.")
    return json_response({"responseCode": 1, "enterprise": enterprise.to_json()})


async def patch_enterprise(request: web.Request) -> web.Response:
    principal = await operator_of(request)
    prefix = canonical_prefix(request.match_info["prefix"])
    enterprise = await request.app[REGISTRY].update_enterprise(principal, prefix, await json_body(request))
    return json_response({"responseCode": 1, "enterprise": enterprise.to_json()})


async def reset_secret(request: web.Request) -> web.Response:
    principal = await operator_of(request)
    prefix = canonical_prefix(request.match_info["prefix"])
    secret = await request.app[REGISTRY].reset_enterprise_secret(principal, prefix)
    return json_response({"responseCode": 1, "admin": admin_credential(prefix, secret)})


routes = [
    web.post("/api/enterprises", add_enterprise),
    web.get("/api/enterprises", list_enterprises),
    web.get("/api/enterprises/{prefix}", get_enterprise),
    web.patch("/api/enterprises/{prefix}", patch_enterprise),
    web.post("/api/enterprises/{prefix}/secret", reset_secret),
]
