"""The enterprise's identifiers in the portal: list and search, view with QR codes, register through a
template form, edit, delete. Each action is the core call the JSON API makes for it."""

from __future__ import annotations

import io
from urllib.parse import quote, urlencode

import segno
from aiohttp import web

from idnode import gs1
from idnode.http.keys import REGISTRY, RESOLVER, SEARCHER, SETTINGS, TEMPLATES
from idnode.http.portal.forms import (
    field_problems,
    form_fields,
    form_item,
    form_values,
    free_fields,
    submitted,
)
from idnode.http.portal.pages import checked_form, language, render, require_session
from idnode.model.errors import IdnodeError, InvalidHandle, TemplateNotFound
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.template import Template
from idnode.search import SearchTerm
from idnode.sessions import WebSession

PAGE_SIZE = 50
URL_SEARCH = "URL"  # the search option that looks in URL values rather than a template field


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "0")
    return int(raw) if raw.isdigit() else 0


def own_identifier(session: WebSession, text: str) -> Identifier:
    """The identifier ``text`` names if it is under the signed-in enterprise's prefix; else 404 (a
    tampered URL learns nothing about other enterprises' identifiers)."""
    try:
        identifier = Identifier.parse(text)
    except InvalidHandle:
        raise web.HTTPNotFound() from None
    if identifier.prefix != session.principal.prefix:
        raise web.HTTPNotFound()
    return identifier


def record_url(handle: str, action: str = "", **extra: str) -> str:
    return f"/portal/record{action}?{urlencode({'h': handle, **extra})}"


async def search_options(request: web.Request) -> list[str]:
    """The fields the search box can look in: the searchable fields of the node's templates and URL."""
    names = {name for t in await request.app[TEMPLATES].versions() for name in t.searchable}
    return [*sorted(names), URL_SEARCH]


async def list_identifiers(request: web.Request) -> web.Response:
    session = await require_session(request)
    prefix, page = session.principal.prefix, _page_number(request)
    text, by = request.query.get("q", "").strip(), request.query.get("by", "serialNumber")
    options = await search_options(request)
    if text:
        term = SearchTerm.of_type("URL", text) if by == URL_SEARCH else SearchTerm.of_field(by, text)
        found = await request.app[SEARCHER].search(
            session.principal, [term], prefix=prefix, offset=page * PAGE_SIZE, limit=PAGE_SIZE
        )
        total, handles = found.total, found.handles
    else:
        total, handles = await request.app[RESOLVER].list_handles(session.principal, prefix, page, PAGE_SIZE)
    context = {
        "handles": [(h, record_url(h)) for h in handles],
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "q": text,
        "by": by,
        "options": options,
        "paging": urlencode({"q": text, "by": by}) if text else "",
        "deleted": request.query.get("deleted", ""),
    }
    return await render(request, "identifiers.html", context)


async def view_record(request: web.Request) -> web.Response:
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    resolution = await request.app[RESOLVER].resolve(identifier, principal=session.principal)
    values = resolution.values
    has_gs1 = any(v.type == "GS1" for v in values)
    context = {
        "handle": str(identifier),
        "values": values,
        "api_url": f"/api/handles/{quote(str(identifier), safe='/')}",
        "resolution_url": resolution_url(request, identifier),
        "qr_handle": record_url(str(identifier), "/qr.svg", kind="handle"),
        "qr_gs1": record_url(str(identifier), "/qr.svg", kind="gs1") if has_gs1 else None,
        "edit_url": record_url(str(identifier), "/edit"),
        "delete_url": record_url(str(identifier), "/delete"),
        "notice": request.query.get("notice", ""),
    }
    return await render(request, "record.html", context)


def resolution_url(request: web.Request, identifier: Identifier) -> str:
    """Where a scanner resolves the identifier: this node's Handle REST URL for it."""
    base = request.app[SETTINGS].base_url
    return f"{base}/api/handles/{quote(str(identifier), safe='/')}"


async def qr_code(request: web.Request) -> web.Response:
    """An SVG QR code of the resolution URL (``kind=handle``) or of the record's GS1 Digital Link URI
    on this node (``kind=gs1``), made on the server with segno."""
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    if request.query.get("kind") == "gs1":
        record = await request.app[RESOLVER].record(identifier)
        text = next((v.data for v in record.values if v.type == "GS1" and isinstance(v.data, str)), None)
        if text is None:
            raise web.HTTPNotFound()
        target = gs1.parse(text).uri(request.app[SETTINGS].base_url)
    else:
        target = resolution_url(request, identifier)
    out = io.BytesIO()
    segno.make(target, error="m").save(out, kind="svg", scale=4, border=2, title=target)
    return web.Response(body=out.getvalue(), content_type="image/svg+xml")


