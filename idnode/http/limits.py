"""Request limits of the aiohttp application: the client's rate budget, the body's size and how fast
it must arrive.

A request is counted against its client's budget (writes or reads, see ``idnode.http.clients``) before
anything else is done for it. A body declared larger than the route takes (``max_body_bytes``, or what
a handler marked with ``takes_body`` declares) is refused before it is read; a chunked one when it
grows past that. A body must arrive within ``body_timeout_seconds`` plus that long again
for every ``max_body_bytes`` received (a floor of about 70 KB/s for the defaults), else 408 and the
connection is closed: a client trickling a body cannot hold a connection and a handler for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from idnode.config import Settings
from idnode.http.keys import CLIENTS, SETTINGS
from idnode.model.channel import Channel
from idnode.model.errors import BodyTooLarge, RequestTimedOut
from idnode.ratelimit import client_key

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHANNEL = "idnode.channel"


class SlowBody(TimeoutError):
    """Set on a request's payload stream when the body is late (a TimeoutError, so aiohttp's lingering
    read after the response stops at it and closes the connection)."""


def takes_body(limit: Callable[[Settings], int]) -> Callable[[Handler], Handler]:
    """Mark a handler that streams a body of up to ``limit(settings)`` bytes instead of
    ``max_body_bytes`` (and checks what it reads itself)."""

    def mark(handler: Handler) -> Handler:
        handler.body_limit = limit  # type: ignore[attr-defined]
        return handler

    return mark


def channel_of(request: web.Request) -> Channel:
    """The client of ``request`` (see ``idnode.http.clients``), worked out once per request."""
    found = request.get(CHANNEL)
    if found is None:
        headers = request.headers
        found = request.app[CLIENTS].channel(
            request.remote or "",
            request.secure,
            headers.get(hdrs.X_FORWARDED_FOR),
            headers.get(hdrs.X_FORWARDED_PROTO),
        )
        request[CHANNEL] = found
    return found


def body_limit(request: web.Request) -> int:
    settings = request.app[SETTINGS]
    limit = getattr(request.match_info.handler, "body_limit", None)
    return settings.max_body_bytes if limit is None else limit(settings)


def too_large(limit: int) -> BodyTooLarge:
    shown = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
    return BodyTooLarge(f"The body is larger than {shown}, the most this node takes here.")


class BodyDeadline:
    """Watches a request body's arrival (see the module docstring) without a task of its own."""

    def __init__(self, request: web.Request, grace: float, per_second: float) -> None:
        self.content = request.content
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.grace, self.per_second = grace, per_second
        self.timer = self.loop.call_at(self._deadline(), self._check)

    def _deadline(self) -> float:
        return self.start + self.grace + self.content.total_bytes / self.per_second

    def _check(self) -> None:
        if self.content.is_eof():
            return
        deadline = self._deadline()
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self._check)
            return
        self.content.set_exception(SlowBody())

    def cancel(self) -> None:
        self.timer.cancel()


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the rate budget and the body limits to every request (see the module docstring)."""
    clients = request.app[CLIENTS]
    clients.admit(clients.limiter(request.method), client_key(channel_of(request).address))
    if not request.body_exists:
        return await handler(request)
    limit = body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    settings = request.app[SETTINGS]
    timeout = settings.body_timeout_seconds
    deadline = BodyDeadline(request, timeout, settings.max_body_bytes / timeout)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise too_large(limit) from None
    except SlowBody:
        raise RequestTimedOut(
            f"The body did not arrive in time (it must come at least as fast as "
            f"{settings.max_body_bytes} bytes per {timeout:g} s)."
        ) from None
    finally:
        deadline.cancel()
