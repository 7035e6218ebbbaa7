"""What every portal and console page shares: the session cookie, CSRF checks, the language, rendering
with Jinja2 (autoescaped), and HTML error pages for core errors.

Pages are a thin front end: they call the same core objects as the JSON API and translate their
answers and errors to HTML; they hold no business rules and no SQL.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from idnode.http.errors import error_status
from idnode.http.keys import SESSIONS
from idnode.http.portal.messages import DEFAULT_LANGUAGE, LANGUAGES, translator
from idnode.model.errors import IdnodeError
from idnode.sessions import WebSession

SESSION_COOKIE = "idnode_session"
FORM_CSRF_COOKIE = "idnode_form_csrf"  # double-submit token of the forms used before a session
LANGUAGE_COOKIE = "idnode_lang"
PAGE_PREFIXES = ("/portal", "/console")
_SESSION = web.RequestKey("web_session", object)
# Scripts and styles only from this node; no inline script can run, so injected markup stays inert.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CsrfRefused(web.HTTPForbidden):
    """A form came without this session's CSRF token."""


def language(request: web.Request) -> str:
    """``?lang=`` if given, else the language cookie, else Chinese."""
    asked = request.query.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto") == "https"


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, **extra: Any
) -> None:
    """A cookie for the pages only: HttpOnly, SameSite=Strict, Secure over TLS."""
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="Strict", secure=is_secure(request), **extra
    )


async def current_session(request: web.Request) -> WebSession | None:
    """The signed-in session of this request, or None (looked up once per request)."""
    if _SESSION not in request:
        request[_SESSION] = await request.app[SESSIONS].current(request.cookies.get(SESSION_COOKIE))
    found = request[_SESSION]
    return found if isinstance(found, WebSession) else None


async def require_session(request: web.Request, *, operator: bool = False) -> WebSession:
    """The signed-in session, else a redirect to the sign-in page; an enterprise on an operator page
    gets 403."""
    session = await current_session(request)
    area = "/console" if operator else "/portal"
    if session is None:
        raise web.HTTPSeeOther(f"{area}/login")
    if operator and not session.principal.is_operator:
        raise web.HTTPForbidden(text="operator_only")
    if not operator and session.principal.is_operator:
        raise web.HTTPSeeOther("/console")
    return session


async def checked_form(request: web.Request, session: WebSession) -> MultiDictProxy[Any]:
    """The POSTed form, after checking its CSRF token against the session's; raise CsrfRefused."""
    form = await request.post()
    sent = form.get("csrf")
    if not request.app[SESSIONS].csrf_ok(session, sent if isinstance(sent, str) else None):
        raise CsrfRefused(text="csrf_failed")
    return form


def form_csrf(request: web.Request) -> str:
    """The token of a form shown without a session (sign-in, application): the one the browser holds
    in its cookie, or a new one (set it with ``set_cookie``)."""
    return request.cookies.get(FORM_CSRF_COOKIE) or secrets.token_urlsafe(32)


def form_csrf_ok(request: web.Request, sent: object) -> bool:
    """Whether a form sent without a session carries the token of its browser's cookie."""
    expected = request.cookies.get(FORM_CSRF_COOKIE)
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())


def switch_language_url(request: web.Request, lang: str) -> str:
    """This page in the other language (its query kept)."""
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = "en" if lang == DEFAULT_LANGUAGE else DEFAULT_LANGUAGE
    return f"{request.path}?{urlencode(query)}"


async def page_context(request: web.Request) -> dict[str, Any]:
    """What every page's template gets: the language, translator, session and its CSRF token."""
    lang = language(request)
    session = await current_session(request)
    return {
        "lang": lang,
        "t": translator(lang),
        "session": session,
        "csrf": session.csrf if session else "",
        "path": request.path,
        "switch_url": switch_language_url(request, lang),
    }


async def render(
    request: web.Request, name: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render ``name`` with ``page_context`` and ``context``."""
    base = await page_context(request)
    response = aiohttp_jinja2.render_template(name, request, {**base, **context}, status=status)
    if request.query.get("lang") == base["lang"]:
        set_cookie(request, response, LANGUAGE_COOKIE, base["lang"], max_age=365 * 86400)
    return response


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


@web.middleware
async def page_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """For the pages: security headers, and core errors and refusals as an HTML page, not JSON."""
    if not request.path.startswith(PAGE_PREFIXES) or request.path.startswith("/portal/static"):
        return await handler(request)
    try:
        response = await handler(request)
    except IdnodeError as exc:
        response = await render(request, "error.html", {"message": exc.message}, status=error_status(exc))
    except (web.HTTPForbidden, web.HTTPNotFound) as exc:
        key = exc.text if exc.text in ("csrf_failed", "operator_only") else "not_found"
        t = translator(language(request))
        response = await render(request, "error.html", {"message": t(key)}, status=exc.status)
    if not response.prepared:  # a streamed page sent its own headers
        response.headers.update(SECURITY_HEADERS)
    return response


def setup_templates(app: web.Application) -> None:
    """Jinja2 over the package's templates, autoescaping everything (every page is HTML)."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("idnode.http.portal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
