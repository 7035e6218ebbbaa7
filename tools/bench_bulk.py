#!/usr/bin/env python3
"""Bulk registration rate (idnode.bulk) against the floors measured in the same run.

Measures on SQLite, one process: (1) the floor: the same handle rows (unsigned) inserted with the
same executemany, one transaction per batch, nothing else; (2) the raw Ed25519 signature rate;
(3) bulk registration with signing off, and (4) with signing on (signed, audited, logged: the real
path), through ``benchlib.seed_bulk``; and what (4) means for ten million identifiers.

    .venv/bin/python tools/bench_bulk.py [--records 100000] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import report, sample_values, seed_bulk

from idnode.commit import epoch
from idnode.config import load_settings
from idnode.core import open_core
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.registry import prepare_values, with_default_admin
from idnode.signing import ED25519, KeyFile

TEN_MILLION = 10_000_000


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


async def insert_floor(work: Path, count: int, batch_size: int, db: str = "") -> float:
    """Records/s of inserting the unsigned rows alone, batch by batch (rows built before the clock),
    on SQLite in ``work`` or the database ``db``."""
    async with open_core(load_settings({"data_dir": work / "floor", "db": db or None}, environ={})) as core:
        now, elapsed = epoch(), 0.0
        for start in range(0, count, batch_size):
            batch = []
            for n in range(start, min(start + batch_size, count)):
                identifier = Identifier("88.999.1001", f"PUMP-2026-{n:08d}")
                batch.append(
                    Record(
                        identifier,
                        with_default_admin(identifier, prepare_values(sample_values(n), now), now),
                        1,
                    )
                )
            started = time.perf_counter()
            async with core.repository.transaction() as tx:
                await tx.insert_records(batch)
            elapsed += time.perf_counter() - started
    return rate(count, elapsed)


def signature_rate(count: int) -> float:
    key = KeyFile.generate(ED25519).key
    started = time.perf_counter()
    for n in range(count):
        key.sign(n.to_bytes(8, "big") * 50)
    return rate(count, time.perf_counter() - started)


async def bulk_rate(work: Path, count: int, batch_size: int, *, sign: bool) -> float:
    environ = {"IDNODE_SIGN_RECORDS": "true" if sign else "false"}
    settings = load_settings({"data_dir": work / f"bulk-{sign}"}, environ=environ)
    started = time.perf_counter()
    seeded = await seed_bulk(settings, count, batch_size=batch_size)
    elapsed = time.perf_counter() - started
    assert seeded.count == count
    return rate(count, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idnode-bench-bulk-"))
    results: dict[str, Any] = {"records": args.records, "batch size": args.batch_size}
    try:
        floor = asyncio.run(insert_floor(work, args.records, args.batch_size))
        results["floor: executemany of the same rows, unsigned, no audit/log (records/s)"] = floor
        results["floor: raw Ed25519 signatures (signatures/s)"] = signature_rate(min(args.records, 20_000))
        unsigned = asyncio.run(bulk_rate(work, args.records, args.batch_size, sign=False))
        results["bulk registration, signing off, audited + logged (records/s)"] = unsigned
        signed = asyncio.run(bulk_rate(work, args.records, args.batch_size, sign=True))
        results["bulk registration, signed + audited + logged (records/s)"] = signed
        results["bulk signed / insert floor"] = round(signed / floor, 3)
        results["10,000,000 identifiers at that rate (minutes)"] = round(TEN_MILLION / signed / 60, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("bulk registration on SQLite (one process)", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
