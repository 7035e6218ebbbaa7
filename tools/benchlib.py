"""Shared pieces of the benchmark scripts: ports, processes, seeding a node, wrk runs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from idnode.config import Settings
from idnode.core import open_core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.identifier import Identifier
from idnode.model.values import HandleValue
from idnode.sample import make_uscc

console = Console(stderr=True)


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


async def seed(settings: Settings, count: int) -> list[str]:
    """Onboard one enterprise and register ``count`` identifiers through the registry."""
    handles = []
    async with open_core(settings) as core:
        draft = EnterpriseDraft.from_json(
            {
                "name": "基准测试企业",
                "uscc": make_uscc(1),
                "district": "盐都区",
                "industry": "通用设备制造业",
            },
            settings.districts,
        )
        enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft)
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
