"""The aiohttp application factory: one core (registry, resolver, stats) behind thin handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from idnode.config import Settings
from idnode.http import (
    applications,
    bulk,
    dashboard,
    enterprises,
    gs1,
    handles,
    metrics,
    node,
    openapi,
    portal,
    search,
    snms,
    snms_templates,
    stats,
    templates,
)
from idnode.http.clients import Clients
from idnode.http.errors import error_middleware
from idnode.http.keys import (
    APPLICATIONS,
    CLIENTS,
    DATA_TEMPLATES,
    GS1_RESOLVER,
    IMPORTER,
    KEYRING,
    LOG,
    METRICS,
    MIRROR,
    REGISTRY,
    RESOLVER,
    SEARCHER,
    SESSIONS,
    SETTINGS,
    SNMS,
    STATS,
    TEMPLATES,
)
from idnode.http.limits import limits_middleware
from idnode.http.metrics import create_metrics, metrics_middleware
from idnode.serving import serving_core


async def allow_cross_origin_reads(request: web.Request, response: web.StreamResponse) -> None:
    """Let browser apps (scanner web pages, partner portals) resolve identifiers, as hdl.handle.net does."""
    if request.method == "GET" and request.path.startswith("/api/handles/"):
        response.headers["Access-Control-Allow-Origin"] = "*"


def create_app(settings: Settings) -> web.Application:
    """Build the node's HTTP application; the database is opened (and migrated) on startup."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, limits_middleware, portal.page_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLIENTS] = Clients(settings)
    app[METRICS] = create_metrics(app)

    async def core(app: web.Application) -> AsyncIterator[None]:
        async with serving_core(settings) as serving:
            opened = serving.core
            if serving.mirror is not None:
                app[MIRROR] = serving.mirror
            app[REGISTRY], app[RESOLVER], app[STATS] = opened.registry, opened.resolver, opened.stats
            app[KEYRING], app[LOG], app[TEMPLATES] = opened.keyring, opened.log, opened.templates
            app[SEARCHER], app[GS1_RESOLVER] = opened.searcher, opened.gs1
            app[IMPORTER], app[APPLICATIONS] = opened.importer, opened.applications
            app[SNMS], app[DATA_TEMPLATES] = opened.snms, opened.data_templates
            app[SESSIONS] = opened.sessions
            yield

    app.cleanup_ctx.append(core)
    app.on_response_prepare.append(allow_cross_origin_reads)
    app.on_response_prepare.append(gs1.allow_cross_origin)
    app.add_routes(
        [
            *node.routes,
            *handles.routes,
            *bulk.routes,
            *enterprises.routes,
            *applications.routes,
            *templates.routes,
            *stats.routes,
            *search.routes,
            *metrics.routes,
            *dashboard.routes,
            *gs1.routes,
            *snms.routes,
            *snms_templates.routes,
            *portal.routes,
            *openapi.routes,
        ]
    )
    portal.setup(app)
    return app