# -- register and edit -----------------------------------------------------------------------------


async def _chosen_template(request: web.Request, ref: str) -> Template | None:
    return await request.app[TEMPLATES].get(ref) if ref else None


async def _form_page(
    request: web.Request,
    *,
    template: Template | None,
    answers: dict[str, str],
    handle: str | None = None,
    problems: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> web.Response:
    context = {
        "template": template,
        "fields": form_fields(template) if template else free_fields(answers),
        "answers": answers,
        "handle": handle,
        "problems": problems or {},
        "message": message,
        "language": language(request),
        "action": record_url(handle, "/edit") if handle else "/portal/register",
    }
    return await render(request, "register.html", context, status=status)


async def register_form(request: web.Request) -> web.Response:
    await require_session(request)
    ref = request.query.get("template")
    if ref is None:  # first choose the template
        listing = await request.app[TEMPLATES].listing()
        return await render(request, "choose_template.html", {"templates": listing})
    return await _form_page(request, template=await _chosen_template(request, ref), answers={})


async def _save(
    request: web.Request,
    session: WebSession,
    template: Template | None,
    answers: dict[str, str],
    handle: str | None,
) -> web.Response:
    """Write the form's record (create, or for ``handle`` change indexes 1-4); show the form again with
    the core's messages by field when it refuses."""
    item = form_item(session.principal.prefix, template, answers)
    try:
        if item.error is not None:
            raise item.error
        identifier = item.handle if isinstance(item.handle, Identifier) else Identifier.parse(item.handle)
        values = list(item.values)
        if handle is None:
            await request.app[REGISTRY].put_record(session.principal, identifier, values, overwrite=False)
        else:
            await request.app[REGISTRY].put_record(
                session.principal, identifier, values, indexes=item.indexes
            )
    except IdnodeError as exc:
        return await _form_page(
            request,
            template=template,
            answers=answers,
            handle=handle,
            problems=field_problems(exc),
            message=exc.message,
            status=400,
        )
    raise web.HTTPSeeOther(record_url(str(identifier), notice="saved"))


async def register_submit(request: web.Request) -> web.Response:
    session = await require_session(request)
    form = await checked_form(request, session)
    answers = submitted(form)
    template = await _chosen_template(request, answers.pop("template", ""))
    answers.pop("csrf", None)
    return await _save(request, session, template, answers, None)


async def _record_template(request: web.Request, record: Record) -> Template | None:
    """The template version the record names, None without one (or if it has been deleted)."""
    ref = next((v.data for v in record.values if v.type == "TEMPLATE" and isinstance(v.data, str)), "")
    try:
        return await _chosen_template(request, ref)
    except TemplateNotFound:
        return None


async def edit_form(request: web.Request) -> web.Response:
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    record = await request.app[RESOLVER].record(identifier)
    template = await _record_template(request, record)
    return await _form_page(request, template=template, answers=form_values(record), handle=str(identifier))


async def edit_submit(request: web.Request) -> web.Response:
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    form = await checked_form(request, session)
    template = await _record_template(request, await request.app[RESOLVER].record(identifier))
    answers = {k: v for k, v in submitted(form).items() if k not in ("csrf", "template", "suffix")}
    answers["suffix"] = identifier.suffix
    return await _save(request, session, template, answers, str(identifier))


async def delete_form(request: web.Request) -> web.Response:
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    await request.app[RESOLVER].record(identifier)  # 404 page for a handle that is not there
    context = {"handle": str(identifier), "action": record_url(str(identifier), "/delete")}
    return await render(request, "delete.html", context)


async def delete_submit(request: web.Request) -> web.Response:
    session = await require_session(request)
    identifier = own_identifier(session, request.query.get("h", ""))
    await checked_form(request, session)
    await request.app[REGISTRY].delete(session.principal, identifier)
    raise web.HTTPSeeOther("/portal/identifiers?" + urlencode({"deleted": str(identifier)}))


routes = [
    web.get("/portal/identifiers", list_identifiers),
    web.get("/portal/record", view_record),
    web.get("/portal/record/qr.svg", qr_code),
    web.get("/portal/register", register_form),
    web.post("/portal/register", register_submit),
    web.get("/portal/record/edit", edit_form),
    web.post("/portal/record/edit", edit_submit),
    web.get("/portal/record/delete", delete_form),
    web.post("/portal/record/delete", delete_submit),
]
