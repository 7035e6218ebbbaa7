#!/usr/bin/env python3
"""The resolution benchmark harness: idnode's resolve rates against floors measured in the same run.

On loopback, one machine, with wrk (Debian package ``wrk``) as the load generator:
  floors   nginx (Debian's nginx-light, one worker) serving the record JSON as a static file, and a
           trivial aiohttp + uvloop handler returning the same pre-built bytes;
  cached   idnode resolving a hot set of handles (answered from the resolution cache), with 1 and
           with 2 workers;
  uncached idnode with the cache off, resolving handles drawn at random from the whole store;
  on/off   cached resolves with resolution counting, and with the per-client read budget, on and off.
It prints requests/s, p50/p99 latency and every idnode figure as a ratio of the floors, the serving
process's resident memory, as a rich table and as JSON. The data set (``--identifiers``, e.g.
10000000) is generated through the bulk registration path with a progress bar, into ``--data-dir``,
where a later run reuses it.

    .venv/bin/python tools/bench.py [--identifiers 100000] [--data-dir DIR] [--db URL]
                                    [--duration 10] [--connections 32] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import console, dataset, free_port, publish, run_wrk, serve, wait_for
from rich.table import Table

NEVER_SPENT = "1e12"  # requests/s: a read budget that is checked on every request but never runs out

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

# Requests cycle through a hot set of handles (cached), or draw at random from all of them (uncached).
WRK_HOT_SET = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/api/handles/{prefix}/PUMP-2026-%08d", counter % {hot}))
end
"""
WRK_RANDOM = """
math.randomseed({seed})
request = function()
  return wrk.format("GET", string.format("/api/handles/{prefix}/PUMP-2026-%08d", math.random(0, {n} - 1)))
end
"""


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (workers), MiB, from /proc."""
    pids = [
        pid,
        *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()),
    ]
    total = 0
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


class Bench:
    """The processes of one run and their results."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work, self.args = work, args
        self.processes: list[subprocess.Popen[bytes]] = []
        self.results: dict[str, dict[str, float]] = {}

    def start(self, command: list[str], port: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        wait_for(port)
        return process

    def load(self, name: str, url: str, script: str | None = None) -> dict[str, float]:
        path = None
        if script is not None:
            path = self.work / f"{len(self.results)}.lua"
            path.write_text(script)
        self.results[name] = run_wrk(url, self.args.duration, self.args.connections, path)
        return self.results[name]

    def idnode(self, data_dir: Path, workers: int, cache: bool, **settings: str) -> str:
        """Start ``idnode serve`` on the data set (further ``settings`` as IDNODE_* variables); return
        its base URL. The read budget is on, as by default, but never spent: its cost is measured, not
        its refusals (all of wrk's requests come from one client)."""
        env = {"IDNODE_WORKERS": str(workers), "IDNODE_RATE_LIMIT_RESOLVES": NEVER_SPENT}
        env.update({f"IDNODE_{name.upper()}": value for name, value in settings.items()})
        if not cache:
            env["IDNODE_CACHE_BYTES"] = "0"
        if self.args.db:
            env["IDNODE_DB"] = self.args.db
        port = free_port()
        self.processes.append(serve(data_dir, port, env))
        return f"http://127.0.0.1:{port}"

    def on_off(self, feature: str, data_dir: Path, hot: str, off: dict[str, str], rounds: int = 3) -> None:
        """Cached resolves with ``feature`` on (the defaults) and off (the ``off`` settings): two servers
        measured alternately, best of ``rounds`` each, so neither gains from going first."""
        servers = {"on": self.idnode(data_dir, 1, cache=True), "off": self.idnode(data_dir, 1, True, **off)}
        best: dict[str, dict[str, float]] = {}
        for _ in range(rounds):
            for state, base in servers.items():
                figures = self.load(f"{feature} {state}", base, hot)
                if figures["requests_per_s"] > best.get(state, {}).get("requests_per_s", 0):
                    best[state] = figures
        for state in servers:
            del self.results[f"{feature} {state}"]
            self.results[f"idnode cached, {feature} {state} (best of {rounds})"] = best[state]
        self.stop()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=20)
        self.processes.clear()

    def floors(self, record: bytes) -> None:
        (self.work / "www").mkdir(exist_ok=True)
        (self.work / "www" / "record.json").write_bytes(record)
        if shutil.which("nginx"):
            port = free_port()
            (self.work / "nginx.conf").write_text(NGINX_CONF.format(dir=self.work, port=port))
            self.start(["nginx", "-c", str(self.work / "nginx.conf"), "-p", str(self.work)], port)
            self.load("floor: nginx static file", f"http://127.0.0.1:{port}/record.json")
        else:
            console.print("nginx is not installed (Debian package nginx-light): that floor is skipped")
        port = free_port()
        self.start(
            [sys.executable, "-c", TRIVIAL_SERVER, str(self.work / "www" / "record.json"), str(port)], port
        )
        self.load("floor: aiohttp trivial handler", f"http://127.0.0.1:{port}/x")
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identifiers", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, help="keep the data set here (reused by later runs)")
    parser.add_argument("--db", default="", help="database URL (default: SQLite in the data dir)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--hot", type=int, default=1000, help="handles in the cached hot set")
    parser.add_argument("--json-out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        console.print("wrk is not installed (Debian package 'wrk'); it is the load generator here.")
        return 2
    work = Path(tempfile.mkdtemp(prefix="idnode-bench-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user and must read www/
    data_dir = args.data_dir or work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = dataset(data_dir, args.db, args.identifiers)
    bench = Bench(work, args)
    memory: dict[str, float] = {}
    try:
        record = b""
        for workers in (1, 2):
            label = f"idnode cached, {workers} worker{'s' * (workers > 1)}"
            base = bench.idnode(data_dir, workers, cache=True)
            if not record:
                one = f"{base}/api/handles/{prefix}/PUMP-2026-{0:08d}"
                record = subprocess.run(["curl", "-s", one], capture_output=True, check=True).stdout
            hot = WRK_HOT_SET.format(prefix=prefix, hot=min(args.hot, args.identifiers))
            bench.load(label, base, hot)  # the first pass fills the cache; the second measures hits
            bench.load(label, base, hot)
            memory[label] = rss_mib(bench.processes[-1].pid)
            bench.stop()
        base = bench.idnode(data_dir, 1, cache=False)
        label = "idnode uncached, random handles"
        bench.load(label, base, WRK_RANDOM.format(prefix=prefix, n=args.identifiers, seed=7))
        memory[label] = rss_mib(bench.processes[-1].pid)
        bench.stop()
        bench.on_off("resolution counting", data_dir, hot, {"count_resolutions": "false"})
        bench.on_off("rate limiting", data_dir, hot, {"rate_limit_resolves": "0"})
        bench.floors(record)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, bench.results, memory)
    return 0


def report(args: argparse.Namespace, results: dict[str, dict[str, float]], memory: dict[str, float]) -> None:
    nginx = results.get("floor: nginx static file", {}).get("requests_per_s")
    trivial = results["floor: aiohttp trivial handler"]["requests_per_s"]
    one = results["idnode cached, 1 worker"]["requests_per_s"]
    table = Table(
        "server",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "vs nginx",
        "vs aiohttp trivial",
        title=f"resolve, wrk -t1 -c{args.connections} -d{args.duration}s, {args.identifiers:,} identifiers",
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
            f"{figures.get('ratio_vs_nginx', float('nan')):.2f}",
            f"{figures['ratio_vs_trivial_aiohttp']:.2f}",
        )
    console.print(table)
    speedup = round(results["idnode cached, 2 workers"]["requests_per_s"] / one, 2)
    costs = {
        feature: round(
            results[f"idnode cached, {feature} on (best of 3)"]["requests_per_s"]
            / results[f"idnode cached, {feature} off (best of 3)"]["requests_per_s"],
            3,
        )
        for feature in ("resolution counting", "rate limiting")
    }
    counting, limiting = costs["resolution counting"], costs["rate limiting"]
    console.print(
        f"2 workers / 1 worker: {speedup}x; counting on / off: {counting}; "
        f"rate limiting on / off: {limiting}; RSS (MiB): {memory}"
    )
    document = {
        "identifiers": args.identifiers,
        "db": "postgresql" if args.db else "sqlite",
        "duration_s": args.duration,
        "connections": args.connections,
        "results": results,
        "workers_speedup": speedup,
        "resolution_counting_on_off": counting,
        "rate_limiting_on_off": limiting,
        "rss_mib": memory,
    }
    publish(document, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
