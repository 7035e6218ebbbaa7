"""Shared pieces of the benchmark scripts: ports, processes, seeding a node, wrk runs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from idnode.bulk import DEFAULT_BATCH, BulkRegistrar
from idnode.config import Settings, load_settings
from idnode.core import open_core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.values import HandleValue
from idnode.registry import SECKEY_INDEX
from idnode.sample import make_uscc

console = Console(stderr=True)
DATASET_MARK = "bench-dataset.json"


def report(title: str, results: dict[str, Any]) -> None:
    """A benchmark's figures: a rich table on stderr, JSON on stdout."""
    table = Table("measure", "value", title=title)
    for name, value in results.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int | float) else str(value))
    console.print(table)
    print(json.dumps(results, indent=2, ensure_ascii=False))


def publish(document: dict[str, Any], path: Path | None) -> None:
    """A benchmark's results as JSON on stdout and, if ``path`` is given, in that file."""
    text = json.dumps(document, indent=2)
    print(text)
    if path is not None:
        path.write_text(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def sample_values(n: int) -> list[HandleValue]:
    """A typical product record: URL, model, batch."""
    return [
        HandleValue.from_json({"index": 1, "type": "URL", "data": f"https://example.com/p/{n}"}),
        HandleValue.from_json({"index": 2, "type": "MODEL", "data": "离心泵 IS80-65-160"}),
        HandleValue.from_json({"index": 3, "type": "BATCH", "data": f"B-2026-{n % 97:03d}"}),
    ]


def bench_enterprise(settings: Settings, serial: int = 1) -> EnterpriseDraft:
    return EnterpriseDraft.from_json(
        {
            "name": "基准测试企业",
            "uscc": make_uscc(serial),
            "district": "盐都区",
            "industry": "通用设备制造业",
        },
        settings.districts,
    )


async def seed(settings: Settings, count: int) -> list[str]:
    """Onboard one enterprise and register ``count`` identifiers through the registry."""
    handles = []
    async with open_core(settings) as core:
        enterprise, _ = await core.registry.add_enterprise(core.local_operator, bench_enterprise(settings))
        with Progress(console=console) as progress:
            task = progress.add_task("registering identifiers", total=count)
            for n in range(count):
                handle = f"{enterprise.prefix}/PUMP-2026-{n:07d}"
                await core.registry.put_record(
                    core.local_operator, Identifier.parse(handle), sample_values(n)
                )
                handles.append(handle)
                progress.advance(task)
    return handles


@dataclass(frozen=True)
class Seeded:
    """What ``seed_bulk`` registered: ``count`` identifiers ``handle(0)`` ... ``handle(count - 1)``."""

    prefix: str
    count: int

    def handle(self, n: int) -> str:
        return f"{self.prefix}/PUMP-2026-{n:08d}"


async def seed_bulk(
    settings: Settings, count: int, *, prefix_serial: int = 1, batch_size: int = DEFAULT_BATCH
) -> Seeded:
    """Onboard one enterprise (USCC serial ``prefix_serial``) and register ``count`` signed identifiers
    ``<prefix>/PUMP-2026-{n:08d}`` with ``sample_values(n)`` through the bulk path, as its admin.

    Items are generated as they are written, so ten million cost no more memory than one batch.
    """
    async with open_core(settings) as core:
        enterprise, _ = await core.registry.add_enterprise(
            core.local_operator, bench_enterprise(settings, prefix_serial)
        )
        seeded = Seeded(enterprise.prefix, count)
        admin = Principal(f"{enterprise.prefix}/ADMIN", SECKEY_INDEX)
        items = ((Identifier(seeded.prefix, f"PUMP-2026-{n:08d}"), sample_values(n)) for n in range(count))
        columns = (*Progress.get_default_columns(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("bulk registering identifiers", total=count)
            result = await BulkRegistrar(core.registry).register(
                admin,
                items,
                batch_size=batch_size,
                progress=lambda done: progress.update(task, completed=done.processed),
            )
    if result.failed:
        raise RuntimeError(f"{result.failed} identifiers were not registered: {result.failures[:3]}")
    return seeded


def dataset(data_dir: Path, db: str, count: int) -> str:
    """The enterprise prefix of ``count`` benchmark identifiers in ``data_dir``, generated if needed."""
    mark = data_dir / DATASET_MARK
    if mark.is_file():
        known = json.loads(mark.read_text())
        if known["identifiers"] == count and known["db"] == db:
            console.print(f"reusing {count:,} identifiers in {data_dir}")
            return known["prefix"]
        raise SystemExit(f"{data_dir} holds another data set ({known}); use another --data-dir")
    settings = load_settings({"data_dir": data_dir, "db": db or None}, environ={})
    started = time.perf_counter()
    prefix = asyncio.run(seed_bulk(settings, count)).prefix
    elapsed = time.perf_counter() - started
    console.print(f"generated {count:,} identifiers in {elapsed:,.0f} s ({count / elapsed:,.0f}/s)")
    mark.write_text(json.dumps({"identifiers": count, "db": db, "prefix": prefix}))
    return prefix


def serve(data_dir: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``idnode serve`` on SQLite in ``data_dir`` and wait until it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "idnode.cli", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    wait_for(port)
    return process


def run_wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict[str, Any]:
    """requests/s, p50/p99 latency (ms) and non-2xx count from one wrk run."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }
