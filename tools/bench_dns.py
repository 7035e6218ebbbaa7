#!/usr/bin/env python3
"""The DNS benchmark: idnode's DNS answers per second against floors measured in the same run.

On loopback, one machine, with dnsperf (Debian package ``dnsperf``) as the load generator:
  floors   a uvloop UDP responder that sends pre-built bytes (idnode's own response for the first
           hot name, with the query's ID): about the most a Python asyncio server can do; and one
           that reads each query and writes each response as dnspython messages (what a plain
           dnspython server costs);
  idnode   one process serving HTTP and DNS on one core and cache: TXT and URI for a hot set of
           identifiers, NXDOMAIN for absent ones, TXT over TCP; two workers; and TXT with the
           resolution cache off, names drawn at random from the whole store.
For each run it reports queries/s, lost queries, mean latency, the CPU seconds the server used and
queries per CPU second: the figure per core, since the load generator shares the machine. The data
set (``--identifiers``) is generated through the bulk registration path into ``--data-dir``, where a
later run (of this or of tools/bench.py) reuses it.

    .venv/bin/python tools/bench_dns.py [--identifiers 100000] [--data-dir DIR] [--db URL]
                                        [--duration 10] [--outstanding 100] [--hot 1000] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
from benchlib import console, dataset, free_port, publish, serve
from rich.table import Table

from idnode.dns.names import encode
from idnode.model.identifier import Identifier

ZONE = dns.name.from_text("idnode.test.")

FIXED_RESPONDER = """
import asyncio, sys, uvloop
response, port = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
class Fixed(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        self.transport.sendto(data[:2] + response[2:], addr)
async def main():
    await asyncio.get_running_loop().create_datagram_endpoint(Fixed, local_addr=("127.0.0.1", port))
    await asyncio.Event().wait()
uvloop.run(main())
"""

DNSPYTHON_RESPONDER = """
import asyncio, sys, uvloop, dns.flags, dns.message
records, port = dns.message.from_wire(bytes.fromhex(sys.argv[1])).answer[0], int(sys.argv[2])
class PerQuery(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        answer = records.copy()
        answer.name = query.question[0].name
        response.answer.append(answer)
        self.transport.sendto(response.to_wire(), addr)
async def main():
    await asyncio.get_running_loop().create_datagram_endpoint(PerQuery, local_addr=("127.0.0.1", port))
    await asyncio.Event().wait()
uvloop.run(main())
"""


def name_of(handle: str) -> str:
    return dns.name.Name(encode(Identifier.parse(handle))).derelativize(ZONE).to_text()


def handle(prefix: str, n: int) -> str:
    return f"{prefix}/PUMP-2026-{n:08d}"


def ask(port: int, name: str, timeout: float = 30) -> bytes:
    """The UDP response of the server on ``port`` to a TXT query for ``name`` (waits for it to start)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            query = dns.message.make_query(name, "TXT")
            return dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5).to_wire()
        except (dns.exception.Timeout, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children (workers), from /proc."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ticks = 0
    for one in [pid, *map(int, children)]:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def run_dnsperf(
    port: int, queries: Path, duration: int, outstanding: int, tcp: bool = False
) -> dict[str, Any]:
    """queries/s, lost queries, mean latency (ms) and the response codes of one dnsperf run."""
    command = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    command += ["-l", str(duration), "-q", str(outstanding), "-m", "tcp" if tcp else "udp"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    codes = re.search(r"Response codes:\s+(.*)", out)
    return {
        "queries_per_s": round(float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))),
        "lost": int(re.search(r"Queries lost:\s+(\d+)", out).group(1)),
        "mean_latency_ms": round(
            float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1000, 3
        ),
        "response_codes": codes.group(1).strip() if codes else "",
    }


class Bench:
    """The processes of one run and their results."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work, self.args = work, args
        self.processes: list[subprocess.Popen[bytes]] = []
        self.results: dict[str, dict[str, Any]] = {}

    def queries(self, name: str, lines: list[str]) -> Path:
        path = self.work / f"{name}.txt"
        path.write_text("".join(f"{line}\n" for line in lines))
        return path

    def measure(self, label: str, port: int, queries: Path, tcp: bool = False) -> None:
        """One dnsperf run against the newest process, with the CPU time that process spent."""
        pid = self.processes[-1].pid
        before = cpu_seconds(pid)
        figures = run_dnsperf(port, queries, self.args.duration, self.args.outstanding, tcp)
        cpu = cpu_seconds(pid) - before
        completed = figures["queries_per_s"] * self.args.duration
        figures["server_cpu_s"] = round(cpu, 2)
        figures["queries_per_cpu_s"] = round(completed / cpu) if cpu else None
        self.results[label] = figures
        console.print(label, figures)

    def warm(self, port: int, queries: Path) -> None:
        run_dnsperf(port, queries, 2, self.args.outstanding)

    def start(self, command: list[str]) -> None:
        self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def idnode(self, data_dir: Path, workers: int = 1, cache: bool = True) -> int:
        """Start ``idnode serve`` with DNS on the data set; return its DNS port."""
        dns_port = free_port()
        env = {"IDNODE_DNS": f"127.0.0.1:{dns_port}", "IDNODE_WORKERS": str(workers)}
        if not cache:
            env["IDNODE_CACHE_BYTES"] = "0"
        if self.args.db:
            env["IDNODE_DB"] = self.args.db
        self.processes.append(serve(data_dir, free_port(), env))
        return dns_port

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=20)
        self.processes.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identifiers", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, help="keep the data set here (reused by later runs)")
    parser.add_argument("--db", default="", help="database URL (default: SQLite in the data dir)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per dnsperf run")
    parser.add_argument("--outstanding", type=int, default=100, help="dnsperf's queries in flight")
    parser.add_argument("--hot", type=int, default=1000, help="identifiers in the cached hot set")
    parser.add_argument("--json-out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    if not shutil.which("dnsperf"):
        console.print("dnsperf is not installed (Debian package 'dnsperf'); it is the load generator here.")
        return 2
    work = Path(tempfile.mkdtemp(prefix="idnode-bench-dns-"))
    data_dir = args.data_dir or work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = dataset(data_dir, args.db, args.identifiers)
    bench = Bench(work, args)
    hot = range(min(args.hot, args.identifiers))
    txt = bench.queries("txt", [f"{name_of(handle(prefix, n))} TXT" for n in hot])
    uri = bench.queries("uri", [f"{name_of(handle(prefix, n))} URI" for n in hot])
    absent = bench.queries("absent", [f"{name_of(handle(prefix, args.identifiers + n))} TXT" for n in hot])
    draw = random.Random(7)
    spread = [f"{name_of(handle(prefix, draw.randrange(args.identifiers)))} TXT" for _ in range(100_000)]
    scattered = bench.queries("random", spread)
    try:
        port = bench.idnode(data_dir)
        response = ask(port, name_of(handle(prefix, 0)))
        bench.warm(port, txt)
        bench.measure("idnode TXT, hot set, 1 process", port, txt)
        bench.measure("idnode URI, hot set, 1 process", port, uri)
        bench.warm(port, absent)
        bench.measure("idnode NXDOMAIN, 1 process", port, absent)
        bench.measure("idnode TXT over TCP, hot set, 1 process", port, txt, tcp=True)
        bench.stop()
        port = bench.idnode(data_dir, workers=2)
        ask(port, name_of(handle(prefix, 0)))
        bench.warm(port, txt)
        bench.measure("idnode TXT, hot set, 2 workers", port, txt)
        bench.stop()
        port = bench.idnode(data_dir, cache=False)
        ask(port, name_of(handle(prefix, 0)))
        bench.measure("idnode TXT, cache off, random names", port, scattered)
        bench.stop()
        for label, script in (
            ("floor: uvloop UDP, pre-built bytes", FIXED_RESPONDER),
            ("reference: uvloop UDP, dnspython message per query", DNSPYTHON_RESPONDER),
        ):
            port = free_port()
            bench.start([sys.executable, "-c", script, response.hex(), str(port)])
            ask(port, name_of(handle(prefix, 0)))
            bench.measure(label, port, txt)
            bench.stop()
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, bench.results, len(response))
    return 0


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], response_bytes: int) -> None:
    floor = results["floor: uvloop UDP, pre-built bytes"]
    table = Table(
        "server",
        "queries/s",
        "lost",
        "mean ms",
        "server CPU s",
        "queries per CPU s",
        "per CPU s vs floor",
        title=f"DNS, dnsperf -q{args.outstanding} -l{args.duration}, {args.identifiers:,} identifiers, "
        f"TXT answer {response_bytes} bytes",
    )
    for name, figures in results.items():
        per_cpu = figures["queries_per_cpu_s"]
        figures["per_cpu_vs_floor"] = round(per_cpu / floor["queries_per_cpu_s"], 3) if per_cpu else None
        table.add_row(
            name,
            f"{figures['queries_per_s']:,}",
            str(figures["lost"]),
            f"{figures['mean_latency_ms']:.2f}",
            f"{figures['server_cpu_s']:.1f}",
            f"{per_cpu:,}" if per_cpu else "-",
            f"{figures['per_cpu_vs_floor']:.2f}" if per_cpu else "-",
        )
    console.print(table)
    document = {
        "identifiers": args.identifiers,
        "db": "postgresql" if args.db else "sqlite",
        "duration_s": args.duration,
        "outstanding": args.outstanding,
        "txt_response_bytes": response_bytes,
        "results": results,
    }
    publish(document, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
