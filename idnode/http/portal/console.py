"""The operator console: enterprises (suspend, reactivate), template management, and the way to the
statistics dashboard. Each action is the core call the operator API makes for it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from idnode.http.keys import REGISTRY, TEMPLATES
from idnode.http.portal.pages import checked_form, render, require_session
from idnode.model.errors import IdnodeError, InvalidTemplate
from idnode.model.identifier import canonical_prefix

PAGE_SIZE = 50


async def console_home(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    raise web.HTTPSeeOther("/console/applications")


async def enterprise_list(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    raw = request.query.get("page", "0")
    page = int(raw) if raw.isdigit() else 0
    total, found = await request.app[REGISTRY].repository.list_enterprises(page * PAGE_SIZE, PAGE_SIZE)
    context = {
        "enterprises": found,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "notice": request.query.get("notice", ""),
    }
    return await render(request, "console_enterprises.html", context)


async def enterprise_status(request: web.Request) -> web.Response:
    session = await require_session(request, operator=True)
    form = await checked_form(request, session)
    prefix = canonical_prefix(str(form.get("prefix", "")))
    await request.app[REGISTRY].update_enterprise(session.principal, prefix, {"status": form.get("status")})
    raise web.HTTPSeeOther("/console/enterprises?" + urlencode({"notice": prefix}))


async def _templates_page(request: web.Request, *, message: str = "", status: int = 200) -> web.Response:
    context = {
        "templates": await request.app[TEMPLATES].versions(),
        "message": message,
        "notice": request.query.get("notice", ""),
    }
    return await render(request, "console_templates.html", context, status=status)


async def template_list(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    return await _templates_page(request)


async def template_add(request: web.Request) -> web.Response:
    session = await require_session(request, operator=True)
    form = await checked_form(request, session)
    text = form.get("document")
    upload = form.get("file")
    raw: Any = upload.file.read() if isinstance(upload, web.FileField) else text
    try:
        if not raw:
            raise InvalidTemplate("Paste or choose a JSON Schema document.")
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidTemplate(f"Not JSON: {exc}.") from None
        template = await request.app[TEMPLATES].add(session.principal, document)
    except IdnodeError as exc:
        return await _templates_page(request, message=exc.message, status=400)
    raise web.HTTPSeeOther("/console/templates?" + urlencode({"notice": f"added:{template.ref}"}))


async def template_delete(request: web.Request) -> web.Response:
    session = await require_session(request, operator=True)
    form = await checked_form(request, session)
    ref = str(form.get("ref", ""))
    try:
        await request.app[TEMPLATES].delete(session.principal, ref)
    except IdnodeError as exc:
        return await _templates_page(request, message=exc.message, status=400)
    raise web.HTTPSeeOther("/console/templates?" + urlencode({"notice": f"deleted:{ref}"}))


async def template_document(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    name, version = request.match_info["name"], request.match_info["version"]
    template = await request.app[TEMPLATES].read(name, int(version))
    text = orjson.dumps(template.document, option=orjson.OPT_INDENT_2).decode()
    return await render(request, "console_template.html", {"template": template, "text": text})


routes = [
    web.get("/console", console_home),
    web.get("/console/", console_home),
    web.get("/console/enterprises", enterprise_list),
    web.post("/console/enterprises/status", enterprise_status),
    web.get("/console/templates", template_list),
    web.post("/console/templates", template_add),
    web.post("/console/templates/delete", template_delete),
    web.get(r"/console/templates/{name}/{version:\d+}", template_document),
]
