"""GS1 Digital Link resolution: ``/01/{gtin}[/22/…][/10/…][/21/…]`` and ``/.well-known/gs1resolver``.

A request redirects (307) to the default link, or with ``?linkType=`` to a link of that type, passing
the request's query string on, with a ``Link`` header listing every link; ``?linkType=all`` (or
``linkset``) or ``Accept: application/linkset+json`` answers the RFC 9264 linkset instead. Every
answer, errors included, may be read by browser apps from any origin (CORS).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from aiohttp import hdrs, web

from idnode.gs1_resolver import LINKSET_CONTEXT, LINKSET_TYPES
from idnode.http.errors import json_response
from idnode.http.keys import GS1_RESOLVER

LINKSET_JSON = "application/linkset+json"
METHODS = "GET, HEAD, OPTIONS"
GS1_PATHS = ("/01/", "/.well-known/gs1resolver")


def _root(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _accepted(request: web.Request) -> list[str]:
    """The media types the Accept header names, in order (parameters and q-values ignored)."""
    header = request.headers.get(hdrs.ACCEPT, "")
    return [item.split(";", 1)[0].strip().lower() for item in header.split(",") if item.strip()]


def _forwarded(href: str, query: str) -> str:
    """``href`` with the request's query string appended, as the resolver standard passes it on."""
    if not query:
        return href
    parts = urlsplit(href)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


async def resolve(request: web.Request) -> web.Response:
    url = request.rel_url
    resolution = await request.app[GS1_RESOLVER].resolve(url.raw_path, url.raw_query_string)
    root, link_type, accepted = _root(request), request.query.get("linkType"), _accepted(request)
    if link_type in LINKSET_TYPES or LINKSET_JSON in accepted:
        content_type = "application/json" if "application/json" in accepted else LINKSET_JSON
        response = json_response(resolution.linkset(root))
        response.content_type = content_type
        context = (
            f'<{LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
        )
        response.headers[hdrs.LINK] = context
    else:
        target = resolution.target(link_type)
        response = web.Response(
            status=307, headers={hdrs.LOCATION: _forwarded(target.href, url.raw_query_string)}
        )
        response.headers[hdrs.LINK] = resolution.link_header(root)
    response.headers[hdrs.VARY] = "Accept"
    return response


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: the methods and request headers a browser app may use."""
    headers = {
        hdrs.ALLOW: METHODS,
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Accept, Accept-Language",
        hdrs.ACCESS_CONTROL_MAX_AGE: "86400",
    }
    return web.Response(status=204, headers=headers)


async def description(request: web.Request) -> web.Response:
    return json_response(request.app[GS1_RESOLVER].description(_root(request)))


async def allow_cross_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Let scanner web apps on any origin read every GS1 answer, errors and the Link header included."""
    if request.path.startswith(GS1_PATHS):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = "*"
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = METHODS  # GS1's test suite looks for it
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Link"


routes = [
    web.get("/01/{key:.*}", resolve),
    web.route(hdrs.METH_OPTIONS, "/01/{key:.*}", preflight),
    web.get("/.well-known/gs1resolver", description),
]
