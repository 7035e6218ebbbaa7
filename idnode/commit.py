"""Committing record changes: sign, store, audit, log and report, all inside the caller's transaction.

Every write of a record goes through a ``Committer`` so that no record is stored unsigned, no change
escapes the audit trail, the transparency log always matches the store, and every change of an
identifier is queued for the upstream node (idnode/outbox.py). (A mirror stores its primary's signed
records and log instead: ``Committer.mirror``.)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from idnode.derived import Derived, combined, gs1_paths, gs1_refusals, value_entries
from idnode.keys import ActiveKey, NodeKeys
from idnode.model.errors import ConflictingUpdate, ValueAlreadyExists
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.values import HS_SECKEY, HandleValue
from idnode.outbox import identifier_report
from idnode.signing import (
    HS_SIGNATURE,
    SIGNATURE_INDEX,
    record_digest,
    signature_token,
    value_digests,
    withheld_indexes,
)
from idnode.storage.repository import DuplicateKey, Transaction
from idnode.translog import LogAppender, LogEntry

CREATE, MODIFY, DELETE = "create", "modify", "delete"
Digests = list[dict[str, Any]]
# What a stored record contributes to the lookup tables (search entries, GS1 keys); may read in tx.
Derivation = Callable[[Transaction, Record], Awaitable[Derived]]


async def derive_values(tx: Transaction, record: Record) -> Derived:
    """The derivation that needs nothing but the record: its plain string values, searchable, and
    the GS1 keys of its GS1 values."""
    return Derived(search=tuple(value_entries(record)), gs1=gs1_paths(record))


async def refused_gs1_keys(
    tx: Transaction, claims: Sequence[tuple[str, Sequence[str]]]
) -> dict[str, ValueAlreadyExists]:
    """For each handle among ``claims`` (handle, GS1 paths) that would take a GS1 key mapped to another
    handle (stored, or claimed earlier in ``claims``), the error naming that handle."""
    paths = [path for _, owned in claims for path in owned]
    return gs1_refusals(claims, await tx.gs1_owners(paths)) if paths else {}


async def _require_gs1_keys_free(tx: Transaction, claims: Sequence[tuple[str, Sequence[str]]]) -> None:
    refused = await refused_gs1_keys(tx, claims)
    if refused:
        raise next(iter(refused.values()))


def epoch() -> int:
    return int(time.time())


def audit_form(record: Record | None) -> list[dict[str, Any]] | None:
    """Values as the audit log keeps them (secret hashes are not copied into the log)."""
    if record is None:
        return None
    return [
        v.to_json() if v.type != HS_SECKEY else {"index": v.index, "type": HS_SECKEY} for v in record.values
    ]


def _fields(record: Record) -> list[tuple[int, str, str, Any, str]]:
    return [(v.index, v.type, v.format, v.data, v.permissions) for v in record.values]


def digests_of(record: Record) -> list[dict[str, Any]]:
    return value_digests(_fields(record))


class Committer:
    """Signs and stores records on behalf of the registry; see the module docstring."""

    def __init__(self, keys: NodeKeys, signature_lifetime: int, sign_records: bool = True) -> None:
        self.keys = keys
        self.signature_lifetime = signature_lifetime
        self.sign_records = sign_records
        self.log = LogAppender()
        # What each stored record contributes to the lookup tables: the parts of all of these.
        self.derivations: list[Derivation] = [derive_values]
        self.listeners: list[Callable[[str], None]] = []  # called with each changed handle, after commit

    async def derive(self, tx: Transaction, record: Record) -> Derived:
        """The lookup-table rows of ``record``: what every derivation contributes."""
        return combined([await derivation(tx, record) for derivation in self.derivations])

    def _notify_after_commit(self, tx: Transaction, handle: Identifier) -> None:
        for listener in self.listeners:
            tx.after_commit.append(partial(listener, str(handle)))

    async def active_key(self, tx: Transaction) -> ActiveKey:
        """The active signing key, re-read from the node record at most once a second."""
        cached = self.keys.cached()
        if cached is not None:
            return cached
        node = await tx.get_record(self.keys.node_handle)
        if node is None:
            raise LookupError("the node record is missing; run 'idnode init'")
        active = self.keys.active_in(node)
        self.keys.remember(active)
        return active

    def signed(self, record: Record, key: ActiveKey, digests: Digests | None = None) -> Record:
        """``record`` with a fresh HS_SIGNATURE at index 400 over its public values (``digests``, if
        given, must be ``digests_of(record)``: callers that need them too compute them once)."""
        now = epoch()
        token = signature_token(
            key.key,
            key.ref,
            key.chain,
            str(record.identifier),
            digests_of(record) if digests is None else digests,
            withheld_indexes(_fields(record)),
            now,
            self.signature_lifetime,
        )
        signature = HandleValue(
            index=SIGNATURE_INDEX, type=HS_SIGNATURE, format="string", data=token, timestamp=now
        )
        unsigned = [v for v in record.values if v.index != SIGNATURE_INDEX]
        return Record(record.identifier, Record.sorted_values([*unsigned, signature]), record.version)

    async def _sign(self, tx: Transaction, record: Record, digests: Digests | None = None) -> Record:
        if not self.sign_records:
            return record
        if record.identifier == self.keys.node_handle:
            key = self.keys.active_in(record)  # the node record is signed by the key it publishes
        else:
            key = await self.active_key(tx)
        return self.signed(record, key, digests)

    async def _store_derived(self, tx: Transaction, derived: list[tuple[Record, Derived]]) -> None:
        """Store the records' derived rows; raise ValueAlreadyExists, naming the other identifier, if
        one of their GS1 keys is mapped to another record (or to two of them)."""
        claims = [(str(record.identifier), rows.gs1) for record, rows in derived if rows.gs1]
        await _require_gs1_keys_free(tx, claims)
        try:
            await tx.store_derived(derived)
        except DuplicateKey:
            await _require_gs1_keys_free(tx, claims)  # a concurrent writer mapped one since: name it
            raise ConflictingUpdate() from None

    async def create(self, tx: Transaction, actor: str, record: Record) -> Record:
        """Sign and insert a new record; raises DuplicateKey (from the store) if it exists."""
        return (await self.create_many(tx, actor, [record]))[0]

    async def _log_and_report(
        self, tx: Transaction, records: Sequence[Record], entries: Sequence[LogEntry]
    ) -> None:
        """Append the changes of ``records`` (one log entry each, in order) to the transparency log,
        queue the upstream report of each identifier among them, and invalidate caches after commit."""
        first = await self.log.append_many(tx, entries)
        await tx.add_reports(
            [
                identifier_report(handle, action, content, first + position)
                for position, (handle, action, content, _) in enumerate(entries)
                if records[position].identifier.is_identifier
            ]
        )
        for record in records:
            self._notify_after_commit(tx, record.identifier)

    async def create_many(self, tx: Transaction, actor: str, records: Sequence[Record]) -> list[Record]:
        """Sign and insert new records, each audited, logged and reported as ``create`` does, with one
        multi-row insert per table; raises DuplicateKey, storing none of them, if any exists
        (ValueAlreadyExists if one claims a GS1 key mapped to another record). Returns the stored
        records."""
        if not records:
            return []
        now = epoch()
        stored: list[Record] = []
        entries: list[LogEntry] = []
        for record in records:
            handle, digests = str(record.identifier), digests_of(record)
            stored.append(await self._sign(tx, record, digests))
            entries.append((handle, CREATE, record_digest(handle, digests), now))
        await tx.insert_records(stored)
        await self._store_derived(tx, [(r, await self.derive(tx, r)) for r in stored])
        await tx.add_audits(actor, CREATE, [(str(r.identifier), None, audit_form(r)) for r in stored])
        await self._log_and_report(tx, stored, entries)
        return stored

    async def change(
        self,
        tx: Transaction,
        actor: str,
        current: Record,
        values: tuple[HandleValue, ...],
        action: str = MODIFY,
    ) -> Record | None:
        """Sign and store new values for ``current``; None if the record moved on (retry)."""
        stored = await self.change_many(tx, actor, [(current, values)], action)
        return None if stored is None else stored[0]

    async def change_many(
        self,
        tx: Transaction,
        actor: str,
        changes: Sequence[tuple[Record, tuple[HandleValue, ...]]],
        action: str = MODIFY,
    ) -> list[Record] | None:
        """Sign and store new values for each (current record, values), each audited as ``action``,
        logged and reported as a modification, with a few multi-row statements; None, storing none of
        them, if any record moved on (retry). Returns the stored records."""
        if not changes:
            return []
        now = epoch()
        stored: list[Record] = []
        entries: list[LogEntry] = []
        for current, values in changes:
            record = Record(current.identifier, values, current.version + 1)
            handle, digests = str(record.identifier), digests_of(record)
            stored.append(await self._sign(tx, record, digests))
            entries.append((handle, MODIFY, record_digest(handle, digests), now))
        if not await tx.replace_records(stored):
            return None
        await tx.drop_derived([str(r.identifier) for r in stored])
        await self._store_derived(tx, [(r, await self.derive(tx, r)) for r in stored])
        audits = [
            (str(r.identifier), audit_form(c), audit_form(r))
            for (c, _), r in zip(changes, stored, strict=True)
        ]
        await tx.add_audits(actor, action, audits)
        await self._log_and_report(tx, stored, entries)
        return stored

    async def delete(self, tx: Transaction, actor: str, current: Record) -> bool:
        """Delete ``current``; False if the record moved on (retry)."""
        return await self.delete_many(tx, actor, [current])

    async def delete_many(self, tx: Transaction, actor: str, records: Sequence[Record]) -> bool:
        """Delete each of ``records``, each audited, logged and reported, with a few statements; False
        if any moved on (retry; the caller must roll back the transaction, which holds the deletes
        made before it)."""
        if not records:
            return True
        if not await tx.delete_records([(r.identifier, r.version) for r in records]):
            return False
        handles = [str(r.identifier) for r in records]
        await tx.drop_derived(handles)
        await tx.add_audits(
            actor, DELETE, [(h, audit_form(r), None) for h, r in zip(handles, records, strict=True)]
        )
        now = epoch()
        await self._log_and_report(tx, records, [(h, DELETE, None, now) for h in handles])
        return True

    async def mirror(
        self,
        tx: Transaction,
        changes: Sequence[tuple[Identifier, Record | None]],
        start: int,
        entries: Sequence[tuple[str, bytes]],
    ) -> None:
        """A mirror's one write (see ``idnode.mirror``): store records exactly as the primary signed them
        (None: deleted there), with their derived rows, and copy the primary's log entries about them,
        the first at ``start``, into this node's log. Nothing is signed or audited here: the records
        carry the primary's signatures and the log is the primary's, leaf for leaf.

        A GS1 key another stored record still holds is left unmapped: the primary logged the change
        that freed it, and applying that change (it comes in this batch or a later one, with the record
        now holding the key) maps it.
        """
        handles = [str(identifier) for identifier, _ in changes]
        await tx.drop_derived(handles)
        stored = []
        for identifier, record in changes:
            current = await tx.get_record(identifier, lock=True)
            if record is None:
                if current is not None:
                    await tx.delete_record(identifier, current.version)
            elif current is None:
                await tx.insert_record(replace(record, version=1))
            else:
                await tx.replace_record(replace(record, version=current.version + 1), current.version)
            if record is not None:
                stored.append(record)
            self._notify_after_commit(tx, identifier)
        derived = [(record, await self.derive(tx, record)) for record in stored]
        refused = await refused_gs1_keys(
            tx, [(str(r.identifier), rows.gs1) for r, rows in derived if rows.gs1]
        )
        await tx.store_derived(
            [
                (r, Derived(search=rows.search) if str(r.identifier) in refused else rows)
                for r, rows in derived
            ]
        )
        await self.log.copy(tx, start, entries)

    async def resign(self, tx: Transaction, current: Record, key: ActiveKey) -> bool:
        """Replace ``current``'s signature with one by ``key``; the content is unchanged, so nothing is
        logged (the caller audits the pass). False if the record moved on."""
        record = replace(self.signed(current, key), version=current.version + 1)
        self._notify_after_commit(tx, record.identifier)
        return await tx.replace_record(record, current.version)
