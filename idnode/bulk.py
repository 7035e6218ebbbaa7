"""The bulk write path: creating (and, on request, updating) many identifiers, in batches of one
transaction each.

Each item is written exactly as ``Registry.put_record`` would write it (same value rules, the same
default HS_ADMIN, the same permission checks, signed, audited and logged by the ``Committer``), but a
batch of items shares one transaction, one permission check per prefix, one query for the records
that already exist and a few multi-row statements per kind of write. An item that cannot be written
(invalid handle or values, already stored in a create-only run, repeated in its batch, a value change
its record's HS_ADMIN values do not allow) is reported in the result and the rest of its batch is
still written; a refused permission on a whole prefix stops the run. A batch commits whole or not at
all, so a run that is interrupted and started again completes the work without duplicating any:
what the first run committed is found unchanged.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from idnode.commit import epoch, refused_gs1_keys
from idnode.derived import gs1_paths
from idnode.model.errors import (
    ConflictingUpdate,
    HandleAlreadyExists,
    HandleNotFound,
    IdnodeError,
    InsufficientPermissions,
)
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.registry import MAX_RETRIES, Registry, prepare_values, value_changes, with_default_admin
from idnode.storage.repository import DuplicateKey, Transaction

DEFAULT_BATCH = 2000
MAX_BATCH = 10_000  # keeps the one ``handle IN (...)`` query per batch within every driver's limits
MAX_LISTED_FAILURES = 10_000

Values = Sequence[HandleValue | Mapping[str, Any]]  # parsed, or Handle.Net JSON objects to parse


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One item to write, with what a plain ``(handle, values)`` pair cannot say.

    ``number`` names the item in failures (plain pairs are numbered by their position in the input).
    ``indexes``: in an update run, change only these indexes of an existing record (set where
    ``values`` has them, removed where not), as a PUT with ``index=`` does; None replaces the whole
    record as a whole-record PUT does (keeping its HS_ADMIN values when ``values`` names none).
    ``error``: the item is already known to be bad; it is reported as a failure with that error.
    """

    number: int
    handle: Identifier | str
    values: Values = ()
    indexes: frozenset[int] | None = None
    error: IdnodeError | None = None


# A handle (parsed, or text to parse) and its values.
Item = tuple[Identifier | str, Values] | BulkItem


@dataclass(frozen=True, slots=True)
class BulkFailure:
    """An item that was not written: its number (see ``BulkItem``), its handle and why (a Handle
    responseCode and message, as the single-record API would answer, and the error itself for front
    ends that answer in their own terms)."""

    index: int
    handle: str
    response_code: int
    message: str
    error: IdnodeError | None = field(default=None, compare=False)

    @classmethod
    def of(cls, index: int, handle: str, error: IdnodeError) -> BulkFailure:
        return cls(index, handle, error.response_code, error.message, error)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "handle": self.handle,
            "responseCode": self.response_code,
            "message": self.message,
        }


@dataclass(slots=True)
class BulkResult:
    """What a bulk run did (in a dry run: would do). ``failures`` lists at most ``max_failures`` of the
    ``failed`` items (the first ones, in input order); ``processed`` counts every item."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    max_failures: int = MAX_LISTED_FAILURES

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged + self.failed

    def add_failures(self, failures: Iterable[BulkFailure]) -> None:
        for failure in failures:
            self.failed += 1
            if len(self.failures) < self.max_failures:
                self.failures.append(failure)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "failures": [f.to_json() for f in self.failures],
        }


# Called after each committed batch with the result so far.
Progress = Callable[[BulkResult], None]
# Called after each committed batch with all of its failures, in input order (before ``Progress``).
FailureSink = Callable[[list[BulkFailure]], None]


@dataclass(frozen=True, slots=True)
class _Pending:
    """A valid item on its way in: the record a create would store, and the values and indexes an
    update would apply."""

    number: int
    record: Record
    incoming: tuple[HandleValue, ...]
    indexes: frozenset[int] | None

    @property
    def handle(self) -> str:
        return str(self.record.identifier)


@dataclass(slots=True)
class _Batch:
    """One batch: the valid items and the items already known to fail."""

    pending: list[_Pending] = field(default_factory=list)
    failures: list[BulkFailure] = field(default_factory=list)


@dataclass(slots=True)
class _Outcome:
    """What committing one batch did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[BulkFailure] = field(default_factory=list)


