"""The bulk write path: creating many identifiers at once, in batches of one transaction each.

Each item is created exactly as ``Registry.put_record(..., overwrite=False)`` would create it (same
value rules, the same default HS_ADMIN, signed, audited and logged by the ``Committer``), but a batch
of items shares one transaction, one permission check per prefix, one query for the handles that
already exist and one multi-row insert per table. An item that cannot be created (invalid handle or
values, already stored, repeated in the input) is reported in the result and the rest of its batch is
still written; a refused permission stops the run. A batch commits whole or not at all.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from idnode.commit import epoch, refused_gs1_keys
from idnode.derived import gs1_paths
from idnode.model.errors import ConflictingUpdate, HandleAlreadyExists, IdnodeError
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.registry import MAX_RETRIES, Registry, prepare_values, with_default_admin
from idnode.storage.repository import DuplicateKey, Transaction

DEFAULT_BATCH = 2000
MAX_BATCH = 10_000  # keeps the one ``handle IN (...)`` query per batch within every driver's limits
MAX_LISTED_FAILURES = 10_000

# A handle (parsed, or text to parse) and its values (parsed, or Handle.Net JSON objects to parse).
Item = tuple[Identifier | str, Sequence[HandleValue | Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class BulkFailure:
    """An item that was not created: its position in the input, its handle and why (a Handle
    responseCode and message, as the single-record API would answer)."""

    index: int
    handle: str
    response_code: int
    message: str

    @classmethod
    def of(cls, index: int, handle: str, error: IdnodeError) -> BulkFailure:
        return cls(index, handle, error.response_code, error.message)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "handle": self.handle,
            "responseCode": self.response_code,
            "message": self.message,
        }


@dataclass(slots=True)
class BulkResult:
    """What a bulk registration did. ``failures`` lists at most ``max_failures`` of the ``failed``
    items (the first ones, in input order); ``created + failed`` counts every item processed."""

    created: int = 0
    failed: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    max_failures: int = MAX_LISTED_FAILURES

    @property
    def processed(self) -> int:
        return self.created + self.failed

    def add_failures(self, failures: Iterable[BulkFailure]) -> None:
        for failure in failures:
            self.failed += 1
            if len(self.failures) < self.max_failures:
                self.failures.append(failure)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "failed": self.failed,
            "failures": [f.to_json() for f in self.failures],
        }


# Called after each committed batch with the result so far.
Progress = Callable[[BulkResult], None]


@dataclass(slots=True)
class _Batch:
    """One batch on its way in: the records to create (with their input positions) and the items
    already known to fail."""

    records: list[tuple[int, Record]] = field(default_factory=list)
    failures: list[BulkFailure] = field(default_factory=list)


class BulkRegistrar:
    """Registers many new identifiers for one principal; see the module docstring."""

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
        progress: Progress | None = None,
        max_failures: int = MAX_LISTED_FAILURES,
    ) -> BulkResult:
        """Create a record for every item (handle, values) that does not exist yet.

        Items are read lazily, ``batch_size`` at a time, so the input may be a generator of any length.
        Returns the counts and the failed items (see ``BulkResult``). Raises AuthenticationNeeded for
        an anonymous caller, and the registry's permission errors (InsufficientPermissions,
        EnterpriseSuspended, PrefixNotHere) for the first batch holding an item the principal may not
        create: that batch writes nothing, earlier batches stay committed, and the error's ``details``
        carry ``created`` and ``failed`` so far. ReadOnlyMirror on a mirror.
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
                await self._check_metadata(batch)
                try:
                    created, failures = await self._commit(principal, batch)
                except IdnodeError as exc:
                    exc.details.update(created=result.created, failed=result.failed)
                    raise
                result.created += created
                result.add_failures(sorted(batch.failures + failures, key=lambda f: f.index))
                start += len(chunk)
                if progress is not None:
                    progress(result)
        return result

    async def _check_metadata(self, batch: _Batch) -> None:
        """Move the items whose metadata breaks the rules (idnode/metadata.py) to the failures."""
        problems = await self.registry.metadata.check([r for _, r in batch.records])
        batch.failures += [
            BulkFailure.of(i, str(r.identifier), problem)
            for (i, r), problem in zip(batch.records, problems, strict=True)
            if problem is not None
        ]
        batch.records = [
            item for item, problem in zip(batch.records, problems, strict=True) if problem is None
        ]

    async def _commit(self, principal: Principal, batch: _Batch) -> tuple[int, list[BulkFailure]]:
        """Write a prepared batch in one transaction; (records created, items found to exist already or
        to claim a GS1 key mapped to another identifier)."""
        if not batch.records:
            return 0, []
        for _ in range(MAX_RETRIES):
            try:
                async with self.repository.transaction() as tx:
                    await self._require_create(tx, principal, batch.records)
                    await self.registry.metadata.hold(tx, [r for _, r in batch.records])
                    stored = await tx.existing_handles([str(r.identifier) for _, r in batch.records])
                    fresh = [r for _, r in batch.records if str(r.identifier) not in stored]
                    refused = await refused_gs1_keys(tx, [(str(r.identifier), gs1_paths(r)) for r in fresh])
                    fresh = [r for r in fresh if str(r.identifier) not in refused]
                    if fresh:
                        await self.committer.create_many(tx, str(principal), fresh)
            except DuplicateKey:
                continue  # created concurrently since the query: the next attempt reports it as existing
            existing = [
                BulkFailure.of(
                    i, str(r.identifier), HandleAlreadyExists(f"Handle {r.identifier} already exists.")
                )
                for i, r in batch.records
                if str(r.identifier) in stored
            ] + [
                BulkFailure.of(i, str(r.identifier), refused[str(r.identifier)])
                for i, r in batch.records
                if str(r.identifier) in refused
            ]
            return len(fresh), existing
        raise ConflictingUpdate()

    async def _require_create(
        self, tx: Transaction, principal: Principal, records: list[tuple[int, Record]]
    ) -> None:
        """The registry's create checks, once per distinct (prefix, owning prefix): the checks depend
        on the identifier only through those two."""
        groups = {(r.identifier.prefix, r.identifier.owning_prefix): r.identifier for _, r in records}
        for identifier in groups.values():
            await self.registry.require_writable_prefix(tx, principal, identifier)
            await self.registry.require_add_handle(tx, principal, identifier)


def _prepare(start: int, chunk: list[Item], now: int) -> _Batch:
    """Parse and validate a chunk of items (numbered from ``start``) into the records to create."""
    batch = _Batch()
    first_seen: dict[str, int] = {}
    for index, (handle, values) in enumerate(chunk, start):
        try:
            identifier = handle if isinstance(handle, Identifier) else Identifier.parse(handle)
            parsed = [v if isinstance(v, HandleValue) else HandleValue.from_json(v) for v in values]
            record = Record(identifier, with_default_admin(identifier, prepare_values(parsed, now), now), 1)
        except IdnodeError as exc:
            batch.failures.append(BulkFailure.of(index, str(handle), exc))
            continue
        text = str(identifier)
        if text in first_seen:
            repeated = (
                f"Handle {text} appears more than once in the input (first as item {first_seen[text]})."
            )
            batch.failures.append(BulkFailure.of(index, text, HandleAlreadyExists(repeated)))
            continue
        first_seen[text] = index
        batch.records.append((index, record))
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
