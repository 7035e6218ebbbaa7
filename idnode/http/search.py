"""Reverse lookup over HTTP: ``/api/search`` and the B2HANDLE reverse-lookup servlet's ``/hrls/handles``
(which pyhandle's ``search_handle`` calls)."""

from __future__ import annotations

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import SEARCHER, SETTINGS
from idnode.http.params import check_offset, paging
from idnode.model.errors import ProtocolError
from idnode.search import SearchTerm

DEFAULT_PAGE_SIZE = 100
HRLS_CONTROLS = {"limit", "page", "prefix"}


async def search(request: web.Request) -> web.Response:
    """``?type=URL&value=...`` (the type in any case) or ``?field=<template field>&value=...``
    (field names are case-sensitive); optional ``prefix``, paging."""
    query = request.query
    kind, field = query.get("type"), query.get("field")
    if (kind is None) == (field is None):
        raise ProtocolError("Search by a value type (type=URL) or by a template field (field=serial).")
    value = query.get("value", "")
    term = SearchTerm.of_type(kind, value) if kind is not None else SearchTerm.of_field(str(field), value)
    page, size = paging(request, DEFAULT_PAGE_SIZE, request.app[SETTINGS].max_page_size)
    found = await request.app[SEARCHER].search(
        await principal_of(request), [term], prefix=query.get("prefix"), offset=page * size, limit=size
    )
    body = {
        "responseCode": 1,
        "totalCount": str(found.total),
        "page": page,
        "pageSize": size,
        "handles": found.handles,
    }
    return json_response(body)


async def reverse_lookup(request: web.Request) -> web.Response:
    """The reverse-lookup servlet's contract: every parameter but limit/page/prefix is a value type to
    match (``URL=http://example.com/*``); the answer is a JSON array of handles."""
    terms = [
        SearchTerm.of_type(key, value) for key, value in request.query.items() if key not in HRLS_CONTROLS
    ]
    maximum = request.app[SETTINGS].max_page_size
    try:
        limit = int(request.query.get("limit", str(maximum)))
        page = int(request.query.get("page", "0"))
    except ValueError:
        raise ProtocolError("limit and page must be integers.") from None
    if not 0 < limit <= maximum or page < 0:
        raise ProtocolError(f"limit must be 1 to {maximum} and page not negative.")
    found = await request.app[SEARCHER].search(
        await principal_of(request),
        terms,
        prefix=request.query.get("prefix"),
        offset=check_offset(page, limit),
        limit=limit,
    )
    return web.json_response(found.handles)


routes = [
    web.get("/api/search", search),
    web.get("/hrls/handles", reverse_lookup),
    web.get("/hrls/handles/", reverse_lookup),
]
