"""Migrations: the migrated schema is exactly the SQLAlchemy metadata, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from idnode.config import Settings
from idnode.storage.engine import SQLITE_BUSY_TIMEOUT_MS, Engines, create_engines, migrate, sqlite_url
from idnode.storage.tables import Base


@pytest.fixture
async def engines(settings: Settings) -> AsyncIterator[Engines]:
    """Engines on an empty database (nothing migrated yet)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    opened = create_engines(settings.db_url)
    try:
        yield opened
    finally:
        await opened.dispose()


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, Base.metadata)


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _unique_column_sets(conn: Connection, table: str) -> set[tuple[str, ...]]:
    """Column tuples made unique by a constraint or a unique index (dialects report either)."""
    inspector = inspect(conn)
    found = {tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table)}
    found |= {tuple(ix["column_names"]) for ix in inspector.get_indexes(table) if ix["unique"]}
    return found


def _primary_key(conn: Connection, table: str) -> tuple[str, ...]:
    return tuple(inspect(conn).get_pk_constraint(table)["constrained_columns"])


def _indexes(conn: Connection, table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    return {
        ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"])) for ix in inspect(conn).get_indexes(table)
    }


async def test_fresh_database_is_empty_before_migrate(engines: Engines) -> None:
    async with engines.reader.connect() as conn:
        assert await conn.run_sync(_table_names) == set()


async def test_migrated_schema_matches_metadata(engines: Engines) -> None:
    await migrate(engines)
    async with engines.reader.connect() as conn:
        diff = await conn.run_sync(_schema_diff)
        tables = await conn.run_sync(_table_names)
    assert diff == []
    assert tables == {
        "handles",
        "enterprises",
        "audit",
        "node_meta",
        "log_entries",
        "log_nodes",
        "resolution_counts",
        "identifier_counts",
        "daily_identifiers",
        "templates",
        "search_entries",
        "gs1_keys",
        "outbox",
        "snms_tokens",
        "snms_login_digests",
        "web_sessions",
        "applications",
        "application_transitions",
        "alembic_version",
    }


async def test_migrate_is_idempotent(engines: Engines) -> None:
    await migrate(engines)
    async with engines.writer.begin() as conn:
        await conn.execute(text("INSERT INTO node_meta (key, value) VALUES ('probe', 'kept')"))
    await migrate(engines)
    await migrate(engines)
    async with engines.reader.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        kept = (await conn.execute(text("SELECT value FROM node_meta WHERE key = 'probe'"))).scalar()
        diff = await conn.run_sync(_schema_diff)
    assert versions == ["0010"]
    assert kept == "kept"  # a second run neither recreates nor wipes tables
    assert diff == []


async def test_expected_indexes_exist(engines: Engines) -> None:
    await migrate(engines)
    async with engines.reader.connect() as conn:
        handle_uniques = await conn.run_sync(_unique_column_sets, "handles")
        enterprise_uniques = await conn.run_sync(_unique_column_sets, "enterprises")
        handle_indexes = await conn.run_sync(_indexes, "handles")
        enterprise_indexes = await conn.run_sync(_indexes, "enterprises")
        audit_indexes = await conn.run_sync(_indexes, "audit")
        log_indexes = await conn.run_sync(_indexes, "log_entries")
        log_entry_key = await conn.run_sync(_primary_key, "log_entries")
        log_node_key = await conn.run_sync(_primary_key, "log_nodes")
        outbox_indexes = await conn.run_sync(_indexes, "outbox")
        application_indexes = await conn.run_sync(_indexes, "applications")
    assert ("handle",) in handle_uniques
    assert handle_indexes["ix_handles_prefix_handle"] == (("prefix", "handle"), False)
    assert {("uscc",), ("prefix",), ("number",)} <= enterprise_uniques
    for column in ("district", "industry", "status", "registered_on"):
        assert enterprise_indexes[f"ix_enterprises_{column}"] == ((column,), False)
    assert audit_indexes["ix_audit_target"] == (("target",), False)
    assert log_indexes["ix_log_entries_handle_seq"] == (("handle", "seq"), False)
    assert log_entry_key == ("seq",)  # one leaf per sequence number: the log has no forks
    assert log_node_key == ("level", "idx")
    assert outbox_indexes["ix_outbox_undelivered"] == (("channel", "seq"), False)
    # one open or approved application per USCC (a partial index: rejected ones may repeat)
    assert application_indexes["uq_applications_holding_uscc"] == (("uscc",), True)


async def test_unique_handle_is_enforced_by_the_database(engines: Engines) -> None:
    await migrate(engines)
    row = (
        "INSERT INTO handles (handle, prefix, data, version, created_at, updated_at) "
        "VALUES ('88.999.1001/x', '88.999.1001', '[]', 1, '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:00+00:00')"
    )
    async with engines.writer.begin() as conn:
        await conn.execute(text(row))
    with pytest.raises(IntegrityError):
        async with engines.writer.begin() as conn:
            await conn.execute(text(row))
    async with engines.reader.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM handles"))).scalar() == 1


async def test_one_log_leaf_per_sequence_number_is_enforced_by_the_database(engines: Engines) -> None:
    await migrate(engines)
    insert = text("INSERT INTO log_entries (seq, handle, entry, leaf_hash) VALUES (0, :handle, '{}', :leaf)")
    async with engines.writer.begin() as conn:
        await conn.execute(insert, {"handle": "88.999.1001/x", "leaf": b"\x00" * 32})
    with pytest.raises(IntegrityError):
        async with engines.writer.begin() as conn:
            await conn.execute(insert, {"handle": "88.999.1001/y", "leaf": b"\x01" * 32})
    async with engines.reader.connect() as conn:
        rows = (await conn.execute(text("SELECT seq, handle FROM log_entries"))).all()
    assert [tuple(r) for r in rows] == [(0, "88.999.1001/x")]


async def test_sqlite_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    opened = create_engines(sqlite_url(tmp_path))
    try:
        await migrate(opened)
        assert opened.reader is not opened.writer  # a separate single-connection writer
        for engine in (opened.reader, opened.writer):
            async with engine.connect() as conn:
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
                foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            assert mode == "wal"
            assert timeout == SQLITE_BUSY_TIMEOUT_MS
            assert timeout >= 5000
            assert foreign_keys == 1
        assert (tmp_path / "idnode.db-wal").exists()
    finally:
        await opened.dispose()


async def test_postgresql_shares_one_engine(pg_database: str) -> None:
    opened = create_engines(pg_database)
    try:
        assert opened.reader is opened.writer
        await migrate(opened)
        async with opened.reader.connect() as conn:
            id_type = (
                await conn.execute(
                    text(
                        "SELECT data_type FROM information_schema.columns "
                        "WHERE table_name = 'handles' AND column_name = 'id'"
                    )
                )
            ).scalar()
            diff = await conn.run_sync(_schema_diff)
        assert id_type == "bigint"
        assert diff == []
    finally:
        await opened.dispose()
