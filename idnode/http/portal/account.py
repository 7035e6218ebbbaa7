"""Signing in and out of the portal and the console, changing the password, the language toggle and
the enterprise's own statistics."""

from __future__ import annotations

import math
import re

from aiohttp import web

from idnode.http.keys import SESSIONS, STATS
from idnode.http.limits import channel_of
from idnode.http.portal.messages import translator
from idnode.http.portal.pages import (
    FORM_CSRF_COOKIE,
    SESSION_COOKIE,
    checked_form,
    current_session,
    form_csrf,
    form_csrf_ok,
    language,
    render,
    require_session,
    set_cookie,
)
from idnode.model.errors import AuthenticationNeeded, IdnodeError, LoginThrottled
from idnode.model.identifier import admin_handle
from idnode.registry import SECKEY_INDEX

_USERNAME = re.compile(r"(\d+):(.+)")


def parse_username(text: str) -> tuple[int, str]:
    """(index, handle) from ``300:<handle>``, or from a bare enterprise prefix (its ADMIN key)."""
    text = text.strip()
    match = _USERNAME.fullmatch(text)
    if match:
        return int(match.group(1)), match.group(2)
    return SECKEY_INDEX, str(admin_handle(text)) if text else ""


async def _login_page(
    request: web.Request, area: str, *, message: str = "", status: int = 200
) -> web.Response:
    token = form_csrf(request)
    response = await render(
        request, "login.html", {"area": area, "login_csrf": token, "message": message}, status=status
    )
    set_cookie(request, response, FORM_CSRF_COOKIE, token)
    return response


async def login_form(request: web.Request) -> web.Response:
    area = "console" if request.path.startswith("/console") else "portal"
    return await _login_page(request, area)


async def login_submit(request: web.Request) -> web.Response:
    area = "console" if request.path.startswith("/console") else "portal"
    t = translator(language(request))
    form = await request.post()
    if not form_csrf_ok(request, form.get("csrf")):
        return await _login_page(request, area, message=t("csrf_failed"), status=403)
    try:
        index, handle = parse_username(str(form.get("username", "")))
        secret = str(form.get("secret", ""))
        token, session = await request.app[SESSIONS].sign_in(
            handle, index, secret, channel=channel_of(request)
        )
    except LoginThrottled as exc:
        locked = t("locked", minutes=math.ceil(exc.retry_after / 60))
        response = await _login_page(request, area, message=locked, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (AuthenticationNeeded, IdnodeError):
        return await _login_page(request, area, message=t("wrong_credentials"), status=401)
    home = "/console/applications" if session.principal.is_operator else "/portal/identifiers"
    response = web.HTTPSeeOther(home)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=_session_seconds(request))
    response.del_cookie(FORM_CSRF_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    session = await current_session(request)
    area = "/console" if request.path.startswith("/console") else "/portal"
    if session is not None:
        await checked_form(request, session)
        await request.app[SESSIONS].sign_out(session)
    response = web.HTTPSeeOther(f"{area}/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def home(request: web.Request) -> web.Response:
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/portal/login")
    raise web.HTTPSeeOther("/console" if session.principal.is_operator else "/portal/identifiers")


async def _password_page(
    request: web.Request, message: str = "", *, done: bool = False, status: int = 200
) -> web.Response:
    return await render(request, "password.html", {"message": message, "done": done}, status=status)


async def password_form(request: web.Request) -> web.Response:
    if await current_session(request) is None:
        raise web.HTTPSeeOther("/portal/login")
    if request.query.get("changed"):
        return await _password_page(request, translator(language(request))("secret_changed"), done=True)
    return await _password_page(request)


async def password_submit(request: web.Request) -> web.Response:
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/portal/login")
    form = await checked_form(request, session)
    t = translator(language(request))
    new, current = str(form.get("new", "")), str(form.get("current", ""))
    if new != str(form.get("repeat", "")):
        return await _password_page(request, t("secrets_differ"), status=400)
    try:
        token, _ = await request.app[SESSIONS].change_secret(
            session, current, new, channel=channel_of(request)
        )
    except AuthenticationNeeded:
        return await _password_page(request, t("wrong_credentials"), status=400)
    except IdnodeError as exc:
        return await _password_page(request, exc.message, status=400)
    response = web.HTTPSeeOther("/portal/password?changed=1")  # with the new session's cookie
    set_cookie(request, response, SESSION_COOKIE, token, max_age=_session_seconds(request))
    raise response


def _session_seconds(request: web.Request) -> int:
    return int(request.app[SESSIONS].lifetime.total_seconds())


async def statistics(request: web.Request) -> web.Response:
    session = await require_session(request)
    figures = await request.app[STATS].enterprise(session.principal.prefix)
    peak = max([1, *(max(d["created"], d["resolutions"]) for d in figures["days"])])
    return await render(request, "stats.html", {"figures": figures, "peak": peak})


routes = [
    web.get("/portal", home),
    web.get("/portal/", home),
    web.get("/portal/login", login_form),
    web.post("/portal/login", login_submit),
    web.post("/portal/logout", logout),
    web.get("/console/login", login_form),
    web.post("/console/login", login_submit),
    web.post("/console/logout", logout),
    web.get("/portal/password", password_form),
    web.post("/portal/password", password_submit),
    web.get("/portal/stats", statistics),
]
