"""The async repository: every SQL statement idnode runs lives here.

Reads use the reader engine. Writes happen inside ``Repository.transaction()``, which yields a
``Transaction`` bound to one database transaction: the record change, its audit row and anything else
written through it commit together or not at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Literal, NamedTuple

import orjson
from sqlalchemy import (
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    case,
    column,
    delete,
    func,
    insert,
    intersect,
    or_,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from idnode.derived import Derived
from idnode.model.application import HOLDING, Application, ApplicationDraft, Licence, State, Transition
from idnode.model.enterprise import Enterprise, EnterpriseStatus
from idnode.model.errors import ReadOnlyMirror
from idnode.model.identifier import Identifier
from idnode.model.industry import Industry
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.storage.engine import Engines
from idnode.storage.locks import NodeLock, node_lock
from idnode.storage.tables import (
    application_transitions,
    applications,
    audit,
    daily_identifiers,
    enterprises,
    gs1_keys,
    handles,
    identifier_counts,
    log_entries,
    log_nodes,
    node_meta,
    outbox,
    resolution_counts,
    search_entries,
    snms_login_digests,
    snms_tokens,
    templates,
    web_sessions,
)


class StoredSession(NamedTuple):
    """A row of ``web_sessions``."""

    token_hash: bytes
    handle: str
    key_index: int
    csrf: str
    credential: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which search entries a caller may find: all, or the public ones plus those under ``own_prefix``."""

    everything: bool
    own_prefix: str | None


LAST_CHARACTER = "\U0010ffff"  # sorts after every character, in binary order
# A reverse-lookup condition: (entry key, exact index form or None, beginning or None).
SearchCondition = tuple[str, str | None, str | None]


def _matching_handles(condition: SearchCondition, readable: SearchFilter, prefix: str | None) -> Any:
    """SELECT of the handles with an entry satisfying ``condition`` that the caller may read."""
    key, exact, start = condition
    entries = search_entries.c
    query = select(entries.handle).where(entries.key == key)
    if exact is not None:
        query = query.where(entries.value == exact)
    else:
        assert start is not None
        # A range over the index (binary order on both databases) rather than LIKE, which SQLite
        # compares case-insensitively and without the index.
        query = query.where(entries.value >= start, entries.value < start + LAST_CHARACTER)
    if not readable.everything:
        visible = entries.public == 1
        if readable.own_prefix is not None:
            visible = or_(visible, entries.prefix == readable.own_prefix)
        query = query.where(visible)
    if prefix is not None:
        query = query.where(entries.prefix == prefix)
    return query


class DuplicateKey(Exception):
    """An insert hit a unique constraint (the handle, prefix or USCC already exists)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _record(row: Any) -> Record:
    """A Record from a (handle, data, version) row."""
    handle, data, version = row
    values = tuple(HandleValue.from_storage(v) for v in orjson.loads(data))
    return Record(Identifier.stored(handle), values, version)


SIGNATURES_EPOCH = "signatures_epoch"  # node_meta counter: bumped whenever records are re-signed
_RECORD_BY_HANDLE = select(handles.c.handle, handles.c.data, handles.c.version)
_RECORD_BY_HANDLE_SQL = "SELECT handle, data, version FROM handles WHERE handle = ?"


def _aware(moment: datetime) -> datetime:
    """A stored timestamp with its zone (SQLite drops it on the way back)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _enterprise(row: Any) -> Enterprise:
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
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


class StoredTemplate(NamedTuple):
    """One version of a metadata template as stored: its JSON Schema document as text."""

    name: str
    version: int
    document: str
    created_at: datetime


class StoredReport(NamedTuple):
    """A queued report for the upstream node (see idnode/outbox.py); ``payload`` is JSON text."""

    seq: int
    kind: str
    subject: str
    payload: str
    created_at: datetime


# A report to queue: (kind, subject, payload as a JSON-serialisable object).
Report = tuple[str, str, Any]
# Outbox channels: reports for the upstream node (idnode/upstream.py), notifications (idnode/notify.py).
UPSTREAM, NOTIFY = "upstream", "notify"


def _application(row: Any) -> Application:
    draft = ApplicationDraft(
        name=row.name,
        uscc=row.uscc,
        district=row.district,
        industry=Industry(row.industry_code, row.industry_name),
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
        contact_email=row.contact_email,
        intended_use=row.intended_use,
    )
    return Application(
        id=row.id,
        state=State(row.state),
        draft=draft,
        licence=Licence(row.licence_file, row.licence_type, row.licence_size, row.licence_sha256),
        reason=row.reason,
        enterprise_prefix=row.enterprise_prefix,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        credential_collected_at=_aware(row.credential_collected_at) if row.credential_collected_at else None,
    )


WITHDRAWN = ""  # the document of a deleted template version, whose number stays taken


