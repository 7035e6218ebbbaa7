"""The operator console's review queue: applications by state, one application with its licence file
and audit trail, and the operator's actions (take under review, approve, reject with a reason). Each
action is the core call of ``/api/applications/{id}/{action}``."""

from __future__ import annotations

from aiohttp import web

from idnode.http.keys import APPLICATIONS
from idnode.http.portal.pages import checked_form, render, require_session
from idnode.model.application import Action, State
from idnode.model.errors import IdnodeError

PAGE_SIZE = 50


async def queue(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    raw = request.query.get("state", State.SUBMITTED.value)
    state = State(raw) if raw in {s.value for s in State} else None
    page = int(request.query["page"]) if request.query.get("page", "").isdigit() else 0
    total, found = await request.app[APPLICATIONS].list_applications(state, page * PAGE_SIZE, PAGE_SIZE)
    context = {
        "applications": found,
        "state": state.value if state else "",
        "states": [s.value for s in State],
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }
    return await render(request, "console_applications.html", context)


async def _detail(
    request: web.Request, application_id: str, *, message: str = "", admin: dict[str, str] | None = None
) -> web.Response:
    applications = request.app[APPLICATIONS]
    context = {
        "application": await applications.get(application_id),
        "trail": await applications.trail(application_id),
        "message": message,
        "admin": admin,
    }
    return await render(request, "console_application.html", context, status=400 if message else 200)


async def detail(request: web.Request) -> web.Response:
    await require_session(request, operator=True)
    return await _detail(request, request.match_info["id"])


async def licence(request: web.Request) -> web.FileResponse:
    await require_session(request, operator=True)
    applications = request.app[APPLICATIONS]
    application = await applications.get(request.match_info["id"])
    path = await applications.licence_file(application)
    headers = {
        "Content-Type": application.licence.content_type,
        "Content-Disposition": f'inline; filename="{application.id}{path.suffix}"',
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)


async def act(request: web.Request) -> web.Response:
    """Take the action in the path; an approval shows the new enterprise's credential once."""
    session = await require_session(request, operator=True)
    form = await checked_form(request, session)
    application_id, action = request.match_info["id"], Action(request.match_info["action"])
    applications = request.app[APPLICATIONS]
    try:
        if action is Action.APPROVE:
            _, enterprise, secret = await applications.approve(session.principal, application_id)
            admin = {
                "prefix": enterprise.prefix,
                "username": f"300:{enterprise.prefix}/ADMIN",
                "secret": secret,
            }
            return await _detail(request, application_id, admin=admin)
        reason = str(form.get("reason", "")).strip() or None
        await applications.move(session.principal, None, application_id, action, reason)
    except IdnodeError as exc:
        return await _detail(request, application_id, message=exc.message)
    raise web.HTTPSeeOther(f"/console/applications/{application_id}")


routes = [
    web.get("/console/applications", queue),
    web.get(r"/console/applications/{id:[0-9a-f]{32}}", detail),
    web.get(r"/console/applications/{id:[0-9a-f]{32}}/licence", licence),
    web.post(r"/console/applications/{id:[0-9a-f]{32}}/{action:review|approve|reject}", act),
]
