#!/usr/bin/env python3
"""Resolve throughput of a real idnode against floors measured in the same run.

Starts, on loopback: nginx serving the record JSON as a static file (if nginx is installed), a
trivial aiohttp handler returning the same pre-built bytes, and ``idnode serve`` on SQLite holding
``--identifiers`` records. Loads each with wrk (Debian package ``wrk``) and prints requests/s,
latency percentiles and idnode's figures as ratios of the floors, as a table and as JSON.

    .venv/bin/python tools/bench_resolve.py [--identifiers 20000] [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from idnode.config import load_settings
from idnode.core import open_core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.identifier import Identifier
from idnode.model.values import HandleValue
from idnode.sample import make_uscc

console = Console(stderr=True)

TRIVIAL_SERVER = """
import sys, asyncio, uvloop
from aiohttp import web
body = open(sys.argv[1], "rb").read()
async def handler(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/{tail:.*}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None,
            loop=uvloop.new_event_loop())
"""

NGINX_CONF = """
worker_processes 1; daemon off; pid {dir}/nginx.pid; error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type application/json;
  server {{ listen 127.0.0.1:{port}; root {dir}/www; location / {{ try_files /record.json =404; }} }} }}
"""

WRK_PATHS_SCRIPT = """
paths = {{}}
for line in io.lines("{paths}") do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


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


async def seed(data_dir: Path, count: int) -> list[str]:
    """Onboard one enterprise and register ``count`` identifiers through the registry."""
    settings = load_settings({"data_dir": data_dir}, environ={})
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
                values = [
                    HandleValue.from_json({"index": 1, "type": "URL", "data": f"https://example.com/p/{n}"}),
                    HandleValue.from_json({"index": 2, "type": "MODEL", "data": "离心泵 IS80-65-160"}),
                    HandleValue.from_json({"index": 3, "type": "BATCH", "data": f"B-2026-{n % 97:03d}"}),
                ]
                await core.registry.put_record(core.local_operator, Identifier.parse(handle), values)
                handles.append(handle)
                progress.advance(task)
    return handles


def run_wrk(url: str, duration: int, connections: int, script: Path | None = None) -> dict[str, float]:
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
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identifiers", type=int, default=20000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json-out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        console.print("wrk is not installed (Debian package 'wrk'); it is the load generator here.")
        return 2

    work = Path(tempfile.mkdtemp(prefix="idnode-bench-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user and must read www/
    handles = asyncio.run(seed(work / "data", args.identifiers))
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, dict[str, float]] = {}
    try:
        port = free_port()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "idnode.cli",
                    "serve",
                    "--data-dir",
                    str(work / "data"),
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for(port)
        one = f"http://127.0.0.1:{port}/api/handles/{handles[0]}"
        record = subprocess.run(["curl", "-s", one], capture_output=True, check=True).stdout
        (work / "www").mkdir()
        (work / "www" / "record.json").write_bytes(record)

        if shutil.which("nginx"):
            nginx_port = free_port()
            (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nginx_port))
            processes.append(
                subprocess.Popen(
                    ["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_for(nginx_port)
            results["nginx static file (floor)"] = run_wrk(
                f"http://127.0.0.1:{nginx_port}/record.json", args.duration, args.connections
            )
        trivial_port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", TRIVIAL_SERVER, str(work / "www" / "record.json"), str(trivial_port)]
            )
        )
        wait_for(trivial_port)
        results["aiohttp trivial handler (floor)"] = run_wrk(
            f"http://127.0.0.1:{trivial_port}/x", args.duration, args.connections
        )
        results["idnode resolve, one handle"] = run_wrk(one, args.duration, args.connections)
        paths = work / "paths.txt"
        sample = random.Random(7).sample(handles, min(len(handles), 10000))
        paths.write_text("".join(f"/api/handles/{h}\n" for h in sample))
        script = work / "paths.lua"
        script.write_text(WRK_PATHS_SCRIPT.format(paths=paths))
        results[f"idnode resolve, {len(sample)} distinct handles"] = run_wrk(
            f"http://127.0.0.1:{port}/", args.duration, args.connections, script
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    trivial = results["aiohttp trivial handler (floor)"]["requests_per_s"]
    nginx = results.get("nginx static file (floor)", {}).get("requests_per_s")
    table = Table(
        "server",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "vs aiohttp trivial",
        "vs nginx",
        title=f"resolve, wrk -t1 -c{args.connections} -d{args.duration}s, {args.identifiers} identifiers",
    )
    for name, figures in results.items():
        figures["ratio_vs_trivial_aiohttp"] = round(figures["requests_per_s"] / trivial, 3)
        if nginx:
            figures["ratio_vs_nginx"] = round(figures["requests_per_s"] / nginx, 3)
        table.add_row(
            name,
            f"{figures['requests_per_s']:,.0f}",
            f"{figures['p50_ms']:.2f}",
            f"{figures['p99_ms']:.2f}",
            f"{figures['ratio_vs_trivial_aiohttp']:.2f}",
            f"{figures.get('ratio_vs_nginx', float('nan')):.2f}",
        )
    console.print(table)
    document = {
        "identifiers": args.identifiers,
        "duration_s": args.duration,
        "connections": args.connections,
        "results": results,
    }
    print(json.dumps(document, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
