"""The aiohttp application factory: one core (registry, resolver, stats) behind thin handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from idnode.config import Settings
from idnode.core import open_core
from idnode.http import enterprises, handles, node, stats
from idnode.http.errors import error_middleware
from idnode.http.keys import KEYRING, LOG, REGISTRY, RESOLVER, SETTINGS, STATS

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4 * 1024 * 1024


async def allow_cross_origin_reads(request: web.Request, response: web.StreamResponse) -> None:
    """Let browser apps (scanner web pages, partner portals) resolve identifiers, as hdl.handle.net does."""
    if request.method == "GET" and request.path.startswith("/api/handles/"):
        response.headers["Access-Control-Allow-Origin"] = "*"


def create_app(settings: Settings) -> web.Application:
    """Build the node's HTTP application; the database is opened (and migrated) on startup."""
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings

    async def core(app: web.Application) -> AsyncIterator[None]:
        async with open_core(settings) as opened:
            if opened.operator_secret is not None:
                log.warning(
                    "node initialised; operator credential %s, secret (shown once): %s",
                    opened.registry.operator_username,
                    opened.operator_secret,
                )
            app[REGISTRY], app[RESOLVER], app[STATS] = opened.registry, opened.resolver, opened.stats
            app[KEYRING], app[LOG] = opened.keyring, opened.log
            yield

    app.cleanup_ctx.append(core)
    app.on_response_prepare.append(allow_cross_origin_reads)
    app.add_routes([*node.routes, *handles.routes, *enterprises.routes, *stats.routes])
    return app
