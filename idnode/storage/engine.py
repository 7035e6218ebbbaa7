"""Database engines and schema migrations.

SQLite (the embedded default) gets WAL mode, a busy timeout, and a separate single-connection writer
engine whose transactions start with ``BEGIN IMMEDIATE``, so concurrent writers queue instead of
failing on lock upgrades. PostgreSQL uses one pooled engine for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'idnode.db').resolve()}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass
class Engines:
    """A reader and a writer engine (the same object except on SQLite)."""

    reader: AsyncEngine
    writer: AsyncEngine

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so the "begin" hook below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_engines(url: str) -> Engines:
    """Engines for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    if is_sqlite(url):
        return Engines(
            reader=_sqlite_engine(url, immediate=False, pool_size=4),
            writer=_sqlite_engine(url, immediate=True, pool_size=1),
        )
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return Engines(reader=engine, writer=engine)


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engines: Engines, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    async with engines.writer.begin() as conn:
        await conn.run_sync(_upgrade, revision)