class _RecordMoved(Exception):
    """A record changed after the batch read it: roll the batch back and run it again."""


class BulkRegistrar:
    """Registers many identifiers for one principal; see the module docstring."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.repository = registry.repository
        self.committer = registry.committer

    async def register(
        self,
        principal: Principal | None,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        batch_size: int = DEFAULT_BATCH,
        update_existing: bool = False,
        create_missing: bool = True,
        dry_run: bool = False,
        progress: Progress | None = None,
        on_failures: FailureSink | None = None,
        max_failures: int = MAX_LISTED_FAILURES,
    ) -> BulkResult:
        """Write every item: create a record for each handle that does not exist yet; an existing one
        is a failure (responseCode 101) or, with ``update_existing``, is changed as a PUT would change
        it when that changes anything (else it is counted unchanged and left alone: not re-signed,
        audited or logged). Without ``create_missing`` (an update-only run) a handle that does not exist
        is a failure (HandleNotFound) instead. ``dry_run`` checks everything the same way and writes
        nothing.

        Items are read lazily, ``batch_size`` at a time, so the input may be a generator of any length.
        Returns the counts and the failed items (see ``BulkResult``). Raises AuthenticationNeeded for
        an anonymous caller, and the registry's permission errors (InsufficientPermissions,
        EnterpriseSuspended, PrefixNotHere) for the first batch holding an item under a prefix the
        principal may not write to (or create handles under): that batch writes nothing, earlier
        batches stay committed, and the error's ``details`` carry the counts so far. ReadOnlyMirror
        on a mirror.
        """
        self.repository.require_writable()
        self.registry.require_principal(principal)
        assert principal is not None
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        result = BulkResult(max_failures=max_failures)
        start = 0
        with _collecting_new_objects_only():
            async for chunk in _chunks(items, batch_size):
                batch = _prepare(start, chunk, epoch())
                try:
                    outcome = await self._commit(principal, batch, update_existing, create_missing, dry_run)
                except IdnodeError as exc:
                    exc.details.update(
                        created=result.created,
                        updated=result.updated,
                        unchanged=result.unchanged,
                        failed=result.failed,
                    )
                    raise
                result.created += outcome.created
                result.updated += outcome.updated
                result.unchanged += outcome.unchanged
                failures = sorted(batch.failures + outcome.failures, key=lambda f: f.index)
                result.add_failures(failures)
                if on_failures is not None and failures:
                    on_failures(failures)
                start += len(chunk)
                if progress is not None:
                    progress(result)
        return result

    async def delete(
        self, principal: Principal | None, items: Sequence[tuple[int, Identifier]]
    ) -> list[BulkFailure]:
        """Delete numbered identifiers, at most ``MAX_BATCH``, in one transaction, each checked as
        ``Registry.delete`` checks it and audited, logged and reported as it does. Returns the items not
        deleted: absent (HandleNotFound; also an item repeating an earlier one) or refused by their
        record's HS_ADMIN values (InsufficientPermissions); the rest are deleted. Raises like
        ``register`` for a prefix the principal may not write to (nothing is deleted then).
        """
        self.repository.require_writable()
        self.registry.require_principal(principal)
        assert principal is not None
        if len(items) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} items per call")
        for _ in range(MAX_RETRIES):
            try:
                async with self.repository.transaction() as tx:
                    return await self._delete(tx, principal, items)
            except _RecordMoved:
                continue  # changed concurrently since the query: the next attempt sees it
        raise ConflictingUpdate()

    async def _delete(
        self, tx: Transaction, principal: Principal, items: Sequence[tuple[int, Identifier]]
    ) -> list[BulkFailure]:
        for identifier in _representatives(identifier for _, identifier in items):
            await self.registry.require_writable_prefix(tx, principal, identifier)
        stored = await tx.get_records([str(identifier) for _, identifier in items], lock=True)
        failures: list[BulkFailure] = []
        doomed: list[Record] = []
        for number, identifier in items:
            handle = str(identifier)
            current = stored.pop(handle, None)  # popped: a repeated item finds it gone
            try:
                if current is None:
                    raise HandleNotFound(f"Handle {handle} not found.")
                await self.registry.require_delete(tx, principal, current)
            except (HandleNotFound, InsufficientPermissions) as exc:
                failures.append(BulkFailure.of(number, handle, exc))
                continue
            doomed.append(current)
        if not await self.committer.delete_many(tx, str(principal), doomed):
            raise _RecordMoved()
        return failures

    async def _commit(
        self, principal: Principal, batch: _Batch, update_existing: bool, create_missing: bool, dry_run: bool
    ) -> _Outcome:
        """Write a prepared batch in one transaction (in a dry run: check it, write nothing)."""
        if not batch.pending:
            return _Outcome()
        for _ in range(MAX_RETRIES):
            try:
                async with self.repository.transaction() as tx:
                    return await self._write(tx, principal, batch, update_existing, create_missing, dry_run)
            except (DuplicateKey, _RecordMoved):
                continue  # written concurrently since the query: the next attempt sees it
        raise ConflictingUpdate()

    async def _write(
        self,
        tx: Transaction,
        principal: Principal,
        batch: _Batch,
        update_existing: bool,
        create_missing: bool,
        dry_run: bool,
    ) -> _Outcome:
        for identifier in _representatives(p.record.identifier for p in batch.pending):
            await self.registry.require_writable_prefix(tx, principal, identifier)
        names = [p.handle for p in batch.pending]
        stored: dict[str, Record] = {}
        if update_existing:
            stored = await tx.get_records(names, lock=not dry_run)
            existing = set(stored)
        else:
            existing = await tx.existing_handles(names)
        outcome = _Outcome()
        creates: list[Record] = []
        changes: list[tuple[Record, tuple[HandleValue, ...]]] = []
        for item in batch.pending:
            if item.handle not in existing:
                if create_missing:
                    creates.append(item.record)
                else:
                    missing = HandleNotFound(f"Handle {item.handle} not found.")
                    outcome.failures.append(BulkFailure.of(item.number, item.handle, missing))
                continue
            if not update_existing:
                exists = HandleAlreadyExists(f"Handle {item.handle} already exists.")
                outcome.failures.append(BulkFailure.of(item.number, item.handle, exists))
                continue
            current = stored[item.handle]
            chosen = None if item.indexes is None else set(item.indexes)
            merged = self.registry.merge(current, item.incoming, chosen, overwrite=True)
            differences = value_changes(current, merged)
            if not differences:
                outcome.unchanged += 1
                continue
            try:
                for old, new in differences:
                    await self.registry.require_value_change(tx, principal, current, old, new)
            except InsufficientPermissions as refused:
                outcome.failures.append(BulkFailure.of(item.number, item.handle, refused))
                continue
            changes.append((current, merged))
        for identifier in _representatives(r.identifier for r in creates):
            await self.registry.require_add_handle(tx, principal, identifier)
        creates, changes = await self._refuse_invalid(tx, batch, creates, changes, outcome)
        outcome.created, outcome.updated = len(creates), len(changes)
        if not dry_run:
            await self.committer.create_many(tx, str(principal), creates)
            if await self.committer.change_many(tx, str(principal), changes) is None:
                raise _RecordMoved()
        return outcome

    async def _refuse_invalid(
        self,
        tx: Transaction,
        batch: _Batch,
        creates: list[Record],
        changes: list[tuple[Record, tuple[HandleValue, ...]]],
        outcome: _Outcome,
    ) -> tuple[list[Record], list[tuple[Record, tuple[HandleValue, ...]]]]:
        """The creates and changes whose records, as they would be stored, keep the record limits
        (idnode/limits.py) and the metadata rules (idnode/metadata.py) and claim no GS1 key mapped to
        another identifier; the others are added to ``outcome``'s failures. The kept records'
        templates are held until ``tx`` ends."""
        numbers = {p.handle: p.number for p in batch.pending}
        records = creates + [Record(current.identifier, merged) for current, merged in changes]
        currents: list[Record | None] = [None] * len(creates) + [current for current, _ in changes]
        limits = self.registry.limits
        refused: dict[str, IdnodeError] = {}
        for record, current in zip(records, currents, strict=True):
            problem = limits.problem(current, record)
            if problem is not None:
                refused[str(record.identifier)] = problem
        checked = [r for r in records if str(r.identifier) not in refused]
        for record, problem in zip(checked, await self.registry.metadata.check(checked), strict=True):
            if problem is not None:
                refused[str(record.identifier)] = problem
        claims = [(str(r.identifier), gs1_paths(r)) for r in records if str(r.identifier) not in refused]
        refused.update(await refused_gs1_keys(tx, claims))
        outcome.failures += [BulkFailure.of(numbers[h], h, error) for h, error in refused.items()]
        creates = [r for r in creates if str(r.identifier) not in refused]
        changes = [(c, m) for c, m in changes if str(c.identifier) not in refused]
        await self.registry.metadata.hold(tx, [r for r in records if str(r.identifier) not in refused])
        return creates, changes


def _representatives(identifiers: Iterable[Identifier]) -> list[Identifier]:
    """One identifier per distinct (prefix, owning prefix): the registry's prefix-wide checks depend
    on the identifier only through those two."""
    return list({(i.prefix, i.owning_prefix): i for i in identifiers}.values())


def _prepare(start: int, chunk: list[Item], now: int) -> _Batch:
    """Parse and validate a chunk of items (plain pairs numbered from ``start``)."""
    batch = _Batch()
    first_seen: dict[str, int] = {}
    for position, entry in enumerate(chunk, start):
        item = entry if isinstance(entry, BulkItem) else BulkItem(position, *entry)
        try:
            if item.error is not None:
                raise item.error
            handle = item.handle
            identifier = handle if isinstance(handle, Identifier) else Identifier.parse(handle)
            parsed = [v if isinstance(v, HandleValue) else HandleValue.from_json(v) for v in item.values]
            incoming = prepare_values(parsed, now)
        except IdnodeError as exc:
            batch.failures.append(BulkFailure.of(item.number, str(item.handle), exc))
            continue
        text = str(identifier)
        if text in first_seen:
            repeated = (
                f"Handle {text} appears more than once in the input (first as item {first_seen[text]})."
            )
            batch.failures.append(BulkFailure.of(item.number, text, HandleAlreadyExists(repeated)))
            continue
        first_seen[text] = item.number
        record = Record(identifier, with_default_admin(identifier, incoming, now), 1)
        batch.pending.append(_Pending(item.number, record, incoming, item.indexes))
    return batch


@contextmanager
def _collecting_new_objects_only() -> Iterator[None]:
    """Exempt the objects that exist now from the cyclic garbage collector for the duration.

    A bulk run allocates so much that full collections come often, and each walks every object of
    the process (the SQLAlchemy and Alembic machinery alone are hundreds of thousands): about a sixth
    of a run's time, for nothing, since those objects outlive it. Frozen objects are still freed by
    reference counting; anything else waits for the next collection after the run.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _chunks(items: Iterable[Item] | AsyncIterable[Item], size: int) -> AsyncIterator[list[Item]]:
    """Lists of up to ``size`` consecutive items, from a plain or an asynchronous iterable."""
    chunk: list[Item] = []
    async for item in _each(items):
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _each(items: Iterable[Item] | AsyncIterable[Item]) -> AsyncIterator[Item]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
