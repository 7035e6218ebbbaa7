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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import console, free_port, run_wrk, seed, serve, wait_for
from rich.table import Table

from idnode.config import load_settings

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
    handles = asyncio.run(seed(load_settings({"data_dir": work / "data"}, environ={}), args.identifiers))
    processes: list[subprocess.Popen[bytes]] = []
    results: dict[str, dict[str, float]] = {}
    try:
        port = free_port()
        processes.append(serve(work / "data", port))
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
