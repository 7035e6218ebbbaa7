"""The enterprise portal (``/portal``) and the operator console (``/console``): server-rendered pages
(Jinja2, autoescaped) over the same core as the JSON API; basic flows need no JavaScript, and nothing
is loaded from elsewhere (no CDN, no web fonts)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from idnode.http.portal import account, applying, console, identifiers, review, upload
from idnode.http.portal.pages import page_middleware, setup_templates

__all__ = ["page_middleware", "routes", "setup"]

STATIC = Path(__file__).parent / "static"

routes = [
    *account.routes,
    *identifiers.routes,
    *upload.routes,
    *applying.routes,
    *console.routes,
    *review.routes,
    web.static("/portal/static", STATIC),
]


def setup(app: web.Application) -> None:
    setup_templates(app)
