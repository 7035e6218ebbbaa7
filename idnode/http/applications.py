"""Applications API: enterprises apply (anyone, multipart with the licence file), the operator reviews.

The applicant authenticates with ``Authorization: Bearer <token>`` (the token the submission
returned); the operator with its Basic credentials. Once approved, the applicant collects its
enterprise admin credential itself, once (``POST /api/applications/{id}/credential``); the secret the
operator saw at approval stops working then.
"""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web

from idnode.http.auth import principal_of
from idnode.http.enterprises import admin_credential, json_body, operator_of
from idnode.http.errors import json_response
from idnode.http.keys import APPLICATIONS, SETTINGS
from idnode.http.limits import takes_body
from idnode.http.multipart import chunks, well_framed
from idnode.http.params import page_body, paging
from idnode.licences import FORMATS
from idnode.model import industry
from idnode.model.application import Action, Application, Licence, State
from idnode.model.errors import InvalidEnterprise, ProtocolError
from idnode.model.permissions import Principal

LICENCE_FIELD = "licence"
MAX_FIELD_BYTES = 16 * 1024
# The text fields and the multipart framing around the licence file: a dozen fields of at most
# MAX_FIELD_BYTES each fit.
FORM_ALLOWANCE_BYTES = 256 * 1024


async def _caller(request: web.Request) -> tuple[Principal | None, str | None]:
    """(operator or other principal, applicant token): at most one of them is set."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return None, token.strip()
    return await principal_of(request), None


async def _field(part: BodyPartReader) -> str:
    data = bytearray()
    async for chunk in chunks(part):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise InvalidEnterprise(f"Field '{part.name}' is longer than {MAX_FIELD_BYTES} bytes.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEnterprise(f"Field '{part.name}' is not UTF-8 text.") from None


@takes_body(lambda settings: settings.licence_max_bytes + FORM_ALLOWANCE_BYTES)
async def submit(request: web.Request) -> web.Response:
    if request.content_type != "multipart/form-data":
        raise ProtocolError("Content-Type must be multipart/form-data (the fields and the licence file).")
    await _caller(request)  # anyone may apply, but credentials sent must verify (401 otherwise)
    applications = request.app[APPLICATIONS]
    fields: dict[str, Any] = {}
    licence: Licence | None = None
    try:
        with well_framed():
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or not part.name:
                    raise ProtocolError("Nested multipart bodies and unnamed parts are not accepted.")
                if part.name in fields or (part.name == LICENCE_FIELD and licence is not None):
                    raise InvalidEnterprise(f"Field '{part.name}' is given twice.")
                if part.name == LICENCE_FIELD:  # the client's file name and type are ignored
                    licence = await applications.save_licence(chunks(part))
                else:
                    fields[part.name] = await _field(part)
        if licence is None:
            raise InvalidEnterprise(f"The business licence file ('{LICENCE_FIELD}', 营业执照) is required.")
    except BaseException:
        if licence is not None:
            applications.discard_licence(licence)
        raise
    application, token = await applications.submit(fields, licence)
    body = {"responseCode": 1, "application": application.to_json(), "token": token}
    return json_response(body, 201)


async def form(request: web.Request) -> web.Response:
    """What an application form offers and accepts: districts, GB/T 4754 sections with their
    divisions, and the licence file types and size limit."""
    settings = request.app[SETTINGS]
    body = {
        "responseCode": 1,
        "districts": list(settings.districts),
        "industries": industry.catalogue(),
        "licence": {"types": [t for _, t, _ in FORMATS], "max_bytes": settings.licence_max_bytes},
    }
    return json_response(body)


async def list_applications(request: web.Request) -> web.Response:
    await operator_of(request)
    raw = request.query.get("state")
    try:
        state = State(raw) if raw else None
    except ValueError:
        raise ProtocolError(f"state must be one of {', '.join(s.value for s in State)}.") from None
    page, size = paging(request, 100, request.app[SETTINGS].max_page_size)
    total, found = await request.app[APPLICATIONS].list_applications(state, page * size, size)
    return json_response(page_body("applications", [a.to_json() for a in found], total, page, size))


async def _readable(request: web.Request) -> Application:
    """The application in the path, if the caller is the operator or holds its token."""
    applications = request.app[APPLICATIONS]
    application_id = request.match_info["id"]
    principal, token = await _caller(request)
    await applications.role(application_id, principal, token)
    return await applications.get(application_id)


async def show(request: web.Request) -> web.Response:
    application = await _readable(request)
    trail = await request.app[APPLICATIONS].trail(application.id)
    body = {
        "responseCode": 1,
        "application": application.to_json(),
        "transitions": [t.to_json() for t in trail],
    }
    return json_response(body)


async def licence(request: web.Request) -> web.FileResponse:
    application = await _readable(request)
    path = await request.app[APPLICATIONS].licence_file(application)
    headers = {
        "Content-Type": application.licence.content_type,
        "Content-Disposition": f'attachment; filename="{application.id}{path.suffix}"',
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(path, headers=headers)


async def _reason(request: web.Request) -> Any:
    """The optional ``{"reason": ...}`` body of an action."""
    if not request.can_read_body:
        return None
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise InvalidEnterprise('Send a JSON object: {"reason": "..."}.')
    return body.get("reason")


async def act(request: web.Request) -> web.Response:
    action = Action(request.match_info["action"])
    applications = request.app[APPLICATIONS]
    application_id = request.match_info["id"]
    principal, token = await _caller(request)
    reason = await _reason(request)
    if action is not Action.APPROVE:
        moved = await applications.move(principal, token, application_id, action, reason)
        return json_response({"responseCode": 1, "application": moved.to_json()})
    if reason is not None:
        raise InvalidEnterprise("Approval takes no reason.")
    approved, enterprise, secret = await applications.approve(principal, application_id)
    body = {
        "responseCode": 1,
        "application": approved.to_json(),
        "enterprise": enterprise.to_json(),
        "admin": admin_credential(enterprise.prefix, secret),
    }
    return json_response(body)


async def collect_credential(request: web.Request) -> web.Response:
    """The approved applicant's enterprise admin credential, once (Applications.collect_credential)."""
    principal, token = await _caller(request)
    username, secret = await request.app[APPLICATIONS].collect_credential(
        principal, token, request.match_info["id"]
    )
    body = {"responseCode": 1, "username": username, "secret": secret}
    return json_response(body, headers={"Cache-Control": "no-store"})  # shown once: keep no copy


routes = [
    web.post("/api/applications", submit),
    web.get("/api/applications", list_applications),
    web.get("/api/applications/form", form),
    web.get("/api/applications/{id}", show),
    web.get("/api/applications/{id}/licence", licence),
    web.post("/api/applications/{id}/{action:review|approve|reject|withdraw}", act),
    web.post("/api/applications/{id}/credential", collect_credential),
]
