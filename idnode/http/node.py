"""The node itself: its prefix, operator username and signing keys; where its prefixes live; the
transparency log."""

from __future__ import annotations

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.errors import json_response
from idnode.http.keys import KEYRING, LOG, REGISTRY, SETTINGS
from idnode.locator import served_here
from idnode.model.errors import ProtocolError
from idnode.model.identifier import Identifier


async def node_info(request: web.Request) -> web.Response:
    keys = await request.app[KEYRING].describe()
    return json_response(
        {
            "responseCode": 1,
            "nodePrefix": request.app[SETTINGS].node_prefix_canonical,
            "operator": request.app[REGISTRY].operator_username,
            **keys,
        }
    )


async def prefix_location(request: web.Request) -> web.Response:
    """Where a prefix lives, as an upper node answers it (see ``idnode.locator``): here, for this
    node's own prefixes; 404 (responseCode 100) for any other."""
    settings = request.app[SETTINGS]
    found = served_here(request.match_info["prefix"], settings.node_prefix_canonical, settings.base_url)
    return json_response({"responseCode": 1, **found.to_json()})


async def tree_head(request: web.Request) -> web.Response:
    return json_response(await request.app[LOG].signed_tree_head())


async def inclusion_proof(request: web.Request) -> web.Response:
    handle = request.query.get("handle")
    if not handle:
        raise ProtocolError("Give the handle: /api/log/proof?handle=<prefix>/<suffix>.")
    return json_response(await request.app[LOG].inclusion(str(Identifier.parse(handle))))


async def log_entries(request: web.Request) -> web.Response:
    """``/api/log/entries?start=N&limit=M``: what mirrors follow. The entries name every handle
    changed, so they are the operator's unless ``public_log`` is set."""
    settings = request.app[SETTINGS]
    if not settings.public_log:
        request.app[REGISTRY].require_operator(await principal_of(request))
    try:
        start = int(request.query.get("start", "0"))
        limit = min(int(request.query.get("limit", str(settings.max_page_size))), settings.max_page_size)
    except ValueError:
        raise ProtocolError("start and limit must be integers.") from None
    return json_response(await request.app[LOG].entries(start, limit))


async def consistency_proof(request: web.Request) -> web.Response:
    try:
        first, second = int(request.query["first"]), int(request.query["second"])
    except (KeyError, ValueError):
        raise ProtocolError("Give two tree sizes: /api/log/consistency?first=<n>&second=<m>.") from None
    return json_response(await request.app[LOG].consistency(first, second))


routes = [
    web.get("/api/node", node_info),
    web.get("/api/prefixes/{prefix}", prefix_location),
    web.get("/api/log/sth", tree_head),
    web.get("/api/log/entries", log_entries),
    web.get("/api/log/proof", inclusion_proof),
    web.get("/api/log/consistency", consistency_proof),
]
