"""Serving the node: the fast path on the listening socket, the aiohttp app behind it, the DNS
listeners on the same core, N workers; HTTPS when a certificate is configured.

SIGTERM (or SIGINT) drains: the listener closes at once (new connections are refused), requests in
flight are answered (for at most ``shutdown_timeout_seconds``), then the process exits with status 0.

With ``workers`` > 1 the parent initialises the node once, then forks that many workers that each
listen on the same port (SO_REUSEPORT, so the kernel spreads connections) and each keep their own
resolution cache, kept consistent by the transparency-log feed (see ``idnode.invalidation``). The
parent restarts a worker that dies and passes SIGTERM/SIGINT on to all of them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import uvloop
from aiohttp import web

from idnode.config import Settings
from idnode.core import keep_new_operator, open_core
from idnode.dns import server as dns_server
from idnode.http.app import create_app
from idnode.http.fastpath import FastPathProtocol, Limits, check_timeouts
from idnode.http.keys import CLIENTS, RESOLVER
from idnode.http.protocol import handler_factory
from idnode.resolver import Resolver
from idnode.serving import serving_core

log = logging.getLogger(__name__)
RESTART_AFTER_SECONDS = 10.0  # a worker that dies sooner after starting is not restarted


async def serve(
    settings: Settings, *, reuse_port: bool = False, announce: Callable[[str], None] = print
) -> None:
    """Serve HTTP (unless ``settings.http`` is off) and DNS (if ``settings.dns`` is set), on one core
    and one resolution cache, until SIGTERM or SIGINT."""
    async with AsyncExitStack() as stack:
        if settings.http:
            runner = web.AppRunner(
                create_app(settings),
                access_log=None,
                handle_signals=False,
                keepalive_timeout=settings.idle_timeout_seconds,
                shutdown_timeout=settings.shutdown_timeout_seconds,
            )
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            resolver = runner.app[RESOLVER]
        else:
            resolver = (await stack.enter_async_context(serving_core(settings))).core.resolver
        if settings.dns_address is not None:
            await stack.enter_async_context(dns_server.listening(settings, resolver, reuse_port=reuse_port))
            announce(f"idnode answering DNS for {settings.dns_zone} on {settings.dns} (UDP and TCP)")
        if settings.http:
            await stack.enter_async_context(_fast_path(settings, runner, resolver, reuse_port))
            scheme = "https" if settings.tls_cert else "http"
            announce(f"idnode serving on {scheme}://{settings.host}:{settings.port} (pid {os.getpid()})")
        # Everything made at start-up lives as long as the process: keep the cyclic collector from
        # rescanning it on every collection (each resolve allocates, and collections would stall it).
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


@asynccontextmanager
async def _fast_path(
    settings: Settings, runner: web.AppRunner, resolver: Resolver, reuse_port: bool
) -> AsyncIterator[None]:
    """The HTTP(S) listener: the fast path in front of the aiohttp application. On exit it stops
    listening and lets the fast path's connections finish the answers they are working out."""
    loop = asyncio.get_running_loop()
    connections: set[FastPathProtocol] = set()
    limits = Limits.of(settings, runner.app[CLIENTS])
    assert runner.server is not None
    fallback = handler_factory(runner.server)
    server = await loop.create_server(
        lambda: FastPathProtocol(resolver, fallback, connections, limits),
        settings.host,
        settings.port,
        reuse_port=reuse_port or None,
        backlog=1024,
        ssl=tls_context(settings),
        ssl_handshake_timeout=settings.header_timeout_seconds if settings.tls_cert else None,
    )
    sweeper = asyncio.create_task(check_timeouts(connections, limits))
    try:
        yield
    finally:
        sweeper.cancel()
        server.close()
        for connection in list(connections):
            connection.drain()
        deadline = loop.time() + settings.shutdown_timeout_seconds
        while connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(connections):
            connection.close()


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 and later) when a certificate is configured, else None."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def run(settings: Settings, announce: Callable[[str], None] = print) -> None:
    """Serve in this process (one worker) or in ``settings.workers`` forked workers."""
    if not settings.http and settings.dns_address is None:
        raise ValueError("nothing to serve: HTTP is off and no DNS address is given (--dns HOST:PORT)")
    tls_context(settings)  # a bad certificate or key stops the start here, not in every worker
    if settings.workers <= 1:
        uvloop.run(serve(settings, announce=announce))
        return
    uvloop.run(_initialise(settings))  # migrations and the operator credential, once
    children: dict[int, tuple[int, float]] = {}  # pid → (worker number, when it started)
    stopping = False

    def start(number: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                uvloop.run(serve(settings, reuse_port=True, announce=announce))
            except BaseException:
                log.exception("worker %d failed", number)
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children[pid] = (number, time.monotonic())

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            os.kill(pid, signum)

    for number in range(settings.workers):
        start(number)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while children:
        pid, status = os.wait()
        if pid not in children:
            continue
        number, started = children.pop(pid)
        if stopping:
            continue
        if time.monotonic() - started < RESTART_AFTER_SECONDS:  # failing at start: restarting won't help
            log.error("worker %d (pid %d) failed at start; stopping the node", number, pid)
            forward(signal.SIGTERM, None)
            raise SystemExit(1)
        log.warning("worker %d (pid %d) exited with status %d; restarting it", number, pid, status)
        start(number)


async def _initialise(settings: Settings) -> None:
    async with open_core(settings) as core:
        keep_new_operator(core)
