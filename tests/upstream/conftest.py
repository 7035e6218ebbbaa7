"""A real node reporting to the top-level node simulator (tools/toplevel_sim.py), both real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Server, free_port, start_server, stop_server

SIMULATOR = Path(__file__).resolve().parents[2] / "tools" / "toplevel_sim.py"
BATCH = 7
TIMEOUT_SECONDS = 1.0  # the node's patience with the upstream (a stall lasts longer)
MAX_BACKOFF_SECONDS = 0.4


@dataclass
class Simulator:
    """A running simulator process."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"did not start:\n{log.read_text()}")


def start_simulator(directory: Path, node_url: str) -> Simulator:
    port = free_port()
    log = directory / "simulator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SIMULATOR), "--port", str(port), "--node", f"88.999={node_url}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_listening(port, process, log)
    return Simulator(f"http://127.0.0.1:{port}", process, log)


def start_reporting_node(data_dir: Path, db: str, port: int, simulator: Simulator) -> Server:
    """A node (on ``port``) whose upstream is ``simulator``, with short timeouts and backoff."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "idnode.toml").write_text(
        f'upstream_url = "{simulator.url}/api/reports"\n'
        f"upstream_batch = {BATCH}\n"
        f"upstream_timeout_seconds = {TIMEOUT_SECONDS}\n"
        f"upstream_max_backoff_seconds = {MAX_BACKOFF_SECONDS}\n"
    )
    return start_server(data_dir, db, port)


@dataclass
class Linked:
    """A node and its top-level node simulator."""

    node: Server
    simulator: Simulator
    port: int


@pytest.fixture
def linked(tmp_path: Path, db_url: str) -> Iterator[Linked]:
    port = free_port()
    simulator = start_simulator(tmp_path, f"http://127.0.0.1:{port}")
    try:
        running = Linked(start_reporting_node(tmp_path / "node", db_url, port, simulator), simulator, port)
        try:
            yield running
        finally:
            stop_server(running.node)
    finally:
        simulator.process.terminate()
        simulator.process.wait(timeout=10)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
