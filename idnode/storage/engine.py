"""Database engines and schema migrations.

SQLite (the embedded default) gets WAL mode, a busy timeout, and a separate single-connection writer
engine whose transactions start with ``BEGIN IMMEDIATE``, so concurrent writers queue instead of
failing on lock upgrades. PostgreSQL uses one pooled engine for both; while the server is away
(restarting, unreachable) every database call raises StoreUnavailable at once, and the pool replaces
dead connections when it is back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, make_url
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from idnode.model.errors import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLSTATEs (prefixes) of a PostgreSQL server that is gone or not taking connections: connection
# exceptions, admin/crash shutdown, starting up, too many connections.
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{(data_dir / 'idnode.db').resolve()}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class SqlitePointReader:
    """Single-row lookups by primary key on the event loop thread, for SQLite's hot read path.

    A lookup by a unique index takes microseconds; going through aiosqlite's worker thread costs
    hundreds (several thread hand-offs per query), so the resolver's point reads use a plain sqlite3
    connection instead. In WAL mode readers never wait for writers. The connection is opened on first
    use, in the thread that uses it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def fetch_one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA query_only=ON")
        return self._conn.execute(sql, params).fetchone()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Engines:
    """A reader and a writer engine (the same object except on SQLite), and SQLite's point reader."""

    reader: AsyncEngine
    writer: AsyncEngine
    point_reader: SqlitePointReader | None = None

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()
        if self.point_reader is not None:
            self.point_reader.close()


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


def _unavailable(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, OSError) or sqlstate.startswith(UNAVAILABLE_SQLSTATES)


def _postgresql_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(f"The node's database cannot be reached ({exc}); retry.") from exc
            raise

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:  # the pool checking a pooled connection: it reconnects by itself
            return
        cause = context.original_exception
        if context.is_disconnect or _unavailable(cause) or _unavailable(cause.__cause__ or cause):
            context.is_disconnect = True  # so the pool drops this connection and its idle siblings
            raise StoreUnavailable("The node's database connection was lost; retry.") from cause

    return engine


def create_engines(url: str) -> Engines:
    """Engines for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    if is_sqlite(url):
        return Engines(
            reader=_sqlite_engine(url, immediate=False, pool_size=4),
            writer=_sqlite_engine(url, immediate=True, pool_size=1),
            point_reader=SqlitePointReader(make_url(url).database or ":memory:"),
        )
    engine = _postgresql_engine(url)
    return Engines(reader=engine, writer=engine)


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def is_empty(engines: Engines) -> bool:
    """Whether the database holds no tables at all (a fresh one to restore into)."""
    async with engines.reader.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    return not names


async def migrate(engines: Engines, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    async with engines.writer.begin() as conn:
        await conn.run_sync(_upgrade, revision)