def _live_templates(keys: Collection[tuple[str, int]] | None, name: str | None = None) -> Select[Any]:
    """Stored template versions not deleted, all of them or those of ``keys`` (name, version) or of
    template ``name``."""
    columns = (templates.c.name, templates.c.version, templates.c.document, templates.c.created_at)
    query = select(*columns).where(templates.c.document != WITHDRAWN)
    if keys is not None:
        query = query.where(tuple_(templates.c.name, templates.c.version).in_(list(keys)))
    if name is not None:
        query = query.where(templates.c.name == name)
    return query.order_by(templates.c.name, templates.c.version)


def _stored_templates(rows: Sequence[Any]) -> list[StoredTemplate]:
    return [StoredTemplate(r.name, r.version, r.document, _aware(r.created_at)) for r in rows]


async def _highest_template_versions(conn: AsyncConnection, name: str | None = None) -> dict[str, int]:
    """The highest version number ever given to each template name (deleted versions included)."""
    query = select(templates.c.name, func.max(templates.c.version)).group_by(templates.c.name)
    if name is not None:
        query = query.where(templates.c.name == name)
    return {n: v for n, v in (await conn.execute(query)).all()}


def _dump(record: Record) -> str:
    return orjson.dumps(record.to_storage()).decode()


_INSERT_SQL: dict[tuple[str, str], str] = {}


def _insert_sql(dialect: Dialect, table: Table) -> str:
    """Plain ``INSERT`` text for ``table`` in ``dialect``'s paramstyle, with one positional parameter
    per column in table order, the autoincrement primary key left out (see ``Transaction._insert_rows``)."""
    key = (dialect.name, table.name)
    if key not in _INSERT_SQL:
        columns = [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)]
        statement = insert(table).values({c: bindparam(c) for c in columns})
        compiled = statement.compile(dialect=dialect, for_executemany=True)
        if list(compiled.positiontup or ()) != columns:
            raise RuntimeError(f"unexpected parameter order for {table.name}: {compiled.positiontup}")
        _INSERT_SQL[key] = str(compiled)
    return _INSERT_SQL[key]


async def _gs1_owners(conn: AsyncConnection, paths: Sequence[str]) -> dict[str, str]:
    """The handle each of ``paths`` (canonical GS1 Digital Link paths) is mapped to, for those mapped."""
    if not paths:
        return {}
    rows = await conn.execute(select(gs1_keys.c.path, gs1_keys.c.handle).where(gs1_keys.c.path.in_(paths)))
    return {row.path: row.handle for row in rows}


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


def _upsert(dialect: Dialect, table: Table) -> Any:
    """An INSERT of ``table`` that can take ``on_conflict_do_*`` in the dialect at hand."""
    return (sqlite_insert if dialect.name == "sqlite" else postgresql_insert)(table)


def _adding_upsert(dialect: Dialect, table: Table, counters: list[str]) -> Any:
    """An INSERT of ``table`` rows that, where the primary key exists, adds to its ``counters``."""
    statement = _upsert(dialect, table)
    keys = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: table.c[name] + statement.excluded[name] for name in counters}
    )


def _enterprise_figures() -> tuple[Any, Any, Any]:
    """Enterprises joined with their counts: (from clause, identifiers, resolutions), counts 0 if none."""
    resolved = (
        select(resolution_counts.c.prefix, func.sum(resolution_counts.c.count).label("n"))
        .group_by(resolution_counts.c.prefix)
        .subquery()
    )
    joined = enterprises.outerjoin(
        identifier_counts, identifier_counts.c.prefix == enterprises.c.prefix
    ).outerjoin(resolved, resolved.c.prefix == enterprises.c.prefix)
    return joined, func.coalesce(identifier_counts.c.identifiers, 0), func.coalesce(resolved.c.n, 0)


class StoredToken(NamedTuple):
    """A bearer token's row (see ``tables.SnmsTokenRow``)."""

    handle: str
    index: int
    seckey: str
    expires_at: datetime
    revoked_at: datetime | None


class StoredDigest(NamedTuple):
    """A login digest's row (see ``tables.SnmsLoginDigestRow``)."""

    digest: str
    seckey: str


