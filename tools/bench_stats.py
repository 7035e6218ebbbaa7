#!/usr/bin/env python3
"""How long the statistics take on a data set: each query of the stats core, best of ``--repeat``,
beside the floor of one trivial query through the same engine.

Point it at a large data directory (e.g. the 10M-identifier one tools/bench.py made, with
``--add-enterprises 10000`` to reach the 10,000-enterprise shape the target figure is about).

    .venv/bin/python tools/bench_stats.py --data-dir DIR [--add-enterprises 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchlib import report
from sqlalchemy import text

from idnode.config import load_settings
from idnode.core import Core, open_core
from idnode.model.enterprise import YANCHENG_DISTRICTS
from idnode.sample import make_uscc


async def best_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 2)


async def add_enterprises(core: Core, count: int) -> None:
    """Enterprise rows straight into the store (their shape is what matters here, not onboarding)."""
    first = date.today() - timedelta(days=3 * 365)
    rows = [
        {
            "number": 100_000 + n,
            "prefix": f"88.999.{100_000 + n}",
            "name": f"统计基准企业{n}",
            "uscc": make_uscc(100_000 + n),
            "district": YANCHENG_DISTRICTS[n % len(YANCHENG_DISTRICTS)],
            "registered_on": (first + timedelta(days=n * 1095 // count)).isoformat(),
        }
        for n in range(count)
    ]
    statement = text(
        "INSERT INTO enterprises (number, prefix, name, uscc, district, industry, contact_name,"
        " contact_phone, contact_email, status, registered_on, created_at, updated_at) VALUES (:number,"
        " :prefix, :name, :uscc, :district, '通用设备制造业', '', '', '', 'active', :registered_on,"
        " '2026-01-01', '2026-01-01')"
    )
    async with core.repository.engines.writer.begin() as conn:
        await conn.execute(statement, rows)


async def measure(data_dir: Path, added: int, repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    async with open_core(load_settings({"data_dir": data_dir}, environ={})) as core:
        results: dict[str, Any] = {"open (migrations included), s": round(time.perf_counter() - started, 1)}
        if added:
            await add_enterprises(core, added)
        stats, engine = core.stats, core.repository.engines.reader

        async def trivial() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        summary = await stats.summary()
        results["enterprises"], results["identifiers"] = (
            summary["enterprises"]["total"],
            summary["identifiers"],
        )
        results["floor: SELECT 1 (ms)"] = await best_ms(trivial, repeat)
        results["summary (ms)"] = await best_ms(stats.summary, repeat)
        results["target progress (ms)"] = await best_ms(stats.target_progress, repeat)
        results["districts (ms)"] = await best_ms(stats.districts, repeat)
        results["industries (ms)"] = await best_ms(stats.industries, repeat)
        results["enterprise rankings (ms)"] = await best_ms(lambda: stats.enterprises(20), repeat)
        results["identifiers per month, a year (ms)"] = await best_ms(
            lambda: stats.timeseries("identifiers", "month", None, None), repeat
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--add-enterprises", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    report("statistics query times", asyncio.run(measure(args.data_dir, args.add_enterprises, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
