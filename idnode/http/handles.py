"""Handle.Net 9 JSON REST: ``/api/handles/{handle}`` and ``/api/handles?prefix=``."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import hdrs, web

from idnode.http.answers import framed
from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import REGISTRY, RESOLVER, SETTINGS
from idnode.http.params import paging
from idnode.model.errors import ProtocolError
from idnode.model.identifier import Identifier
from idnode.model.query import ResolveQuery, parse_flag, parse_ints
from idnode.model.values import HandleValue


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    return parse_flag(name, request.query.get(name), default)


def _int_params(request: web.Request, name: str, *, allow_various: bool = False) -> list[int] | None:
    """All values of a repeatable integer parameter, or None when absent ('various' means all in body)."""
    raw = request.query.getall(name, [])
    if not raw or (allow_various and raw == ["various"]):
        return None
    return parse_ints(name, raw)


async def _values_from_body(request: web.Request) -> list[HandleValue]:
    """Parse a PUT body: an array of values, ``{"values": [...]}``, or one value object."""
    if request.content_type != "application/json":
        raise ProtocolError("Content-Type must be application/json.")
    raw = await request.read()
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"Malformed JSON: {exc}.") from None
    if isinstance(body, dict) and "values" in body:
        body = body["values"]
    elif isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise ProtocolError("The body must be an array of values or an object with 'values'.")
    return [HandleValue.from_json(item) for item in body]


def _pretty(request: web.Request) -> bool:
    return _flag(request, "pretty")


async def get_handle(request: web.Request) -> web.StreamResponse:
    asked = request.match_info["handle"]
    resolver = request.app[RESOLVER]
    # The same answer for everyone (from the cache): anonymous reads, and handles held elsewhere.
    if hdrs.AUTHORIZATION not in request.headers or resolver.held_elsewhere(asked):
        answer = resolver.cached(asked, request.query_string) or await resolver.respond(
            asked, request.query.items(), request.query_string
        )
        status, headers, body = framed(answer, request.headers.get(hdrs.IF_NONE_MATCH))
        return web.Response(body=body, status=status, headers=headers, content_type="application/json")
    query = ResolveQuery.from_pairs(request.query.items())
    resolution = await resolver.resolve(
        Identifier.parse(asked),
        asked_as=asked,
        principal=await principal_of(request),
        indexes=query.indexes,
        types=query.types,
        public_only=query.public_only,
    )
    response = json_response(resolution.to_json(), pretty=query.pretty)
    response.headers[hdrs.CACHE_CONTROL] = "private, no-store"  # may hold values only this caller sees
    return response


async def put_handle(request: web.Request) -> web.Response:
    asked = request.match_info["handle"]
    principal = await principal_of(request)
    values = await _values_from_body(request)
    overwrite = _flag(request, "overwrite", default=True)
    if _flag(request, "mintNewSuffix"):
        identifier, overwrite = request.app[REGISTRY].mint(asked), False
        asked = str(identifier)
    else:
        identifier = Identifier.parse(asked)
    result = await request.app[REGISTRY].put_record(
        principal,
        identifier,
        values,
        overwrite=overwrite,
        indexes=_int_params(request, "index", allow_various=True),
    )
    status = 201 if result.created and not overwrite else 200
    return json_response({"responseCode": 1, "handle": asked}, status, pretty=_pretty(request))


async def delete_handle(request: web.Request) -> web.Response:
    asked = request.match_info["handle"]
    principal = await principal_of(request)
    await request.app[REGISTRY].delete(principal, Identifier.parse(asked), _int_params(request, "index"))
    return json_response({"responseCode": 1, "handle": asked}, pretty=_pretty(request))


async def list_handles(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    prefix = request.query.get("prefix")
    if not prefix:
        raise ProtocolError("List handles with ?prefix=<prefix>.")
    page, size = paging(request, settings.max_page_size, settings.max_page_size)
    total, names = await request.app[RESOLVER].list_handles(await principal_of(request), prefix, page, size)
    body = {
        "responseCode": 1,
        "prefix": prefix,
        "totalCount": str(total),
        "page": page,
        "pageSize": size,
        "handles": names,
    }
    return json_response(body, pretty=_pretty(request))


routes = [
    web.get("/api/handles", list_handles),
    web.get("/api/handles/{handle:.+}", get_handle),
    web.put("/api/handles/{handle:.+}", put_handle),
    web.delete("/api/handles/{handle:.+}", delete_handle),
]
