"""Request limits against a real node: body sizes (413), per-client rate limits on the fast path and
in the web application (429 with Retry-After), slow clients cut off (408), and the rule that
credentials from another machine need HTTPS.

The node trusts 127.0.0.1 as a proxy, so each test is its own client by ``X-Forwarded-For`` (addresses
from the documentation ranges; nothing is sent to them): the budgets of one test do not touch another's.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.http.helpers import Credentials, onboard

LIMITS = """
max_body_bytes = 4096
max_bulk_body_bytes = 8192
rate_limit_resolves = 1
rate_limit_resolves_burst = 5
rate_limit_writes = 1
rate_limit_writes_burst = 3
trusted_proxies = ["127.0.0.1"]
header_timeout_seconds = 1
body_timeout_seconds = 1
"""
URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/p"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limited")
    (data_dir / "idnode.toml").write_text(LIMITS)
    running = start_server(data_dir)
    try:
        yield running
    finally:
        stop_server(running)


def client(n: int, https: bool = False) -> dict[str, str]:
    """Headers a trusted proxy adds for client ``n`` (and whether it reached the proxy over HTTPS)."""
    return {"X-Forwarded-For": f"198.51.100.{n}", **({"X-Forwarded-Proto": "https"} if https else {})}


async def onboarded(node: Server) -> tuple[str, Credentials]:
    """An enterprise with one identifier, ``<prefix>/P``, set up by a loopback client of its own (the
    machine's operator: its budgets are its own, and it needs no HTTPS)."""
    onboarded.calls += 1  # type: ignore[attr-defined]
    own = {"X-Forwarded-For": f"127.0.0.{10 + onboarded.calls}"}  # type: ignore[attr-defined]
    async with aiohttp.ClientSession(headers=own) as setup:
        prefix, auth = await onboard(setup, node)
        async with setup.put(f"{node.url}/api/handles/{prefix}/P", json=[URL_VALUE], headers=auth) as resp:
            assert resp.status == 200, await resp.text()
    return prefix, auth


onboarded.calls = 0  # type: ignore[attr-defined]


async def test_bodies_over_the_limit_are_refused_with_413(
    limited: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboarded(limited)
    big = [{**URL_VALUE, "data": "https://example.com/" + "x" * 5000}]
    url = f"{limited.url}/api/handles/{prefix}/BIG"
    async with session.put(url, json=big, headers={**auth, **client(1, https=True)}) as resp:
        assert resp.status == 413 and (await resp.json())["responseCode"] == 4
        assert "4096 bytes" in (await resp.json())["message"]

    async def chunked() -> object:  # no Content-Length: refused when it grows past the limit
        for _ in range(6):
            yield b" " * 1000

    headers = {**auth, **client(1, https=True), "Content-Type": "application/json"}
    async with session.put(url, data=chunked(), headers=headers) as resp:
        assert resp.status == 413 and (await resp.json())["responseCode"] == 4
    csv = "suffix,url\n" + "".join(f"B-{n},https://example.com/{n}\n" for n in range(400))
    bulk = f"{limited.url}/api/bulk?prefix={prefix}"
    async with session.post(
        bulk, data=csv, headers={**auth, **client(1, https=True), "Content-Type": "text/csv"}
    ) as resp:
        assert resp.status == 413 and (await resp.json())["responseCode"] == 4
    async with session.get(f"{limited.url}/api/handles/{prefix}/BIG") as resp:
        assert resp.status == 404  # nothing was stored


async def test_resolves_beyond_the_budget_get_429_with_retry_after(
    limited: Server, session: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboarded(limited)
    url = f"{limited.url}/api/handles/{prefix}/P"
    for _ in range(4):  # the fast path (anonymous) ...
        async with session.get(url, headers=client(2)) as resp:
            assert resp.status == 200
    async with session.get(url, headers={**auth, **client(2, https=True)}) as resp:  # ... and aiohttp
        assert resp.status == 200
    for headers in (client(2), {**auth, **client(2, https=True)}):  # the burst of 5 is spent on both
        async with session.get(url, headers=headers) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1"
            body = await resp.json()
            assert body["responseCode"] == 3 and "198.51.100.2" in body["message"]
    async with session.get(url, headers=client(3)) as resp:  # another client is not affected
        assert resp.status == 200
    time.sleep(1.05)  # what Retry-After said: a token is back
    async with session.get(url, headers=client(2)) as resp:
        assert resp.status == 200


async def test_writes_have_their_own_budget(limited: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboarded(limited)
    headers = {**auth, **client(4, https=True)}
    statuses = []
    for n in range(4):
        url = f"{limited.url}/api/handles/{prefix}/W-{n}"
        async with session.put(url, json=[URL_VALUE], headers=headers) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1 and (await resp.json())["responseCode"] == 3
    assert statuses == [200, 200, 200, 429]
    async with session.get(f"{limited.url}/api/handles/{prefix}/W-0", headers=client(4)) as resp:
        assert resp.status == 200  # reads are counted apart
    async with session.get(f"{limited.url}/api/handles/{prefix}/W-3") as resp:
        assert resp.status == 404  # the refused write changed nothing


async def test_credentials_from_afar_need_https(limited: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboarded(limited)
    url = f"{limited.url}/api/handles/{prefix}/T-1"
    async with session.put(url, json=[URL_VALUE], headers={**auth, **client(5)}) as resp:
        body = await resp.json()
        assert resp.status == 403 and body["responseCode"] == 403 and "HTTPS" in body["message"]
    async with session.get(url) as resp:
        assert resp.status == 404
    async with session.put(url, json=[URL_VALUE], headers={**auth, **client(5, https=True)}) as resp:
        assert resp.status == 200  # the proxy terminated TLS for that client
    async with session.get(url, headers={**auth, **client(5)}) as resp:
        assert resp.status == 403  # an authenticated read carries the secret as well


def raw(node: Server) -> socket.socket:
    host, port = node.url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=5)
    return connection


def trickle(connection: socket.socket, head: bytes, drip: bytes, seconds: float = 4.0) -> tuple[bytes, float]:
    """Send ``head``, then one byte of ``drip`` every 0.2 s, as a slowloris client does, until the node
    closes the connection; return what it answered and how long it let the client hold it."""
    started = time.monotonic()
    connection.sendall(head)
    answer = b""
    for byte in drip * 100:
        if time.monotonic() - started > seconds:
            break
        try:
            connection.sendall(bytes([byte]))
        except OSError:  # reset after the node closed
            break
        connection.settimeout(0.2)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
    return answer, time.monotonic() - started


@pytest.mark.parametrize(
    "head",
    [
        b"GET /api/handles/88.999.1001/P HTTP/1.1\r\nHost: x\r\n",
        b"PUT /api/handles/88.999.1001/P HTTP/1.1\r\n",
    ],
    ids=["resolve", "write"],
)
def test_a_slowloris_head_is_cut_off(limited: Server, head: bytes) -> None:
    with raw(limited) as connection:
        answer, held = trickle(connection, head, b"X-Slow: 1")
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"responseCode":4' in answer
    assert held < 2.5  # header_timeout_seconds = 1, checked four times a second


def test_a_silent_connection_is_cut_off(limited: Server) -> None:
    with raw(limited) as connection:
        connection.settimeout(4)
        started = time.monotonic()
        assert connection.recv(65536).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 2.5


async def test_a_slowloris_body_is_cut_off(limited: Server, session: aiohttp.ClientSession) -> None:
    prefix, auth = await onboarded(limited)
    head = (
        f"PUT /api/handles/{prefix}/SLOW HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Length: 2000\r\n\r\n["
    ).encode()
    with raw(limited) as connection:
        answer, held = trickle(connection, head, b" ")
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"responseCode":4' in answer
    assert held < 3  # body_timeout_seconds = 1 (plus 1 s per max_body_bytes received)


async def test_a_client_that_keeps_up_is_served(limited: Server, session: aiohttp.ClientSession) -> None:
    prefix, _ = await onboarded(limited)
    request = f"GET /api/handles/{prefix}/P HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.6\r\n\r\n"
    with raw(limited) as connection:
        for _ in range(2):  # a keep-alive connection idle between requests for less than the idle timeout
            connection.sendall(request.encode())
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.6)
