"""The async repository: every SQL statement idnode runs lives here.

Reads use the reader engine. Writes happen inside ``Repository.transaction()``, which yields a
``Transaction`` bound to one database transaction: the record change, its audit row and anything else
written through it commit together or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idnode.model.enterprise import Enterprise, EnterpriseStatus
from idnode.model.identifier import PREFIX_NAMESPACE, Identifier
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.storage.engine import Engines
from idnode.storage.tables import audit, enterprises, handles, log_entries, log_nodes, node_meta


class DuplicateKey(Exception):
    """An insert hit a unique constraint (the handle, prefix or USCC already exists)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _record(row: Any) -> Record:
    """A Record from a (handle, data, version) row."""
    handle, data, version = row
    values = tuple(HandleValue.from_storage(v) for v in orjson.loads(data))
    return Record(Identifier.parse(handle), values, version)


_RECORD_BY_HANDLE = select(handles.c.handle, handles.c.data, handles.c.version)
_RECORD_BY_HANDLE_SQL = "SELECT handle, data, version FROM handles WHERE handle = ?"


def _enterprise(row: Any) -> Enterprise:
    def aware(moment: datetime) -> datetime:  # SQLite drops the zone on the way back
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    return Enterprise(
        prefix=row.prefix,
        number=row.number,
        name=row.name,
        uscc=row.uscc,
        district=row.district,
        industry=row.industry,
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
        contact_email=row.contact_email,
        status=EnterpriseStatus(row.status),
        registered_on=row.registered_on,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


def _dump(record: Record) -> str:
    return orjson.dumps(record.to_storage()).decode()


async def _log_size(conn: AsyncConnection) -> int:
    """Number of log leaves: the highest sequence number plus one (an index lookup, unlike COUNT)."""
    highest = (await conn.execute(select(func.max(log_entries.c.seq)))).scalar()
    return 0 if highest is None else highest + 1


async def _subtree(conn: AsyncConnection, level: int, index: int) -> bytes:
    """The stored hash of a complete log subtree (level 0: a leaf hash)."""
    if level == 0:
        query = select(log_entries.c.leaf_hash).where(log_entries.c.seq == index)
    else:
        query = select(log_nodes.c.hash).where(log_nodes.c.level == level, log_nodes.c.idx == index)
    found = (await conn.execute(query)).scalar()
    if found is None:
        raise LookupError(f"log subtree ({level}, {index}) is not stored")
    return bytes(found)


class Transaction:
    """Writes inside one database transaction; obtained from ``Repository.transaction()``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.now = utcnow()
        self.after_commit: list[Callable[[], None]] = []

    async def _insert_unique(self, *statements: Any) -> None:
        """Run inserts that may hit a unique constraint; raise DuplicateKey and keep the transaction usable.

        PostgreSQL aborts the whole transaction on an error, so there they run in a savepoint; SQLite
        only undoes the failing statement, and a savepoint would cost two more round trips.
        """
        try:
            if self.conn.dialect.name == "sqlite":
                for statement in statements:
                    await self.conn.execute(*statement)
            else:
                async with self.conn.begin_nested():
                    for statement in statements:
                        await self.conn.execute(*statement)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.params)[:200]) from exc

    async def get_record(self, identifier: Identifier, *, lock: bool = False) -> Record | None:
        """The record as this transaction sees it; ``lock`` holds its row until commit (PostgreSQL
        ``FOR UPDATE``; SQLite transactions are serialised already), so concurrent writers queue."""
        query = _RECORD_BY_HANDLE.where(handles.c.handle == str(identifier))
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        return _record(row) if row else None

    async def records_after(self, after_id: int, limit: int) -> list[tuple[int, Record]]:
        """The next ``limit`` records by storage id, locked for update: for passes over the whole store."""
        rows = (
            await self.conn.execute(
                select(handles.c.id, handles.c.handle, handles.c.data, handles.c.version)
                .where(handles.c.id > after_id)
                .order_by(handles.c.id)
                .limit(limit)
                .with_for_update()
            )
        ).all()
        return [(row[0], _record(row[1:])) for row in rows]

    async def vlist(self, handle: str, index: int) -> list[tuple[str, int]] | None:
        """The references of the HS_VLIST at ``index:handle`` (None if absent), inside this transaction."""
        record = await self.get_record(Identifier.parse(handle))
        return record.vlist(index) if record else None

    async def lock_row(self, identifier: Identifier) -> None:
        """Serialise with every other transaction that locks the same record (e.g. prefix allocation)."""
        await self.conn.execute(
            select(handles.c.id).where(handles.c.handle == str(identifier)).with_for_update()
        )

    async def insert_record(self, record: Record) -> None:
        """Insert a new record; raise DuplicateKey if the handle exists."""
        await self._insert_unique(
            (
                insert(handles).values(
                    handle=str(record.identifier),
                    prefix=record.identifier.prefix,
                    data=_dump(record),
                    version=record.version,
                    created_at=self.now,
                    updated_at=self.now,
                ),
            )
        )

    async def replace_record(self, record: Record, expected_version: int) -> bool:
        """Store ``record`` if the stored version is still ``expected_version``; False if it moved on."""
        result = await self.conn.execute(
            update(handles)
            .where(handles.c.handle == str(record.identifier), handles.c.version == expected_version)
            .values(data=_dump(record), version=record.version, updated_at=self.now)
        )
        return result.rowcount == 1

    async def delete_record(self, identifier: Identifier, expected_version: int) -> bool:
        result = await self.conn.execute(
            delete(handles).where(handles.c.handle == str(identifier), handles.c.version == expected_version)
        )
        return result.rowcount == 1

    async def add_audit(self, actor: str, action: str, target: str, old: Any, new: Any) -> None:
        await self.conn.execute(
            insert(audit).values(
                at=self.now,
                actor=actor,
                action=action,
                target=target,
                old=None if old is None else orjson.dumps(old).decode(),
                new=None if new is None else orjson.dumps(new).decode(),
            )
        )

    async def next_enterprise_number(self) -> int:
        current = (await self.conn.execute(select(func.max(enterprises.c.number)))).scalar()
        return (current or 1000) + 1

    async def insert_enterprise(self, enterprise: Enterprise) -> None:
        """Insert an enterprise; raise DuplicateKey if its USCC or prefix is taken."""
        row = {
            name: getattr(enterprise, name)
            for name in (
                "number",
                "prefix",
                "name",
                "uscc",
                "district",
                "industry",
                "contact_name",
                "contact_phone",
                "contact_email",
                "registered_on",
                "created_at",
                "updated_at",
            )
        }
        await self._insert_unique((insert(enterprises).values(**row, status=enterprise.status.value),))

    async def get_enterprise(self, prefix: str) -> Enterprise | None:
        row = (await self.conn.execute(select(enterprises).where(enterprises.c.prefix == prefix))).first()
        return _enterprise(row) if row else None

    async def get_enterprise_by_uscc(self, uscc: str) -> Enterprise | None:
        row = (await self.conn.execute(select(enterprises).where(enterprises.c.uscc == uscc))).first()
        return _enterprise(row) if row else None

    async def update_enterprise(self, prefix: str, changes: dict[str, Any]) -> None:
        await self.conn.execute(
            update(enterprises).where(enterprises.c.prefix == prefix).values(**changes, updated_at=self.now)
        )

    async def log_size(self) -> int:
        """Leaves in the transparency log (call after locking, so appends do not race)."""
        return await _log_size(self.conn)

    async def log_subtree(self, level: int, index: int) -> bytes:
        return await _subtree(self.conn, level, index)

    async def append_log(
        self, seq: int, handle: str, entry: str, leaf: bytes, completed: list[tuple[int, int, bytes]]
    ) -> None:
        """Store a log leaf and the complete subtrees it closes; DuplicateKey if ``seq`` is taken."""
        statements: list[tuple[Any, ...]] = [
            (insert(log_entries).values(seq=seq, handle=handle, entry=entry, leaf_hash=leaf),)
        ]
        if completed:
            statements.append(
                (insert(log_nodes), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in completed])
            )
        await self._insert_unique(*statements)

    async def set_meta(self, key: str, value: str) -> None:
        await self.conn.execute(insert(node_meta).values(key=key, value=value))


class Repository:
    """Queries over the node's tables; the registry is its only writer."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Callbacks a writer put on ``tx.after_commit`` run only once the commit has succeeded.
        """
        async with self.engines.writer.begin() as conn:
            tx = Transaction(conn)
            yield tx
        for callback in tx.after_commit:
            callback()

    async def get_record(self, identifier: Identifier) -> Record | None:
        """The committed record, or None. On SQLite a direct point read (see SqlitePointReader)."""
        point_reader = self.engines.point_reader
        if point_reader is not None:
            row = point_reader.fetch_one(_RECORD_BY_HANDLE_SQL, (str(identifier),))
        else:
            async with self.engines.reader.connect() as conn:
                row = (
                    await conn.execute(_RECORD_BY_HANDLE.where(handles.c.handle == str(identifier)))
                ).first()
        return _record(row) if row else None

    async def vlist(self, handle: str, index: int) -> list[tuple[str, int]] | None:
        """The references of the HS_VLIST at ``index:handle`` (None if absent): for permission checks."""
        record = await self.get_record(Identifier.parse(handle))
        return record.vlist(index) if record else None

    async def list_handles(self, prefix: str, offset: int, limit: int) -> tuple[int, list[str]]:
        """(total count, one page of handles under ``prefix`` in handle order); limit 0 counts only."""
        async with self.engines.reader.connect() as conn:
            total = (
                await conn.execute(
                    select(func.count()).select_from(handles).where(handles.c.prefix == prefix)
                )
            ).scalar_one()
            names: Sequence[str] = []
            if limit:
                names = (
                    (
                        await conn.execute(
                            select(handles.c.handle)
                            .where(handles.c.prefix == prefix)
                            .order_by(handles.c.handle)
                            .offset(offset)
                            .limit(limit)
                        )
                    )
                    .scalars()
                    .all()
                )
        return total, list(names)

    async def get_enterprise(self, prefix: str) -> Enterprise | None:
        async with self.engines.reader.connect() as conn:
            row = (await conn.execute(select(enterprises).where(enterprises.c.prefix == prefix))).first()
        return _enterprise(row) if row else None

    async def get_enterprise_by_uscc(self, uscc: str) -> Enterprise | None:
        async with self.engines.reader.connect() as conn:
            row = (await conn.execute(select(enterprises).where(enterprises.c.uscc == uscc))).first()
        return _enterprise(row) if row else None

    async def list_enterprises(
        self, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[Enterprise]]:
        async with self.engines.reader.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(enterprises))).scalar_one()
            rows = (
                await conn.execute(
                    select(enterprises).order_by(enterprises.c.number).offset(offset).limit(limit)
                )
            ).all()
        return total, [_enterprise(r) for r in rows]

    async def enterprise_counts(self) -> dict[str, int]:
        """Enterprises by status."""
        async with self.engines.reader.connect() as conn:
            rows = (
                await conn.execute(select(enterprises.c.status, func.count()).group_by(enterprises.c.status))
            ).all()
        return {status: count for status, count in rows}

    async def count_records(self) -> int:
        """All stored handles, the node's own included."""
        async with self.engines.reader.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(handles))).scalar_one()

    async def count_identifiers(self) -> int:
        """Identifiers registered by enterprises: all handles but prefix handles and ``<prefix>/ADMIN``."""
        admin_handles = select(enterprises.c.prefix.concat("/ADMIN"))
        async with self.engines.reader.connect() as conn:
            return (
                await conn.execute(
                    select(func.count())
                    .select_from(handles)
                    .where(handles.c.prefix != PREFIX_NAMESPACE, handles.c.handle.not_in(admin_handles))
                )
            ).scalar_one()

    async def audit_trail(self, target: str) -> list[dict[str, Any]]:
        """The audit rows of one target, oldest first."""
        async with self.engines.reader.connect() as conn:
            rows = (
                await conn.execute(select(audit).where(audit.c.target == target).order_by(audit.c.id))
            ).all()
        return [
            {
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "old": orjson.loads(r.old) if r.old else None,
                "new": orjson.loads(r.new) if r.new else None,
            }
            for r in rows
        ]

    @asynccontextmanager
    async def log_reader(self) -> AsyncIterator[tuple[int, Callable[[int, int], Awaitable[bytes]]]]:
        """(tree size, subtree lookup) on one connection: a consistent view for building proofs."""
        async with self.engines.reader.connect() as conn:
            size = await _log_size(conn)

            async def subtree(level: int, index: int) -> bytes:
                return await _subtree(conn, level, index)

            yield size, subtree

    async def latest_log_entry(self, handle: str) -> tuple[int, str, bytes] | None:
        """(seq, entry, leaf hash) of the newest log entry about ``handle``."""
        async with self.engines.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(log_entries.c.seq, log_entries.c.entry, log_entries.c.leaf_hash)
                    .where(log_entries.c.handle == handle)
                    .order_by(log_entries.c.seq.desc())
                    .limit(1)
                )
            ).first()
        return (row.seq, row.entry, bytes(row.leaf_hash)) if row else None

    async def get_meta(self, key: str) -> str | None:
        async with self.engines.reader.connect() as conn:
            return (await conn.execute(select(node_meta.c.value).where(node_meta.c.key == key))).scalar()


def today() -> date:
    return utcnow().date()
