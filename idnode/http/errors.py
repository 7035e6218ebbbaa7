"""The one table mapping Handle responseCodes to HTTP statuses, and JSON error responses.

From Handle.Net 9's BaseHandleRequestProcessingServlet: 1 → 200 (201 for create-only PUT); 200 →
200 on resolve, else 400; 100 → 404; 101/201 → 409; 2 → 500; 4/102/202/301 → 400; 302/303 → 300;
5 → 501; 3/7 → 503; 402 → 401; 400/401/403/404 → 403; anything else → 500. A few errors that no
Handle code describes have their own status in ``STATUS_BY_ERROR``: too many requests or failed
logins 429 with ``Retry-After``, a body too large 413, a body too slow 408, an application's illegal
transition 409, a licence upload of the wrong type 415.

LoginThrottled (RC 3) is 429 Too Many Requests (RFC 6585) with ``Retry-After``, because the caller,
not the server, must slow down; a 401 would tell a legitimate user that a right secret was wrong (and
make browsers ask again at once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from idnode.model.errors import (
    BodyTooLarge,
    IdnodeError,
    LicenceTooLarge,
    RateLimited,
    RequestTimedOut,
    TransitionNotAllowed,
    UnsupportedLicenceType,
)

log = logging.getLogger(__name__)

STATUS_BY_RESPONSE_CODE: dict[int, int] = {
    1: 200,
    100: 404,
    101: 409,
    201: 409,
    4: 400,
    102: 400,
    202: 400,
    301: 400,
    302: 300,
    303: 300,
    5: 501,
    3: 503,
    7: 503,
    402: 401,
    400: 403,
    401: 403,
    403: 403,
    404: 403,
}
# Errors whose HTTP status their responseCode does not tell (3 would be 503, 4 would be 400), looked
# up along the class hierarchy.
STATUS_BY_ERROR: dict[type[IdnodeError], int] = {
    RateLimited: 429,
    BodyTooLarge: 413,
    RequestTimedOut: 408,
    TransitionNotAllowed: 409,
    LicenceTooLarge: 413,
    UnsupportedLicenceType: 415,
}
# HTTP errors raised by aiohttp itself (unknown route, wrong method, ...) in Handle terms.
RESPONSE_CODE_BY_HTTP: dict[int, int] = {404: 100, 405: 4, 413: 4, 400: 4}


def error_status(exc: IdnodeError) -> int:
    """The HTTP status of an error: its own (``STATUS_BY_ERROR``), else its responseCode's."""
    found = next((STATUS_BY_ERROR[c] for c in type(exc).__mro__ if c in STATUS_BY_ERROR), None)
    return found or http_status(exc.response_code)


def http_status(response_code: int, *, resolve: bool = False) -> int:
    if response_code == 200:
        return 200 if resolve else 400
    return STATUS_BY_RESPONSE_CODE.get(response_code, 500)


def json_response(
    body: dict[str, Any], status: int = 200, *, pretty: bool = False, headers: dict[str, str] | None = None
) -> web.Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return web.Response(
        body=orjson.dumps(body, option=option),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(
    response_code: int,
    message: str,
    status: int | None = None,
    handle: str | None = None,
    retry_after: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"responseCode": response_code, "message": message}
    if handle is not None:
        body["handle"] = handle
    status = status or http_status(response_code)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="handle"'
    if status in (429, 503):
        headers["Retry-After"] = str(retry_after or 1)
    return json_response(body, status, headers=headers)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into a JSON body with a Handle responseCode; never an HTML traceback."""
    try:
        return await handler(request)
    except IdnodeError as exc:
        handle = request.match_info.get("handle")
        status = error_status(exc)
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        return error_response(exc.response_code, exc.message, status, handle, retry_after)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = RESPONSE_CODE_BY_HTTP.get(exc.status, 2)
        return error_response(code, exc.reason or "Error", status=exc.status)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(2, "Internal server error.", status=500)
