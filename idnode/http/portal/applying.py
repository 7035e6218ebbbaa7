"""Applying for onboarding from the portal (no account yet): the application form with the business
licence upload, and the applicant's status page with withdrawal and, once approved, the one-time
collection of the enterprise admin credential. Each action is the core call of ``/api/applications``
(``Applications.save_licence``, ``submit``, ``role``, ``withdraw``, ``collect_credential``)."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web

from idnode.http.applications import FORM_ALLOWANCE_BYTES
from idnode.http.keys import APPLICATIONS, SETTINGS
from idnode.http.limits import takes_body
from idnode.http.multipart import chunks, well_framed
from idnode.http.portal.messages import translator
from idnode.http.portal.pages import (
    FORM_CSRF_COOKIE,
    CsrfRefused,
    form_csrf,
    form_csrf_ok,
    language,
    render,
    set_cookie,
)
from idnode.model.application import ApplicationDraft, Licence
from idnode.model.errors import IdnodeError, InvalidEnterprise
from idnode.model.industry import divisions

LICENCE_FIELD = "licence"
MAX_FIELD_CHARS = 4000


async def _apply_page(
    request: web.Request, answers: dict[str, str], *, message: str = "", status: int = 200
) -> web.Response:
    token = form_csrf(request)
    context = {
        "answers": answers,
        "message": message,
        "form_csrf": token,
        "districts": request.app[SETTINGS].districts,
        "industries": [(f"{letter}{code}", name) for code, (letter, name) in sorted(divisions().items())],
        "limit_mib": request.app[SETTINGS].licence_max_bytes / 2**20,
    }
    response = await render(request, "apply.html", context, status=status)
    set_cookie(request, response, FORM_CSRF_COOKIE, token)
    return response


async def apply_form(request: web.Request) -> web.Response:
    return await _apply_page(request, {})


@takes_body(lambda settings: settings.licence_max_bytes + FORM_ALLOWANCE_BYTES)
async def apply_submit(request: web.Request) -> web.Response:
    """Read the multipart form (the CSRF token first), store the licence, and file the application."""
    applications = request.app[APPLICATIONS]
    answers: dict[str, str] = {}
    licence: Licence | None = None
    try:
        with well_framed():
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or not part.name:
                    continue
                if part.name == LICENCE_FIELD:
                    if not form_csrf_ok(request, answers.get("csrf")):
                        raise CsrfRefused(text="csrf_failed")
                    if part.filename and licence is None:
                        licence = await applications.save_licence(chunks(part))
                elif part.name in (*ApplicationDraft.FIELDS, "csrf"):
                    answers[part.name] = (await part.text()).strip()[:MAX_FIELD_CHARS]
        if not form_csrf_ok(request, answers.pop("csrf", None)):
            raise CsrfRefused(text="csrf_failed")
        if licence is None:
            raise InvalidEnterprise(translator(language(request))("licence_required"))
    except IdnodeError as exc:
        if licence is not None:
            applications.discard_licence(licence)
        return await _apply_page(request, answers, message=exc.message, status=400)
    try:
        application, token = await applications.submit(answers, licence)
    except IdnodeError as exc:  # submit removed the licence file
        return await _apply_page(request, answers, message=exc.message, status=400)
    return await render(request, "applied.html", {"application": application, "token": token}, status=201)


async def _status_page(request: web.Request, context: dict[str, Any], *, status: int = 200) -> web.Response:
    token = form_csrf(request)
    response = await render(
        request, "application_status.html", {"form_csrf": token, **context}, status=status
    )
    set_cookie(request, response, FORM_CSRF_COOKIE, token)
    return response


async def status_form(request: web.Request) -> web.Response:
    return await _status_page(request, {"application": None, "id": request.query.get("id", ""), "token": ""})


async def status_submit(request: web.Request) -> web.Response:
    """Show the application the id and token name (and withdraw it, or collect its credential, when
    asked; the collected credential is on this one page only)."""
    form = await request.post()
    if not form_csrf_ok(request, form.get("csrf")):
        raise CsrfRefused(text="csrf_failed")
    applications = request.app[APPLICATIONS]
    application_id, token = str(form.get("id", "")).strip(), str(form.get("token", "")).strip()
    credential: tuple[str, str] | None = None
    try:
        await applications.role(application_id, None, token)
        if form.get("action") == "withdraw":
            await applications.withdraw(None, token, application_id)
        elif form.get("action") == "collect":
            credential = await applications.collect_credential(None, token, application_id)
        application = await applications.get(application_id)
    except IdnodeError as exc:
        context = {"application": None, "id": application_id, "token": "", "message": exc.message}
        return await _status_page(request, context, status=403 if exc.response_code != 2 else 409)
    context = {"application": application, "id": application_id, "token": token, "credential": credential}
    return await _status_page(request, {**context, "trail": await applications.trail(application_id)})


routes = [
    web.get("/portal/apply", apply_form),
    web.post("/portal/apply", apply_submit),
    web.get("/portal/application", status_form),
    web.post("/portal/application", status_submit),
]
