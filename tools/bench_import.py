#!/usr/bin/env python3
"""``idnode import`` throughput on a file of a million rows, against floors measured in the same run.

For each database (SQLite; PostgreSQL when ``--postgres`` names a server): (1) the floor: the same
number of unsigned handle rows inserted with one executemany per batch, nothing else; (2) the raw
Ed25519 signature rate (one core); (2b) the storage floor (tools/stored_rows_floor.py): every row a
real import writes per identifier (record, audit, log, search entries, upstream report), taken from
a sample import and stored again under new identifiers with the driver's fastest call, no logic —
no import can beat it on the machine; (3) the import itself: a CSV file of solar-module rows (URL,
template, metadata checked against the template, signed, audited, logged, indexed for search),
through the importer the CLI and ``POST /api/bulk`` use; (4) the same file imported again, every row
found unchanged. The issue's goals: 50,000 rows/s on SQLite, 100,000 rows/s on PostgreSQL.

    .venv/bin/python tools/bench_import.py [--rows 1000000] [--batch-size 2000]
        [--postgres postgresql://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_bulk import insert_floor, rate, signature_rate
from benchlib import bench_enterprise, report
from stored_rows_floor import SampleRows, postgres_floor, sqlite_floor

from idnode.config import load_settings
from idnode.core import open_core
from idnode.importfile import ImportFile
from idnode.importing import ErrorReport
from idnode.model.permissions import Principal
from idnode.registry import SECKEY_INDEX

TEMPLATE = "solar-module@1"
GOALS = {"sqlite": 50_000, "postgresql": 100_000}
COLUMNS = (
    "suffix",
    "url",
    "manufacturer",
    "model",
    "serialNumber",
    "batchNumber",
    "manufactureDate",
    "cellType",
    "ratedPower",
    "dimensions",
    "weight",
)


STEM = "CS7N26"  # the start of every suffix write_rows makes


def write_rows(path: Path, rows: int) -> None:
    """A CSV export as a module maker's MES would write it: one solar module per row."""
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for n in range(rows):
            serial = f"{STEM}{n:010d}"
            writer.writerow(
                (
                    serial,
                    f"https://trace.example.com/m/{serial}",
                    "阿特斯阳光电力集团股份有限公司",
                    "CS7N-700TB-AG",
                    serial,
                    f"YC-L2-{n // 5000:06d}",
                    "2026-03-18",
                    "TOPCon",
                    700 - n % 3 * 5,
                    '{"length":2384,"width":1303,"thickness":33}',
                    37.8,
                )
            )


async def import_rate(work: Path, db: str, csv_path: Path, rows: int, batch_size: int) -> tuple[float, float]:
    """(rows/s of the first import, rows/s of importing the same file again) on a fresh node."""
    settings = load_settings({"data_dir": work / "import", "db": db or None}, environ={})
    async with open_core(settings) as core:
        enterprise, _ = await core.registry.add_enterprise(core.local_operator, bench_enterprise(settings))
        admin = Principal(f"{enterprise.prefix}/ADMIN", SECKEY_INDEX)
        rates = []
        for _ in range(2):
            started = time.perf_counter()
            with csv_path.open("rb") as stream, ErrorReport(work / "errors.csv") as errors:
                result = await core.importer.run(
                    admin,
                    ImportFile.open(stream, "csv"),
                    prefix=enterprise.prefix,
                    template=TEMPLATE,
                    batch_size=batch_size,
                    report=errors,
                )
            rates.append(rate(rows, time.perf_counter() - started))
            if result.failed:
                raise RuntimeError(f"{result.failed} rows failed: {result.failures[:3]}")
    return rates[0], rates[1]


async def _pg(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def sample_rows(work: Path, batch_size: int) -> SampleRows:
    """The rows a real import of one batch writes (on SQLite), for the storage floors."""
    work.mkdir()
    csv_path = work / "sample.csv"
    write_rows(csv_path, batch_size)
    asyncio.run(import_rate(work, "", csv_path, batch_size, batch_size))
    return SampleRows(work / "import" / "idnode.db", STEM, batch_size)


def measure(
    work: Path, kind: str, server: str, csv_path: Path, rows: int, batch_size: int, sample: SampleRows
) -> dict[str, Any]:
    """The floor and import figures on one database (a fresh one per measurement on PostgreSQL)."""
    urls = []

    def fresh(name: str) -> str:
        if kind == "sqlite":
            return ""
        database = f"idnode_bench_{name}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(f"{server}/postgres", f'CREATE DATABASE "{database}"'))
        urls.append(database)
        return f"{server.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"

    try:
        floor = asyncio.run(insert_floor(work / f"{kind}-floor", rows, batch_size, fresh("floor")))
        copies, stored_at = rows // batch_size, work / f"{kind}-stored"
        if kind == "sqlite":
            stored = sqlite_floor(stored_at, sample, copies)
        else:
            stored = asyncio.run(postgres_floor(stored_at, fresh("stored"), sample, copies))
        first, again = asyncio.run(import_rate(work / kind, fresh("import"), csv_path, rows, batch_size))
    finally:
        for database in urls:
            asyncio.run(_pg(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    return {
        f"{kind}: floor, executemany of unsigned rows (rows/s)": floor,
        f"{kind}: storage floor, the import's own rows stored with no logic (rows/s)": stored,
        f"{kind}: import, signed + audited + logged + indexed (rows/s)": first,
        f"{kind}: import again, all rows unchanged (rows/s)": again,
        f"{kind}: import / floor": round(first / floor, 3),
        f"{kind}: import / storage floor": round(first / stored, 3),
        f"{kind}: import / goal of {GOALS[kind]:,} rows/s": round(first / GOALS[kind], 3),
        f"{kind}: storage floor / goal": round(stored / GOALS[kind], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument(
        "--postgres", help="server URL without a database, e.g. postgresql://postgres@127.0.0.1"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="idnode-bench-import-"))
    results: dict[str, Any] = {"rows": args.rows, "batch size": args.batch_size}
    try:
        csv_path = work / "modules.csv"
        write_rows(csv_path, args.rows)
        results["file size (MB)"] = round(csv_path.stat().st_size / 1e6, 1)
        results["floor: raw Ed25519 signatures, one core (signatures/s)"] = signature_rate(20_000)
        sample = sample_rows(work / "sample", args.batch_size)
        results["rows stored per identifier"] = round(sample.per_identifier, 2)
        results.update(measure(work, "sqlite", "", csv_path, args.rows, args.batch_size, sample))
        if args.postgres:
            results.update(
                measure(work, "postgresql", args.postgres, csv_path, args.rows, args.batch_size, sample)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report("idnode import of a CSV file", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
