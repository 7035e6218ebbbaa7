"""The node's OpenAPI document, ``/api/openapi.json``: schema/openapi.json, the JSON copy of
schema/openapi.yaml (see tools/openapi_json.py), served as shipped."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DOCUMENT = (Path(__file__).parent.parent / "schema" / "openapi.json").read_bytes()


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(body=DOCUMENT, content_type="application/json")


routes = [web.get("/api/openapi.json", get_openapi)]
