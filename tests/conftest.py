"""Shared fixtures: databases (SQLite and, when reachable, PostgreSQL), the core, and a real server.

PostgreSQL tests get a fresh database per test (``CREATE DATABASE … TEMPLATE``) on the local server
(127.0.0.1:5432, user postgres, database ``test``); they skip with the reason when it is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from idnode.config import Settings, load_settings
from idnode.core import Core, open_core

PG_ADMIN_DSN = os.environ.get("IDNODE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
_pg_reason: str | None = None
_pg_checked = False


def postgres_unavailable() -> str | None:
    """None if the local PostgreSQL answers, else why not (checked once per run)."""
    global _pg_checked, _pg_reason
    if not _pg_checked:
        _pg_checked = True
        try:
            import asyncpg

            async def probe() -> None:
                conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
                await conn.close()

            asyncio.run(probe())
        except Exception as exc:  # any failure means: skip, and say why
            _pg_reason = f"PostgreSQL at {PG_ADMIN_DSN} unreachable: {exc}"
    return _pg_reason


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _asyncpg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


def fresh_pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its SQLAlchemy URL, drop it afterwards."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"idnode_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    try:
        yield _asyncpg_url(name)
    finally:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from fresh_pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL; '' means the SQLite file in the data dir."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_database")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings({"data_dir": tmp_path / "data", "db": db_url or None}, environ={})


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Core]:
    async with open_core(settings) as opened:
        yield opened


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``idnode`` command as a user would (a separate process)."""
    result = subprocess.run(
        [sys.executable, "-m", "idnode.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"idnode {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@dataclass
class Server:
    """A running ``idnode serve`` process and the operator credential it was initialised with."""

    url: str
    data_dir: Path
    db: str
    operator: tuple[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)
    dns_port: int | None = None  # UDP and TCP, on 127.0.0.1, when started with DNS

    def cli_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), *(["--db", self.db] if self.db else [])]


def start_server(
    data_dir: Path,
    db: str = "",
    port: int | None = None,
    *,
    dns: bool = False,
    http: bool = True,
    options: Sequence[str] = (),
) -> Server:
    """Initialise (if needed) and start a real node, with DNS listeners if ``dns`` (and without HTTP
    if not ``http``) and further ``idnode serve`` ``options`` (``--tls-cert`` makes its URL https);
    wait until it accepts connections."""
    storage = ["--data-dir", str(data_dir), *(["--db", db] if db else [])]
    init = json.loads(run_cli("init", *storage, "--json").stdout)
    port = port or free_port()
    dns_port = free_port() if dns else None
    options = [
        *(["--dns", f"127.0.0.1:{dns_port}"] if dns else []),
        *([] if http else ["--no-http"]),
        *options,
    ]
    log = data_dir / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "idnode.cli", "serve", *storage, "--port", str(port), *options],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    listening = port if http else dns_port  # DNS listens before HTTP does
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", listening), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(f"server did not start:\n{log.read_text()}")
    operator = (init["operator"]["username"], init["operator"]["secret"] or "")
    scheme = "https" if "--tls-cert" in options else "http"
    return Server(f"{scheme}://127.0.0.1:{port}", data_dir, db, operator, process, log, dns_port=dns_port)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def module_node(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, **options: Any
) -> Iterator[Server]:
    """A real node on the database ``request.param`` names, for a module-scoped fixture."""
    databases = fresh_pg_database() if request.param == "postgresql" else iter([""])
    db = next(databases)
    running = start_server(tmp_path_factory.mktemp("node"), db, **options)
    try:
        yield running
    finally:
        stop_server(running)
        next(databases, None)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real node per test module and database, shared by the module's tests (each test uses its
    own enterprises, so they do not interfere)."""
    yield from module_node(request, tmp_path_factory)


@pytest.fixture
def server(tmp_path: Path, db_url: str) -> Iterator[Server]:
    """A real node on a free port, on SQLite and on PostgreSQL."""
    running = start_server(tmp_path / "node", db_url)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """A real node on the embedded default only (for tests whose subject is not storage)."""
    running = start_server(tmp_path / "node")
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session for one test."""
    async with aiohttp.ClientSession() as client:
        yield client
