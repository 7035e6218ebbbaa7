"""The aiohttp application factory: one core (registry, resolver, stats) behind thin handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web

from idnode.config import Settings
from idnode.core import Core, open_core
from idnode.counting import flushing
from idnode.http import dashboard, enterprises, gs1, handles, metrics, node, search, stats, templates
from idnode.http.errors import error_middleware
from idnode.http.keys import (
    GS1_RESOLVER,
    KEYRING,
    LOG,
    METRICS,
    MIRROR,
    REGISTRY,
    RESOLVER,
    SEARCHER,
    SETTINGS,
    STATS,
    TEMPLATES,
)
from idnode.http.metrics import create_metrics, metrics_middleware
from idnode.invalidation import following_log, redis_bus
from idnode.mirror import following_primary

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4 * 1024 * 1024


async def allow_cross_origin_reads(request: web.Request, response: web.StreamResponse) -> None:
    """Let browser apps (scanner web pages, partner portals) resolve identifiers, as hdl.handle.net does."""
    if request.method == "GET" and request.path.startswith("/api/handles/"):
        response.headers["Access-Control-Allow-Origin"] = "*"


def log_new_operator(core: Core) -> None:
    """Show the operator credential once, when this start created it."""
    if core.operator_secret is not None:
        log.warning(
            "node initialised; operator credential %s, secret (shown once): %s",
            core.registry.operator_username,
            core.operator_secret,
        )


def create_app(settings: Settings) -> web.Application:
    """Build the node's HTTP application; the database is opened (and migrated) on startup."""
    app = web.Application(middlewares=[metrics_middleware, error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[METRICS] = create_metrics(app)

    async def core(app: web.Application) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            opened = await stack.enter_async_context(open_core(settings))
            cache = opened.resolver.cache
            await stack.enter_async_context(
                following_log(opened.repository, cache, settings.cache_staleness_seconds)
            )
            if settings.redis:
                bus = await stack.enter_async_context(
                    redis_bus(settings.redis, settings.node_prefix_canonical, cache)
                )
                opened.registry.committer.listeners.append(bus.publish_later)
            if opened.resolver.counter is not None:
                await stack.enter_async_context(
                    flushing(opened.repository, opened.resolver.counter, settings.resolution_flush_seconds)
                )
            if settings.mirror_of:
                app[MIRROR] = await stack.enter_async_context(following_primary(opened))
            log_new_operator(opened)
            app[REGISTRY], app[RESOLVER], app[STATS] = opened.registry, opened.resolver, opened.stats
            app[KEYRING], app[LOG], app[TEMPLATES] = opened.keyring, opened.log, opened.templates
            app[SEARCHER], app[GS1_RESOLVER] = opened.searcher, opened.gs1
            yield

    app.cleanup_ctx.append(core)
    app.on_response_prepare.append(allow_cross_origin_reads)
    app.on_response_prepare.append(gs1.allow_cross_origin)
    app.add_routes(
        [
            *node.routes,
            *handles.routes,
            *enterprises.routes,
            *templates.routes,
            *stats.routes,
            *search.routes,
            *metrics.routes,
            *dashboard.routes,
            *gs1.routes,
        ]
    )
    return app
