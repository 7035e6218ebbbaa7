"""Registration statistics over HTTP."""

from __future__ import annotations

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import REGISTRY, SETTINGS, STATS


async def require_stats_reader(request: web.Request) -> None:
    """Aggregate figures are the operator's unless ``public_stats`` is set."""
    if not request.app[SETTINGS].public_stats:
        request.app[REGISTRY].require_operator(await principal_of(request))


async def get_stats(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    return json_response({"responseCode": 1, **await request.app[STATS].summary()})


async def get_target(request: web.Request) -> web.Response:
    await require_stats_reader(request)
    return json_response({"responseCode": 1, **await request.app[STATS].target_progress()})


routes = [web.get("/api/stats", get_stats), web.get("/api/stats/target", get_target)]
