"""The SNMS business API over HTTP (thin): login and identifier operations in SNMS envelopes.

``POST /identity/token`` (and ``/identity/token/v1``, day-salted) → ``{"token": …}``; ``DELETE
/identity/token`` ends the bearer token sent (logout). ``/identityv2/data`` (GET ``/detail``, POST,
PUT, DELETE) and ``/identityv2/data/batchCreate|batchUpdate|batchDelete`` need ``Authorization: Bearer
<token>``. See idnode/snms/ for what they do, idnode/http/snms_errors.py for the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from idnode.http.keys import SNMS
from idnode.http.limits import channel_of
from idnode.http.snms_errors import item_result, snms_endpoint
from idnode.model.errors import SnmsInvalid, TokenRejected
from idnode.model.permissions import Principal


def _token(request: web.Request) -> str:
    """The bearer token sent (``Bearer <token>``, or the token alone); raise TokenRejected."""
    header = request.headers.get("Authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else header
    if not token:
        raise TokenRejected()
    return token


async def _caller(request: web.Request) -> Principal:
    return await request.app[SNMS].tokens.verify(_token(request), channel_of(request))


async def json_body_of(request: web.Request) -> Any:
    """The request body as JSON; raise SnmsInvalid (SNMS status -2) when it is not JSON."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise SnmsInvalid("请求体不是合法的JSON") from None


async def _credentials(request: web.Request) -> tuple[Any, Any]:
    body = await json_body_of(request)
    if not isinstance(body, dict):
        raise SnmsInvalid("请求参数格式错误，应为JSON对象")
    return body.get("username"), body.get("password")


@snms_endpoint
async def login(request: web.Request) -> Any:
    return {"token": await request.app[SNMS].login.plain(*await _credentials(request), channel_of(request))}


@snms_endpoint
async def login_day_salted(request: web.Request) -> Any:
    login = request.app[SNMS].login
    return {"token": await login.day_salted(*await _credentials(request), channel_of(request))}


@snms_endpoint
async def logout(request: web.Request) -> Any:
    await request.app[SNMS].tokens.revoke(_token(request), channel_of(request))
    return True


@snms_endpoint
async def detail(request: web.Request) -> Any:
    principal = await _caller(request)
    return await request.app[SNMS].identifiers.detail(principal, request.query.get("handle"))


def _operation(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler passing the caller and the JSON body to ``SnmsIdentifiers.<name>``: it answers
    ``true``, or a batch's per-item results."""

    @snms_endpoint
    async def operate(request: web.Request) -> Any:
        principal = await _caller(request)
        outcome = await getattr(request.app[SNMS].identifiers, name)(principal, await json_body_of(request))
        return True if outcome is None else [item_result(r.handle, r.error) for r in outcome]

    return operate


routes = [
    web.post("/identity/token", login),
    web.delete("/identity/token", logout),
    web.post("/identity/token/v1", login_day_salted),
    web.get("/identityv2/data/detail", detail),
    web.post("/identityv2/data", _operation("create")),
    web.put("/identityv2/data", _operation("update")),
    web.delete("/identityv2/data", _operation("delete")),
    web.post("/identityv2/data/batchCreate", _operation("batch_create")),
    web.put("/identityv2/data/batchUpdate", _operation("batch_update")),
    web.delete("/identityv2/data/batchDelete", _operation("batch_delete")),
]
