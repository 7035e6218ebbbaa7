"""Graceful shutdown: SIGTERM while a request is being served lets it finish, refuses new connections
at once, and the node exits with status 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import aiohttp

from tests.conftest import start_server, stop_server
from tests.http.helpers import onboard

ROWS = 6_000  # three batches of the bulk path: long enough to be caught in the middle


def refused(url: str) -> bool:
    """Whether a new connection is turned away: refused, or reset because the listener closed while
    it waited in the accept queue (the kernel resets what a closed listener never accepted)."""
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


async def test_sigterm_drains_requests_in_flight(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    node = start_server(tmp_path / "node")
    try:
        prefix, auth = await onboard(session, node)
        csv = "suffix,url\n" + "".join(f"S-{n},https://example.com/{n}\n" for n in range(ROWS))
        upload = asyncio.ensure_future(
            session.post(
                f"{node.url}/api/bulk?prefix={prefix}", data=csv, headers={**auth, "Content-Type": "text/csv"}
            )
        )
        first = f"{node.url}/api/handles/{prefix}/S-0"
        async with aiohttp.ClientSession() as other:  # its own connections, not the upload's
            for _ in range(400):  # until the first batch is committed: the import is under way
                async with other.get(first) as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.02)
        assert not upload.done()
        node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        while not refused(node.url) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert refused(node.url) and not upload.done()  # no new connections while the import finishes
        response = await upload
        body = await response.json()
        assert response.status == 200 and body["created"] == ROWS and body["failed"] == 0
        assert await asyncio.to_thread(node.process.wait, 30) == 0
    finally:
        stop_server(node)
