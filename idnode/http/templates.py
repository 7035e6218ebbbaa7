"""Metadata templates: ``/api/templates`` (reads are public; adding and deleting are the operator's)."""

from __future__ import annotations

from aiohttp import web

from idnode.http.auth import principal_of
from idnode.http.enterprises import json_body
from idnode.http.errors import json_response
from idnode.http.keys import TEMPLATES


async def list_templates(request: web.Request) -> web.Response:
    return json_response({"responseCode": 1, "templates": await request.app[TEMPLATES].listing()})


async def get_template(request: web.Request) -> web.Response:
    version = request.match_info.get("version")
    template = await request.app[TEMPLATES].read(
        request.match_info["name"], None if version is None else int(version)
    )
    return json_response({"responseCode": 1, "template": template.to_json()})


async def add_template(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    template = await request.app[TEMPLATES].add(principal, await json_body(request))
    return json_response({"responseCode": 1, "template": template.to_json()}, 201)


async def delete_template(request: web.Request) -> web.Response:
    principal = await principal_of(request)
    ref = f"{request.match_info['name']}@{request.match_info['version']}"
    await request.app[TEMPLATES].delete(principal, ref)
    return json_response({"responseCode": 1, "ref": ref})


routes = [
    web.get("/api/templates", list_templates),
    web.post("/api/templates", add_template),
    web.get("/api/templates/{name}", get_template),
    web.get("/api/templates/{name}/{version:[0-9]{1,9}}", get_template),
    web.delete("/api/templates/{name}/{version:[0-9]{1,9}}", delete_template),
]
