#!/usr/bin/env python3
"""Signing and transparency-log costs, with the floors they are compared against, in one run.

Measures on one core: (1) record signatures per second (digests + JWS) for Ed25519 and ES256, beside
the raw Ed25519 signature rate of the cryptography library; (2) registrations per second through the
registry with signing and logging on, and the cost of one Merkle append; (3) inclusion and consistency
proof size and build time at 10,000,000 leaves; (4) resolve requests/s with signatures on and off
(two nodes, same data, wrk), since signing happens on write and should cost resolution nothing.

    .venv/bin/python tools/bench_signing.py [--records 20000] [--identifiers 5000] [--duration 8]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import console, free_port, report, run_wrk, sample_values, seed, serve

from idnode import merkle, translog
from idnode.commit import Committer
from idnode.config import load_settings
from idnode.core import open_core
from idnode.keys import ActiveKey, KeyStore, NodeKeys
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.signing import ED25519, ES256, KeyFile


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def signing_rates(records: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    record = Record(Identifier.parse("88.999.1001/PUMP-2026-0000001"), tuple(sample_values(1)), 1)
    raw_key = KeyFile.generate(ED25519).key
    started = time.perf_counter()
    for n in range(records):
        raw_key.sign(n.to_bytes(8, "big") * 40)
    out["floor: raw Ed25519 sign of 320 bytes (signatures/s)"] = rate(records, time.perf_counter() - started)
    for algorithm in (ED25519, ES256):
        committer = Committer(
            NodeKeys(KeyStore(Path("/nonexistent")), Identifier.parse("0.NA/88.999")), 86400
        )
        key = ActiveKey(KeyFile.generate(algorithm), "301:0.NA/88.999", [])
        started = time.perf_counter()
        for _ in range(records):
            committer.signed(record, key)
        out[f"record signature {algorithm} (records/s)"] = rate(records, time.perf_counter() - started)
    return out


async def write_path(work: Path, count: int) -> dict[str, Any]:
    settings = load_settings({"data_dir": work / "writes"}, environ={})
    started = time.perf_counter()
    await seed(settings, count)
    elapsed = time.perf_counter() - started
    out: dict[str, Any] = {
        "registrations through the registry, signed + logged (records/s)": rate(count, elapsed)
    }
    async with open_core(settings) as core:
        appender = translog.LogAppender()
        started = time.perf_counter()
        for _ in range(count):
            async with core.repository.transaction():
                pass
        empty = (time.perf_counter() - started) / count
        started = time.perf_counter()
        for n in range(count):
            async with core.repository.transaction() as tx:
                await appender.append(tx, f"88.999.1001/BENCH-{n}", "create", "x" * 43, 0)
        with_append = (time.perf_counter() - started) / count
        out["floor: empty write transaction (microseconds)"] = round(empty * 1e6, 1)
        out["Merkle append, beyond the transaction (microseconds/append)"] = round(
            (with_append - empty) * 1e6, 1
        )
    return out


async def proof_sizes(leaves: int) -> dict[str, Any]:
    async def synthetic(level: int, index: int) -> bytes:  # any stored hash will do for size and time
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    started = time.perf_counter()
    inclusion = await merkle.inclusion_proof(synthetic, leaves // 3, leaves)
    inclusion_ms = (time.perf_counter() - started) * 1000
    consistency = await merkle.consistency_proof(synthetic, leaves // 2 + 1, leaves)
    return {
        f"inclusion proof at {leaves:,} leaves (hashes)": len(inclusion),
        f"inclusion proof at {leaves:,} leaves (bytes)": 32 * len(inclusion),
        "ceil(log2 n)": (leaves - 1).bit_length(),
        f"inclusion proof build at {leaves:,} leaves (ms, in memory)": round(inclusion_ms, 3),
        f"consistency proof at {leaves:,} leaves (hashes)": len(consistency),
    }


def resolve_on_off(work: Path, identifiers: int, duration: int, rounds: int = 2) -> dict[str, Any]:
    """Two servers with the same data, one signing and one not, measured alternately (best of
    ``rounds`` each) so neither profits from running first or second."""
    urls: dict[str, str] = {}
    processes = []
    try:
        for label, sign in (("signatures on", "true"), ("signatures off", "false")):
            data = work / f"resolve-{sign}"
            settings = load_settings({"data_dir": data}, environ={"IDNODE_SIGN_RECORDS": sign})
            handles = asyncio.run(seed(settings, identifiers))
            port = free_port()
            processes.append(serve(data, port, {"IDNODE_SIGN_RECORDS": sign}))
            urls[label] = f"http://127.0.0.1:{port}/api/handles/{handles[len(handles) // 2]}"
        best = dict.fromkeys(urls, 0.0)
        for _ in range(rounds):
            for label, url in urls.items():
                best[label] = max(best[label], run_wrk(url, duration, 32)["requests_per_s"])
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    out: dict[str, Any] = {f"resolve, {label} (requests/s)": rps for label, rps in best.items()}
    out["resolve ratio on/off"] = round(best["signatures on"] / best["signatures off"], 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000, help="signatures to time")
    parser.add_argument(
        "--identifiers", type=int, default=5000, help="records per node for the write/resolve runs"
    )
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idnode-bench-signing-"))
    results: dict[str, Any] = {}
    try:
        results.update(signing_rates(args.records))
        results.update(asyncio.run(write_path(work, args.identifiers)))
        results.update(asyncio.run(proof_sizes(args.leaves)))
        if shutil.which("wrk"):
            results.update(resolve_on_off(work, args.identifiers, args.duration))
        else:
            console.print("wrk not installed (Debian package 'wrk'): resolve on/off skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("signing and transparency log (one process, one core)", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
