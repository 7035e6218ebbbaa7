"""Registration statistics over HTTP."""

from __future__ import annotations

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import REGISTRY, SETTINGS, STATS


async def get_stats(request: web.Request) -> web.Response:
    if not request.app[SETTINGS].public_stats:
        request.app[REGISTRY].require_operator(await principal_of(request))
    return json_response({"responseCode": 1, **await request.app[STATS].summary()})


routes = [web.get("/api/stats", get_stats)]