class Transaction:
    """Writes inside one database transaction; obtained from ``Repository.transaction()``."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.now = utcnow()
        self._stamp: Any = None
        self.after_commit: list[Callable[[], None]] = []

    async def _insert_unique(self, *inserts: Callable[[], Awaitable[Any]], many: bool = False) -> None:
        """Run inserts that may hit a unique constraint; raise DuplicateKey and keep the transaction usable.

        PostgreSQL aborts the whole transaction on an error, so there they run in a savepoint; SQLite
        only undoes the failing statement, and a savepoint would cost two more round trips, except when
        ``many``: a multi-row insert that fails at a later row would leave its earlier rows behind.
        """
        try:
            if self.conn.dialect.name == "sqlite" and not many:
                for run in inserts:
                    await run()
            else:
                async with self.conn.begin_nested():
                    for run in inserts:
                        await run()
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.params)[:200]) from exc

    async def _insert_rows(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (a value for each column in table order, the autoincrement key left out) with
        one executemany of plain SQL.

        This skips SQLAlchemy's per-row parameter processing, which costs more than the insert itself,
        so every value must be one the driver takes as it is: str, int, bytes, None, or ``self.stamp``.
        """
        await self.conn.exec_driver_sql(_insert_sql(self.conn.dialect, table), list(rows))

    @property
    def stamp(self) -> Any:
        """``self.now`` as the driver takes it for a timestamp column (SQLite stores text)."""
        if self._stamp is None:
            dialect = self.conn.dialect
            process = handles.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
            self._stamp = process(self.now) if process else self.now
        return self._stamp

    async def get_record(self, identifier: Identifier, *, lock: bool = False) -> Record | None:
        """The record as this transaction sees it; ``lock`` holds its row until commit (PostgreSQL
        ``FOR UPDATE``; SQLite transactions are serialised already), so concurrent writers queue."""
        query = _RECORD_BY_HANDLE.where(handles.c.handle == str(identifier))
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        return _record(row) if row else None

    async def get_records(self, names: Sequence[str], *, lock: bool = False) -> dict[str, Record]:
        """The stored records among ``names`` (canonical handle strings) by handle, in one query; ``lock``
        as in ``get_record``, taken in handle order so that concurrent batch writers cannot deadlock."""
        if not names:
            return {}
        query = _RECORD_BY_HANDLE.where(handles.c.handle.in_(names))
        if lock:
            query = query.order_by(handles.c.handle).with_for_update()
        return {row[0]: _record(row) for row in await self.conn.execute(query)}

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

    async def existing_handles(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` (canonical handle strings) that are stored, in one query."""
        if not names:
            return set()
        rows = await self.conn.execute(select(handles.c.handle).where(handles.c.handle.in_(names)))
        return set(rows.scalars())

    async def insert_record(self, record: Record) -> None:
        """Insert a new record; raise DuplicateKey if the handle exists."""
        await self.insert_records([record])

    async def insert_records(self, records: Sequence[Record]) -> None:
        """Insert new records in one statement; raise DuplicateKey, storing none of them, if any exists."""
        stamp = self.stamp
        rows = [(str(r.identifier), r.identifier.prefix, _dump(r), r.version, stamp, stamp) for r in records]
        await self._insert_unique(partial(self._insert_rows, handles, rows), many=len(rows) > 1)
        added = Counter(r.identifier.prefix for r in records if r.identifier.is_identifier)
        await self._book_identifiers(added, {})

    async def replace_record(self, record: Record, expected_version: int) -> bool:
        """Store ``record`` if the stored version is still ``expected_version``; False if it moved on."""
        result = await self.conn.execute(
            update(handles)
            .where(handles.c.handle == str(record.identifier), handles.c.version == expected_version)
            .values(data=_dump(record), version=record.version, updated_at=self.now)
        )
        return result.rowcount == 1

    async def replace_records(self, records: Sequence[Record]) -> bool:
        """Store each record over its stored version ``record.version - 1``, in one statement; False,
        storing none of them, if any has moved on."""
        if not records:
            return True
        rows = [(str(r.identifier), _dump(r), r.version) for r in records]
        columns = (column("handle", String), column("data", Text), column("version", Integer))
        new = values(*columns, name="replacement").data(rows).cte("replacement")
        statement = (
            update(handles)
            .where(handles.c.handle == new.c.handle, handles.c.version == new.c.version - 1)
            .values(data=new.c.data, version=new.c.version, updated_at=self.now)
            .returning(handles.c.handle)
        )
        if len(records) == 1:  # nothing to undo if it fails
            return len((await self.conn.execute(statement)).all()) == 1
        async with self.conn.begin_nested() as savepoint:
            if len((await self.conn.execute(statement)).all()) == len(records):
                return True
            await savepoint.rollback()
        return False

    async def delete_record(self, identifier: Identifier, expected_version: int) -> bool:
        return await self.delete_records([(identifier, expected_version)])

    async def delete_records(self, expected: Sequence[tuple[Identifier, int]]) -> bool:
        """Delete each record still at its expected version; False as soon as one is not (it moved on:
        the caller rolls the transaction back, with the deletes made before it)."""
        for identifier, version in expected:
            result = await self.conn.execute(
                delete(handles).where(handles.c.handle == str(identifier), handles.c.version == version)
            )
            if result.rowcount != 1:
                return False
        removed = Counter(identifier.prefix for identifier, _ in expected if identifier.is_identifier)
        if removed:
            await self._book_identifiers({}, removed)
        return True

    async def store_derived(self, derived: Sequence[tuple[Record, Derived]]) -> None:
        """Store the search entries and GS1 keys of records just inserted or replaced (after
        ``drop_derived`` for a replaced one); DuplicateKey if a GS1 key belongs to another record."""
        entries = [
            (entry.key, entry.value, str(record.identifier), record.identifier.prefix, int(entry.public))
            for record, rows in derived
            for entry in rows.search
        ]
        keys = [(path, str(record.identifier)) for record, rows in derived for path in rows.gs1]
        if entries:
            await self._insert_rows(search_entries, entries)
        if keys:
            await self._insert_unique(partial(self._insert_rows, gs1_keys, keys), many=len(keys) > 1)

    async def gs1_owners(self, paths: Sequence[str]) -> dict[str, str]:
        """The handle each of ``paths`` is mapped to (those mapped), as this transaction sees it."""
        return await _gs1_owners(self.conn, paths)

    async def drop_derived(self, handles_: Sequence[str]) -> None:
        """Remove the search entries and GS1 keys of these handles."""
        await self.conn.execute(delete(search_entries).where(search_entries.c.handle.in_(handles_)))
        await self.conn.execute(delete(gs1_keys).where(gs1_keys.c.handle.in_(handles_)))

    async def search_entry_exists(self, key: str, value: str) -> bool:
        """True if any record has the search entry ``key`` = ``value`` (an index lookup)."""
        query = (
            select(search_entries.c.handle)
            .where(search_entries.c.key == key, search_entries.c.value == value)
            .limit(1)
        )
        return (await self.conn.execute(query)).first() is not None

    async def templates(
        self, keys: Collection[tuple[str, int]], *, lock: Literal["share", "update"] | None = None
    ) -> list[StoredTemplate]:
        """The template versions of ``keys`` (name, version) that exist (not deleted). ``lock`` holds
        their rows until commit: ``share`` against deletion (PostgreSQL ``FOR SHARE``; SQLite
        transactions are serialised already), ``update`` to delete one."""
        if not keys:
            return []
        query = _live_templates(keys)
        if lock is not None:
            query = query.with_for_update(read=lock == "share")
        return _stored_templates((await self.conn.execute(query)).all())

    async def highest_template_version(self, name: str) -> int:
        """The highest version number ever given to template ``name`` (0 if none)."""
        return (await _highest_template_versions(self.conn, name)).get(name, 0)

    async def latest_live_template_version(self, name: str) -> int:
        """The highest version of template ``name`` not deleted (0 if none), its row locked against
        deletion until commit."""
        query = (
            select(templates.c.version)
            .where(templates.c.name == name, templates.c.document != WITHDRAWN)
            .order_by(templates.c.version.desc())
            .limit(1)
            .with_for_update(read=True)
        )
        return (await self.conn.execute(query)).scalar() or 0

    async def insert_template(self, name: str, version: int, document: str, actor: str) -> None:
        """Store a new template version; raise DuplicateKey if that version exists."""
        row = {"name": name, "version": version, "document": document}
        statement = insert(templates).values(**row, created_at=self.now, created_by=actor)
        await self._insert_unique(partial(self.conn.execute, statement))

    async def withdraw_template(self, name: str, version: int) -> None:
        """Delete a template version; its row stays, emptied, so the number is never given again."""
        await self.conn.execute(
            update(templates)
            .where(templates.c.name == name, templates.c.version == version)
            .values(document=WITHDRAWN)
        )

    async def add_audit(self, actor: str, action: str, target: str, old: Any, new: Any) -> None:
        await self.add_audits(actor, action, [(target, old, new)])

    async def add_audits(self, actor: str, action: str, changes: Sequence[tuple[str, Any, Any]]) -> None:
        """One audit row per (target, old, new), all by ``actor`` doing ``action``, in one statement."""
        stamp = self.stamp
        rows = [
            (
                stamp,
                actor,
                action,
                target,
                None if old is None else orjson.dumps(old).decode(),
                None if new is None else orjson.dumps(new).decode(),
            )
            for target, old, new in changes
        ]
        await self._insert_rows(audit, rows)

    async def add_reports(self, reports: Sequence[Report], channel: str = UPSTREAM) -> None:
        """Queue ``reports`` on ``channel`` of the outbox (by default for the upstream node), in order,
        undelivered, in one statement."""
        if not reports:
            return
        stamp = self.stamp
        rows = [
            (channel, kind, subject, orjson.dumps(payload).decode(), stamp, None, 0)
            for kind, subject, payload in reports
        ]
        await self._insert_rows(outbox, rows)

    async def insert_application(self, application: Application, token_hash: str) -> None:
        """Insert a new application; raise DuplicateKey if its USCC is held by another (open or approved)."""
        d, licence = application.draft, application.licence
        statement = insert(applications).values(
            id=application.id,
            state=application.state.value,
            name=d.name,
            uscc=d.uscc,
            district=d.district,
            industry_code=d.industry.code,
            industry_name=d.industry.name,
            contact_name=d.contact_name,
            contact_phone=d.contact_phone,
            contact_email=d.contact_email,
            intended_use=d.intended_use,
            licence_file=licence.file,
            licence_type=licence.content_type,
            licence_size=licence.size,
            licence_sha256=licence.sha256,
            token_hash=token_hash,
            reason=None,
            enterprise_prefix=None,
            created_at=application.created_at,
            updated_at=application.updated_at,
        )
        await self._insert_unique(partial(self.conn.execute, statement))

    async def get_application(self, application_id: str, *, lock: bool = False) -> Application | None:
        """The application as this transaction sees it; ``lock`` holds its row until commit."""
        query = select(applications).where(applications.c.id == application_id)
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        return _application(row) if row else None

    async def holding_application(self, uscc: str) -> Application | None:
        """The open or approved application for ``uscc``, if any."""
        query = select(applications).where(
            applications.c.uscc == uscc, applications.c.state.in_([s.value for s in HOLDING])
        )
        row = (await self.conn.execute(query)).first()
        return _application(row) if row else None

    async def move_application(
        self, application_id: str, state: State, reason: str | None, enterprise_prefix: str | None
    ) -> None:
        """Set an application's state (and its reason or enterprise prefix, when given)."""
        changes: dict[str, Any] = {"state": state.value, "updated_at": self.now}
        if reason is not None:
            changes["reason"] = reason
        if enterprise_prefix is not None:
            changes["enterprise_prefix"] = enterprise_prefix
        await self.conn.execute(
            update(applications).where(applications.c.id == application_id).values(**changes)
        )

    async def mark_credential_collected(self, application_id: str) -> None:
        """Record that the applicant collected its credential, now."""
        await self.conn.execute(
            update(applications)
            .where(applications.c.id == application_id)
            .values(credential_collected_at=self.now, updated_at=self.now)
        )

    async def add_transition(self, application_id: str, transition: Transition) -> None:
        """Audit one step of an application."""
        await self.conn.execute(
            insert(application_transitions).values(
                application_id=application_id,
                at=transition.at,
                actor=transition.actor,
                from_state=transition.from_state.value if transition.from_state else None,
                to_state=transition.to_state.value,
                reason=transition.reason,
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
        statement = insert(enterprises).values(**row, status=enterprise.status.value)
        await self._insert_unique(partial(self.conn.execute, statement))

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
        self,
        leaves: Sequence[tuple[int, str, str, bytes]],
        completed: Sequence[tuple[int, int, bytes]],
    ) -> None:
        """Store log leaves (seq, handle, entry, leaf hash) and the complete subtrees they close, in one
        statement each; DuplicateKey, storing none of them, if a sequence number is taken."""
        inserts = [partial(self._insert_rows, log_entries, leaves)]
        if completed:
            inserts.append(partial(self._insert_rows, log_nodes, completed))
        await self._insert_unique(*inserts, many=len(leaves) > 1)

    async def _book_identifiers(self, added: Mapping[str, int], removed: Mapping[str, int]) -> None:
        """Book identifiers ``added`` and ``removed`` (per enterprise prefix) today, in the running totals
        and the daily series: every insert and delete of a record does, so the counts cannot drift."""
        day = self.now.date()
        prefixes = set(added) | set(removed)
        if not prefixes:
            return
        totals = [{"prefix": p, "identifiers": added.get(p, 0) - removed.get(p, 0)} for p in prefixes]
        daily = [
            {"day": day, "prefix": p, "created": added.get(p, 0), "deleted": removed.get(p, 0)}
            for p in prefixes
        ]
        await self.conn.execute(_adding_upsert(self.conn.dialect, identifier_counts, ["identifiers"]), totals)
        await self.conn.execute(
            _adding_upsert(self.conn.dialect, daily_identifiers, ["created", "deleted"]), daily
        )

    async def set_meta(self, key: str, value: str) -> None:
        await self.conn.execute(insert(node_meta).values(key=key, value=value))

    async def put_meta(self, key: str, value: str) -> None:
        """Set ``key`` to ``value``, replacing what it held."""
        statement = _upsert(self.conn.dialect, node_meta).values(key=key, value=value)
        await self.conn.execute(
            statement.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )

    async def meta_default(self, key: str, value: str) -> str:
        """The value of ``key``, set to ``value`` first if it has none (the first writer wins)."""
        statement = _upsert(self.conn.dialect, node_meta).values(key=key, value=value)
        await self.conn.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
        return (await self.conn.execute(select(node_meta.c.value).where(node_meta.c.key == key))).scalar_one()

    async def insert_token(
        self, token_id: str, handle: str, index: int, seckey: str, expires_at: datetime
    ) -> None:
        """Record a new bearer token, and forget the tokens that have expired (they are refused anyway)."""
        await self.conn.execute(delete(snms_tokens).where(snms_tokens.c.expires_at < self.now))
        row = {"id": token_id, "handle": handle, "idx": index, "seckey": seckey}
        await self.conn.execute(insert(snms_tokens).values(**row, issued_at=self.now, expires_at=expires_at))

    async def revoke_token(self, token_id: str) -> bool:
        """Mark a token revoked; False if there is no such live token."""
        result = await self.conn.execute(
            update(snms_tokens)
            .where(snms_tokens.c.id == token_id, snms_tokens.c.revoked_at.is_(None))
            .values(revoked_at=self.now)
        )
        return result.rowcount == 1

    async def put_login_digest(self, handle: str, index: int, digest: str, seckey: str) -> None:
        """Keep (or replace) the login digest of ``index:handle``."""
        row = {"handle": handle, "idx": index, "digest": digest, "seckey": seckey, "updated_at": self.now}
        statement = _upsert(self.conn.dialect, snms_login_digests).values(**row)
        await self.conn.execute(
            statement.on_conflict_do_update(
                index_elements=["handle", "idx"],
                set_={"digest": digest, "seckey": seckey, "updated_at": self.now},
            )
        )

    async def increment_meta(self, key: str) -> None:
        """Add one to the counter ``key`` (created at 1), under the row's lock until commit."""
        current = (
            await self.conn.execute(select(node_meta.c.value).where(node_meta.c.key == key).with_for_update())
        ).scalar()
        if current is None:
            await self.set_meta(key, "1")
        else:
            await self.conn.execute(
                update(node_meta).where(node_meta.c.key == key).values(value=str(int(current) + 1))
            )


class Repository:
    """Queries over the node's tables; the registry is its only writer (on a mirror, the follower)."""

    def __init__(self, engines: Engines, mirror_of: str = "") -> None:
        self.engines = engines
        self.mirror_of = mirror_of

    def require_writable(self) -> None:
        """Raise ReadOnlyMirror if this node is a mirror: its store changes only as its primary's does."""
        if self.mirror_of:
            raise ReadOnlyMirror(
                f"This node is a read-only mirror of {self.mirror_of}: it answers anonymous reads only. "
                "Send changes, and requests that need credentials, to the primary."
            )

    @asynccontextmanager
    async def transaction(self, *, mirroring: bool = False) -> AsyncIterator[Transaction]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Callbacks a writer put on ``tx.after_commit`` run only once the commit has succeeded. On a
        mirror only its follower writes (``mirroring=True``); every other writer gets ReadOnlyMirror.
        """
        if not mirroring:
            self.require_writable()
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

    async def gs1_handles(self, paths: Sequence[str]) -> dict[str, str]:
        """The handle each of ``paths`` (canonical GS1 Digital Link paths) is mapped to, in one query."""
        async with self.engines.reader.connect() as conn:
            return await _gs1_owners(conn, paths)

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

    async def application_counts(self) -> dict[str, int]:
        """Applications by state."""
        query = select(applications.c.state, func.count()).group_by(applications.c.state)
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {state: count for state, count in rows}

    async def add_resolution_counts(self, day: date, counts: Mapping[str, int]) -> None:
        """Add ``counts`` (per enterprise prefix) to the stored resolution counts of ``day``."""
        rows = [{"day": day, "prefix": prefix, "count": n} for prefix, n in counts.items()]
        async with self.engines.writer.begin() as conn:
            await conn.execute(_adding_upsert(conn.dialect, resolution_counts, ["count"]), rows)

    async def resolution_totals(self, day: date) -> tuple[int, int]:
        """(all resolutions counted so far, those of ``day``)."""
        count = resolution_counts.c.count
        on_day = func.sum(case((resolution_counts.c.day == day, count), else_=0))
        query = select(func.coalesce(func.sum(count), 0), func.coalesce(on_day, 0))
        async with self.engines.reader.connect() as conn:
            total, today_total = (await conn.execute(query)).one()
        return int(total), int(today_total)

    async def count_records(self) -> int:
        """All stored handles, the node's own included."""
        async with self.engines.reader.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(handles))).scalar_one()

    async def count_identifiers(self, prefix: str | None = None) -> int:
        """Identifiers registered by enterprises (all handles but prefix handles and ``<prefix>/ADMIN``),
        or by the one enterprise of ``prefix``."""
        query = select(func.coalesce(func.sum(identifier_counts.c.identifiers), 0))
        if prefix is not None:
            query = query.where(identifier_counts.c.prefix == prefix)
        async with self.engines.reader.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    # -- web sessions (portal and console sign-in) ------------------------------------------------

    async def add_session(self, session: StoredSession) -> None:
        async with self.engines.writer.begin() as conn:
            await conn.execute(insert(web_sessions).values(**session._asdict()))

    async def get_session(self, token_hash: bytes) -> StoredSession | None:
        """The session whose token hashes to ``token_hash``, expired or not, or None."""
        query = select(*web_sessions.c).where(web_sessions.c.token_hash == token_hash)
        async with self.engines.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        stored = StoredSession(*row)
        return stored._replace(created_at=_aware(stored.created_at), expires_at=_aware(stored.expires_at))

    async def delete_sessions(
        self,
        *,
        token_hash: bytes | None = None,
        handle: str | None = None,
        expired_by: datetime | None = None,
    ) -> int:
        """Delete the session of ``token_hash``, every session of ``handle`` (keeping ``token_hash``'s
        if both are given), or those expired by ``expired_by``; return how many."""
        statement = delete(web_sessions)
        if handle is not None:
            statement = statement.where(web_sessions.c.handle == handle)
            if token_hash is not None:
                statement = statement.where(web_sessions.c.token_hash != token_hash)
        elif token_hash is not None:
            statement = statement.where(web_sessions.c.token_hash == token_hash)
        if expired_by is not None:
            statement = statement.where(web_sessions.c.expires_at <= expired_by)
        async with self.engines.writer.begin() as conn:
            return (await conn.execute(statement)).rowcount

    async def breakdown(self, by: str) -> list[dict[str, Any]]:
        """Per value of the enterprise column ``by`` (``district`` or ``industry``): enterprises (all,
        active, and those with no identifiers), identifiers and resolutions; largest first."""
        column = enterprises.c[by]
        joined, identifiers, resolutions = _enterprise_figures()
        active = case((enterprises.c.status == EnterpriseStatus.ACTIVE.value, 1), else_=0)
        query = (
            select(
                column.label("name"),
                func.count().label("enterprises"),
                func.sum(active).label("active"),
                func.sum(case((identifiers == 0, 1), else_=0)).label("without_identifiers"),
                func.sum(identifiers).label("identifiers"),
                func.sum(resolutions).label("resolutions"),
            )
            .select_from(joined)
            .group_by(column)
            .order_by(func.count().desc(), column)
        )
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [{key: value if key == "name" else int(value) for key, value in row.items()} for row in rows]

    async def enterprise_ranking(
        self, order: str, limit: int, *, unused_only: bool = False
    ) -> list[dict[str, Any]]:
        """Enterprises with their identifiers and resolutions, by ``order`` (``identifiers`` or
        ``resolutions``) descending; ``unused_only``: only those with no identifiers."""
        joined, identifiers, resolutions = _enterprise_figures()
        query = (
            select(
                enterprises.c.prefix,
                enterprises.c.name,
                enterprises.c.district,
                enterprises.c.industry,
                enterprises.c.registered_on,
                identifiers.label("identifiers"),
                resolutions.label("resolutions"),
            )
            .select_from(joined)
            .order_by((identifiers if order == "identifiers" else resolutions).desc(), enterprises.c.prefix)
            .limit(limit)
        )
        if unused_only:
            query = query.where(identifiers == 0)
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            {
                **row,
                "registered_on": row["registered_on"].isoformat(),
                "identifiers": int(row["identifiers"]),
                "resolutions": int(row["resolutions"]),
            }
            for row in rows
        ]

    async def daily_series(
        self, metric: str, start: date, end: date, prefix: str | None = None
    ) -> dict[date, int]:
        """New ``enterprises``, ``identifiers`` (created) or ``resolutions`` per day, ``start`` to ``end``;
        with ``prefix``, those of that enterprise only."""
        if metric == "enterprises":
            day, amount, table = enterprises.c.registered_on, func.count(), enterprises
        elif metric == "identifiers":
            day, amount, table = (
                daily_identifiers.c.day,
                func.sum(daily_identifiers.c.created),
                daily_identifiers,
            )
        else:
            day, amount, table = (
                resolution_counts.c.day,
                func.sum(resolution_counts.c.count),
                resolution_counts,
            )
        query = select(day, amount).where(day >= start, day <= end).group_by(day)
        if prefix is not None:
            query = query.where(table.c.prefix == prefix)
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(d if isinstance(d, date) else date.fromisoformat(d)): int(n) for d, n in rows}

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

    async def search(
        self,
        conditions: Sequence[SearchCondition],
        readable: SearchFilter,
        prefix: str | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[str]]:
        """(count, one page in handle order) of the handles satisfying every condition."""
        selects = [_matching_handles(c, readable, prefix) for c in conditions]
        found = (selects[0].distinct() if len(selects) == 1 else intersect(*selects)).subquery()
        async with self.engines.reader.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(found))).scalar_one()
            names = (
                await conn.execute(
                    select(found.c.handle).order_by(found.c.handle).offset(offset).limit(limit)
                )
            ).scalars()
            return total, list(names)

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

    async def templates(
        self, keys: Collection[tuple[str, int]] | None = None, *, name: str | None = None
    ) -> list[StoredTemplate]:
        """Stored template versions (not deleted), all or those of ``keys`` or of template ``name``,
        by name and version."""
        if keys is not None and not keys:
            return []
        async with self.engines.reader.connect() as conn:
            return _stored_templates((await conn.execute(_live_templates(keys, name))).all())

    async def latest_template(self, name: str) -> StoredTemplate | None:
        """The highest version of template ``name`` not deleted, or None."""
        query = _live_templates(None, name).order_by(None).order_by(templates.c.version.desc()).limit(1)
        async with self.engines.reader.connect() as conn:
            return next(iter(_stored_templates((await conn.execute(query)).all())), None)

    async def highest_template_versions(self) -> dict[str, int]:
        """The highest version number ever given to each template name (deleted versions included)."""
        async with self.engines.reader.connect() as conn:
            return await _highest_template_versions(conn)

    async def get_meta(self, key: str) -> str | None:
        async with self.engines.reader.connect() as conn:
            return (await conn.execute(select(node_meta.c.value).where(node_meta.c.key == key))).scalar()

    async def get_token(self, token_id: str) -> StoredToken | None:
        async with self.engines.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        snms_tokens.c.handle,
                        snms_tokens.c.idx,
                        snms_tokens.c.seckey,
                        snms_tokens.c.expires_at,
                        snms_tokens.c.revoked_at,
                    ).where(snms_tokens.c.id == token_id)
                )
            ).first()
        if row is None:
            return None
        revoked = _aware(row.revoked_at) if row.revoked_at is not None else None
        return StoredToken(row.handle, row.idx, row.seckey, _aware(row.expires_at), revoked)

    async def get_login_digest(self, handle: str, index: int) -> StoredDigest | None:
        async with self.engines.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(snms_login_digests.c.digest, snms_login_digests.c.seckey).where(
                        snms_login_digests.c.handle == handle, snms_login_digests.c.idx == index
                    )
                )
            ).first()
        return StoredDigest(row.digest, row.seckey) if row else None

    async def log_changes(self, start: int, limit: int) -> list[tuple[int, str]]:
        """(seq, handle) of up to ``limit`` log entries from sequence number ``start`` on, in order:
        the feed that tells every process which records changed."""
        async with self.engines.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(log_entries.c.seq, log_entries.c.handle)
                    .where(log_entries.c.seq >= start)
                    .order_by(log_entries.c.seq)
                    .limit(limit)
                )
            ).all()
        return [(row.seq, row.handle) for row in rows]

    async def log_size(self) -> int:
        async with self.engines.reader.connect() as conn:
            return await _log_size(conn)

    async def pending_reports(self, limit: int, channel: str = UPSTREAM) -> list[StoredReport]:
        """The ``limit`` oldest undelivered messages of ``channel``, in order (from the index of
        undelivered ones)."""
        query = (
            select(outbox.c.seq, outbox.c.kind, outbox.c.subject, outbox.c.payload, outbox.c.created_at)
            .where(outbox.c.channel == channel, outbox.c.delivered_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [StoredReport(r.seq, r.kind, r.subject, r.payload, _aware(r.created_at)) for r in rows]

    async def record_attempt(self, seqs: Collection[int], *, delivered: bool) -> None:
        """Count one more delivery attempt of the reports ``seqs`` and, if ``delivered``, mark them
        delivered now: one statement, which leaves reports delivered already as they are."""
        if not seqs:
            return
        changes: dict[str, Any] = {"attempts": outbox.c.attempts + 1}
        if delivered:
            changes["delivered_at"] = utcnow()
        async with self.engines.writer.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.seq.in_(list(seqs)), outbox.c.delivered_at.is_(None))
                .values(**changes)
            )

    async def report_backlog(self, channel: str = UPSTREAM) -> tuple[int, datetime | None]:
        """(undelivered messages of ``channel``, when the oldest of them was queued)."""
        query = select(func.count(), func.min(outbox.c.created_at)).where(
            outbox.c.channel == channel, outbox.c.delivered_at.is_(None)
        )
        async with self.engines.reader.connect() as conn:
            count, oldest = (await conn.execute(query)).one()
        return int(count), None if oldest is None else _aware(oldest)

    async def get_application(self, application_id: str) -> Application | None:
        async with self.engines.reader.connect() as conn:
            row = (
                await conn.execute(select(applications).where(applications.c.id == application_id))
            ).first()
        return _application(row) if row else None

    async def application_token_hash(self, application_id: str) -> str | None:
        query = select(applications.c.token_hash).where(applications.c.id == application_id)
        async with self.engines.reader.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def list_applications(
        self, state: State | None, offset: int, limit: int
    ) -> tuple[int, list[Application]]:
        """(count, one page oldest first) of the applications, all or those in ``state``."""
        condition = applications.c.state == state.value if state is not None else True
        async with self.engines.reader.connect() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(applications).where(condition))
            ).scalar_one()
            rows = (
                await conn.execute(
                    select(applications)
                    .where(condition)
                    .order_by(applications.c.created_at, applications.c.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
        return total, [_application(r) for r in rows]

    async def application_transitions(self, application_id: str) -> list[Transition]:
        """An application's audit trail, oldest first."""
        t = application_transitions
        query = select(t).where(t.c.application_id == application_id).order_by(t.c.id)
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Transition(
                at=_aware(r.at),
                actor=r.actor,
                from_state=State(r.from_state) if r.from_state else None,
                to_state=State(r.to_state),
                reason=r.reason,
            )
            for r in rows
        ]

    def node_lock(self, name: str) -> NodeLock:
        """A lock named ``name`` that one process of the node holds at a time (see storage/locks.py)."""
        return node_lock(self.engines, name)

    async def log_entries(self, start: int, limit: int) -> list[tuple[int, str, str, bytes]]:
        """(seq, handle, entry, leaf hash) of up to ``limit`` log entries from ``start`` on, in order."""
        columns = (log_entries.c.seq, log_entries.c.handle, log_entries.c.entry, log_entries.c.leaf_hash)
        query = select(*columns).where(log_entries.c.seq >= start).order_by(log_entries.c.seq).limit(limit)
        async with self.engines.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(row.seq, row.handle, row.entry, bytes(row.leaf_hash)) for row in rows]


def today() -> date:
    return utcnow().date()
