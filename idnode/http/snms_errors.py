"""The one table mapping the IdnodeError hierarchy to SNMS statuses and messages, and SNMS envelopes.

Every SNMS answer is ``{"status", "message", "data"}``. Statuses, from the SNMS documentation's
appendix (docs/dev-tools/snms/attachment.md): 1 success; -1 not logged in (and, in its examples,
系统繁忙: busy, retry); -2 business failure, the message says why; -3 no permission; -4 internal
error. Messages are Chinese, as the documented examples are; where the table says so, the node's
own (English) explanation follows. The HTTP status is the one the Handle API gives the same error
(idnode/http/errors.py), with ``WWW-Authenticate: Bearer`` on 401 and ``Retry-After`` on 429 (too
many requests or failed logins) and 503 (busy).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from idnode.http.errors import error_status, json_response
from idnode.http.limits import SlowBody
from idnode.model.errors import (
    AuthenticationFailed,
    AuthenticationNeeded,
    ConflictingUpdate,
    DataTemplateExists,
    DataTemplateInvalid,
    DataTemplateNotFound,
    EnterpriseSuspended,
    HandleAlreadyExists,
    HandleNotFound,
    IdnodeError,
    InsecureChannel,
    InsufficientPermissions,
    InvalidHandle,
    InvalidTemplate,
    InvalidValue,
    LoginFailed,
    LoginThrottled,
    PrefixNotHere,
    ProtocolError,
    RateLimited,
    ReadOnlyMirror,
    SnmsInvalid,
    TemplateExists,
    TemplateInUse,
    TemplateMismatch,
    TemplateNotFound,
    TokenRejected,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

SUCCESS = 1
SUCCESS_MESSAGE = "success"


@dataclass(frozen=True, slots=True)
class Answer:
    """How SNMS answers an error: its status and message (None: the error's own message, written for
    SNMS clients); ``explained`` appends the error's message; ``item`` is the message in a batch's
    per-item results when it differs."""

    status: int
    message: str | None
    explained: bool = False
    item: str | None = None


# Looked up along the error's class hierarchy: the most specific entry wins.
ANSWERS: dict[type[IdnodeError], Answer] = {
    SnmsInvalid: Answer(-2, None),
    LoginFailed: Answer(-2, None),
    LoginThrottled: Answer(-2, "登录失败次数过多，请稍后再试"),
    RateLimited: Answer(-1, "请求过于频繁，请稍后再试"),
    InsecureChannel: Answer(-2, "凭据只能通过HTTPS发送（本机访问除外）"),
    TokenRejected: Answer(-1, None),
    AuthenticationNeeded: Answer(-1, "没有登录，需要验证"),
    AuthenticationFailed: Answer(-1, "没有登录，需要验证"),
    InsufficientPermissions: Answer(-3, "没有权限"),
    EnterpriseSuspended: Answer(-3, "企业已停用，标识不能修改"),
    HandleNotFound: Answer(-2, "没有找到标识", item="标识不存在"),
    HandleAlreadyExists: Answer(-2, "标识已存在"),
    InvalidHandle: Answer(-2, "标识格式错误", explained=True),
    InvalidValue: Answer(-2, "标识属性不合法", explained=True),
    ProtocolError: Answer(-2, "请求参数错误", explained=True),
    PrefixNotHere: Answer(-2, "前缀不在本节点"),
    DataTemplateInvalid: Answer(-2, None),
    DataTemplateNotFound: Answer(-2, None),
    DataTemplateExists: Answer(-2, None),
    TemplateMismatch: Answer(-2, None),
    TemplateInUse: Answer(-2, "数据模板正被标识使用，不能删除"),
    TemplateNotFound: Answer(-2, "数据模板不存在"),
    TemplateExists: Answer(-2, "数据模板刚被修改，请重新查询后再提交"),
    InvalidTemplate: Answer(-2, "数据模板不合法", explained=True),
    ReadOnlyMirror: Answer(-2, "本节点是只读镜像，请向主节点提交"),
    ConflictingUpdate: Answer(-1, "系统繁忙"),
    UpstreamUnavailable: Answer(-1, "系统繁忙"),
    IdnodeError: Answer(-4, "系统内部错误"),
}


# An error only the root entry covers but whose Handle responseCode says "busy, retry" (3) is answered
# as busy, not as an internal error: front-end-neutral errors may be added to the hierarchy later.
BUSY_CODE = 3


def answer_for(exc: IdnodeError, *, item: bool = False) -> tuple[int, str]:
    """(SNMS status, message) for an error; ``item``: as a batch's per-item result says it."""
    answer = next(ANSWERS[cls] for cls in type(exc).__mro__ if cls in ANSWERS)
    if answer is ANSWERS[IdnodeError] and exc.response_code == BUSY_CODE:
        answer = ANSWERS[ConflictingUpdate]
    message = (item and answer.item) or answer.message
    if message is None:
        return answer.status, exc.message
    return answer.status, f"{message}：{exc.message}" if answer.explained else message


def envelope(
    data: Any, status: int = SUCCESS, message: str = SUCCESS_MESSAGE, http: int = 200, retry_after: int = 1
) -> web.Response:
    headers = {}
    if http == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="snms"'
    if http in (429, 503):
        headers["Retry-After"] = str(retry_after)  # as the Handle API answers them
    return json_response({"status": status, "message": message, "data": data}, http, headers=headers)


def error_envelope(exc: IdnodeError) -> web.Response:
    """The SNMS answer to an error, with the HTTP status the Handle API gives it."""
    status, message = answer_for(exc)
    http = error_status(exc)
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else 1
    return envelope(None, status, message, http, retry_after)


def item_result(handle: str, error: IdnodeError | None) -> dict[str, Any]:
    """One batch item's result: ``{handle, code, msg}``."""
    if error is None:
        return {"handle": handle, "code": SUCCESS, "msg": SUCCESS_MESSAGE}
    status, message = answer_for(error, item=True)
    return {"handle": handle, "code": status, "msg": message}


Handler = Callable[[web.Request], Awaitable[Any]]


def snms_endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler answering the data ``handler`` returns, or its error, in an SNMS envelope."""

    async def answer(request: web.Request) -> web.Response:
        try:
            return envelope(await handler(request))
        except IdnodeError as exc:
            return error_envelope(exc)
        except (web.HTTPException, SlowBody):
            raise  # a body past its limit or too slow: the limits middleware answers 413 or 408
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return envelope(None, -4, "系统内部错误", 500)

    return answer
