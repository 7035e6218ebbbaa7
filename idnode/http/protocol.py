"""aiohttp's connection protocol, with the requests it rejects itself answered in JSON.

A request aiohttp cannot parse (a request line or header longer than its limits, a malformed head)
never reaches the app or its error middleware; aiohttp answers it from ``RequestHandler.handle_error``
in plain text. This handler answers those too as ``{"responseCode", "message"}``, as every other
error of the node is answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web

from idnode.http.errors import RESPONSE_CODE_BY_HTTP, error_response

MAX_MESSAGE = 200  # aiohttp's message may quote the offending bytes; keep the answer short


class JsonErrorsHandler(web.RequestHandler):
    """aiohttp's RequestHandler, its own error answers in the node's JSON error form."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs, and refuses once a response began
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            text = "Internal server error."
        else:
            text = (message or HTTPStatus(status).phrase)[:MAX_MESSAGE]
        response = error_response(RESPONSE_CODE_BY_HTTP.get(status, 2), text, status=status)
        response.force_close()
        return response


def handler_factory(server: web.Server) -> Callable[[], web.RequestHandler]:
    """What the fast path hands a connection to: a JsonErrorsHandler serving ``server``, with the
    handler options the runner gave ``server`` (keep-alive timeout, access log, ...)."""
    loop = asyncio.get_running_loop()
    options = server._kwargs  # aiohttp keeps them only there; Server.__call__ reads them the same way
    return lambda: JsonErrorsHandler(server, loop=loop, **options)
