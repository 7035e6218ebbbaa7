"""The storage floor of an import: the rows a real import writes per identifier, stored with no logic.

A real import of a small sample writes, for each identifier, its signed record, an audit row, a
transparency-log entry and tree nodes, search entries and an upstream report (outbox). This floor
takes exactly those rows, copies them with fresh identifiers batch by batch (each batch built before
its clock starts) and stores them with the fastest call each driver has: the standard library's
``executemany`` on SQLite (same pragmas as the node), asyncpg's binary ``COPY`` on PostgreSQL. No
parsing, validation, signing or SQLAlchemy: what is left is the database's own cost of keeping what
the import must keep. An import cannot be faster than this on the same machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from idnode.config import load_settings
from idnode.core import open_core

# The tables an import writes; log_nodes rows name no identifier, the others do.
TABLES = ("handles", "audit", "log_entries", "log_nodes", "search_entries", "outbox")
GENERATED = {"handles": "id", "audit": "id", "outbox": "seq"}  # left to the database
SHIFTED = {"log_entries": "seq", "log_nodes": "idx"}  # positions moved on per copy


class SampleRows:
    """The rows a sample import wrote, copyable under other identifiers.

    ``stem`` is the part of every imported suffix that copies replace by an equally long text.
    """

    def __init__(self, sample_db: Path, stem: str, sample_size: int) -> None:
        source = sqlite3.connect(sample_db)
        self.stem, self.size = stem, sample_size
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        for table in TABLES:
            names = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
            self.columns[table] = [name for name in names if name != GENERATED.get(table)]
            rows = [dict(zip(names, row, strict=True)) for row in source.execute(f"SELECT * FROM {table}")]
            kept = [r for r in rows if table == "log_nodes" or any(stem in str(v) for v in r.values())]
            self.rows[table] = [tuple(r[name] for name in self.columns[table]) for r in kept]
        source.close()

    @property
    def per_identifier(self) -> float:
        return sum(len(rows) for rows in self.rows.values()) / self.size

    def copy(self, number: int, convert: dict[str, Any] | None = None) -> dict[str, list[tuple[Any, ...]]]:
        """Copy ``number`` (1, 2, ...): every row with the stem and log positions made unique."""
        stem = f"B{number:0{len(self.stem) - 1}d}"
        offset = number * self.size * 10

        def value(table: str, column: str, raw: Any) -> Any:
            if isinstance(raw, str):
                raw = raw.replace(self.stem, stem)
            if SHIFTED.get(table) == column:
                raw += offset
            return convert[table][column](raw) if convert and column in convert[table] else raw

        return {
            table: [
                tuple(value(table, column, raw) for column, raw in zip(self.columns[table], row, strict=True))
                for row in rows
            ]
            for table, rows in self.rows.items()
        }


async def _empty_node(data_dir: Path, db: str) -> None:
    async with open_core(load_settings({"data_dir": data_dir, "db": db or None}, environ={})):
        pass


def sqlite_floor(work: Path, sample: SampleRows, copies: int) -> float:
    """Identifiers/s of storing ``copies`` copies of the sample on a fresh SQLite node database."""
    asyncio.run(_empty_node(work, ""))
    conn = sqlite3.connect(work / "idnode.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    statements = {
        table: f"INSERT INTO {table} ({', '.join(f'{c!r}' for c in columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
        for table, columns in sample.columns.items()
    }
    elapsed = 0.0
    for number in range(1, copies + 1):
        batch = sample.copy(number)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, rows in batch.items():
            conn.executemany(statements[table], rows)
        conn.execute("COMMIT")
        elapsed += time.perf_counter() - started
    conn.close()
    return round(copies * sample.size / elapsed, 1)


def _pg_converters(types: dict[str, dict[str, str]]) -> dict[str, Any]:
    """SQLite gives times as text and booleans as integers; COPY wants Python values of the real types."""

    def converter(kind: str) -> Any:
        if kind.startswith("timestamp"):
            return lambda raw: raw if raw is None else datetime.fromisoformat(raw)
        if kind == "boolean":
            return bool
        return None

    return {
        table: {column: f for column, kind in columns.items() if (f := converter(kind))}
        for table, columns in types.items()
    }


async def postgres_floor(work: Path, db: str, sample: SampleRows, copies: int) -> float:
    """Identifiers/s of COPYing ``copies`` copies of the sample into the fresh node database ``db``
    (a SQLAlchemy asyncpg URL)."""
    import asyncpg

    await _empty_node(work, db)
    conn = await asyncpg.connect(db.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        types: dict[str, dict[str, str]] = {}
        for table in TABLES:
            rows = await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", table
            )
            types[table] = {row["column_name"]: row["data_type"] for row in rows}
        convert = _pg_converters(types)
        elapsed = 0.0
        for number in range(1, copies + 1):
            batch = sample.copy(number, convert)
            started = time.perf_counter()
            async with conn.transaction():
                for table, rows in batch.items():
                    await conn.copy_records_to_table(table, records=rows, columns=sample.columns[table])
            elapsed += time.perf_counter() - started
    finally:
        await conn.close()
    return round(copies * sample.size / elapsed, 1)
