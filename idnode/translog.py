"""The transparency log: every registration, modification and deletion, in an RFC 9162 Merkle tree.

A log entry is the canonical JSON ``{"action", "handle", "record", "seq", "time"}`` where ``record``
is the content digest of the record after the change (``signing.record_digest``; null for a
deletion). Entries are appended inside the write transaction that makes the change, so the log and
the store never disagree. The tree's complete subtrees are stored with the leaves, so signed tree
heads, inclusion proofs and consistency proofs cost O(log n) lookups, and a restarted node serves
exactly the tree its stored leaves define.

JSON shapes follow RFC 6962's API: ``tree_size``, ``timestamp`` (ms), ``sha256_root_hash`` and
``tree_head_signature`` (here a compact JWS by the node key over the other three plus ``iss``),
``leaf_index`` and ``audit_path``, ``consistency``; hashes are standard base64.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import orjson

from idnode import merkle
from idnode.keys import ActiveKey
from idnode.model.errors import ConflictingUpdate, HandleNotFound, ProtocolError
from idnode.model.values import iso_timestamp
from idnode.signing import canonical_json, jws_sign
from idnode.storage.repository import DuplicateKey, Repository, Transaction

MAX_APPEND_ATTEMPTS = 20
MAX_SEQUENCE = 2**63 - 1  # sequence numbers are SQL BIGINTs
MIRRORED_HEAD = "mirror_tree_head"  # node_meta: on a mirror, the primary's newest head it has checked

Edge = dict[tuple[int, int], bytes]  # (level, index) -> hash of the perfect subtrees on the right edge
LogEntry = tuple[str, str, str | None, int]  # handle, action, content digest (None: deleted), epoch time


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def root_at(repository: Repository, size: int | None = None) -> tuple[int, bytes]:
    """(size, root hash) of the log's first ``size`` entries (all if None); ProtocolError if the
    log is shorter."""
    async with repository.log_reader() as (stored, subtree):
        size = stored if size is None else size
        if not 0 <= size <= stored:
            raise ProtocolError(f"The log holds {stored} entries, not {size}.")
        return size, await merkle.range_hash(subtree, 0, size)


class LogAppender:
    """Appends entries inside write transactions, remembering the tree's right edge between appends.

    The edge (tree size and the perfect subtrees an append may need as left siblings) is only updated
    after the transaction commits. An append that finds its sequence number taken (another process
    appended meanwhile) reloads the size and retries; the database's primary key on the sequence
    number is what keeps the log gap-free and single-valued, across processes and on PostgreSQL.
    """

    def __init__(self) -> None:
        self._size: int | None = None
        self._edge: Edge = {}

    async def append(self, tx: Transaction, handle: str, action: str, content: str | None, now: int) -> int:
        """Append one entry inside ``tx``; return its sequence number."""
        return await self.append_many(tx, [(handle, action, content, now)])

    async def append_many(self, tx: Transaction, entries: Sequence[LogEntry]) -> int:
        """Append (handle, action, content, time) entries in order inside ``tx``, with one insert per table.

        Returns the first entry's sequence number. The leaves and subtrees are exactly those appending
        the entries one by one would store.
        """

        def build(start: int) -> list[tuple[str, bytes]]:
            return [
                (
                    handle,
                    canonical_json(
                        {
                            "action": action,
                            "handle": handle,
                            "record": content,
                            "seq": seq,
                            "time": iso_timestamp(now),
                        }
                    ),
                )
                for seq, (handle, action, content, now) in enumerate(entries, start)
            ]

        return await self._append(tx, build)

    async def copy(self, tx: Transaction, start: int, entries: Sequence[tuple[str, bytes]]) -> None:
        """Append another log's entries (handle, entry text as bytes) as they are, the first at ``start``:
        a mirror's log is its primary's, leaf for leaf. ConflictingUpdate if this log does not end at
        ``start`` (another process of the mirror appended them first)."""

        def build(first: int) -> list[tuple[str, bytes]]:
            if first != start:
                raise ConflictingUpdate(f"The log ends at {first}, not {start}: appended meanwhile.")
            return list(entries)

        await self._append(tx, build)

    async def _append(self, tx: Transaction, build: Callable[[int], list[tuple[str, bytes]]]) -> int:
        """Append the entries ``build`` makes for a log of the given size; returns that size."""
        for _ in range(MAX_APPEND_ATTEMPTS):
            if self._size is None:
                self._size, self._edge = await tx.log_size(), {}
            start, edge = self._size, dict(self._edge)
            subtree = partial(_known_or_stored, edge, tx)
            leaves: list[tuple[int, str, str, bytes]] = []
            nodes: list[tuple[int, int, bytes]] = []
            for seq, (handle, entry) in enumerate(build(start), start):
                leaf = merkle.leaf_hash(entry)
                completed = await merkle.completed_subtrees(seq, leaf, subtree)
                _advance_edge(edge, seq, leaf, completed)
                leaves.append((seq, handle, entry.decode("utf-8"), leaf))
                nodes.extend(completed)
            try:
                await tx.append_log(leaves, nodes)
            except DuplicateKey:
                self._size = None  # someone else appended: start again from the stored size
                continue
            tx.after_commit.append(partial(self._advance, start, start + len(leaves), edge))
            return start
        raise ConflictingUpdate("The transparency log is busy; retry.")

    def _advance(self, start: int, size: int, edge: Edge) -> None:
        if self._size != start:  # another append in this process got there first: reload next time
            self._size = None
            return
        self._edge, self._size = edge, size


async def _known_or_stored(edge: Edge, tx: Transaction, level: int, index: int) -> bytes:
    known = edge.get((level, index))
    return known if known is not None else await tx.log_subtree(level, index)


def _advance_edge(edge: Edge, seq: int, leaf: bytes, completed: list[tuple[int, int, bytes]]) -> None:
    """Move ``edge`` past leaf ``seq``, which completed the subtrees ``completed``."""
    top_level, top_index, top_hash = completed[-1] if completed else (0, seq, leaf)
    # Subtrees inside the new top one are never needed as siblings again.
    for key in [key for key in edge if key[0] <= top_level]:
        del edge[key]
    edge[(top_level, top_index)] = top_hash


class TransparencyLog:
    """Read side of the log: signed tree heads and proofs.

    A mirror holds its primary's log but not its key: its tree heads are the primary's, the newest one
    the mirror has checked its own copy against (``MIRRORED_HEAD``), and proofs lead to that head.
    """

    def __init__(
        self,
        repository: Repository,
        active_key: Callable[[], Awaitable[ActiveKey]],
        mirrored: bool = False,
    ) -> None:
        self.repository = repository
        self.active_key = active_key
        self.mirrored = mirrored

    async def _head(self) -> dict[str, Any]:
        """The signed head proofs lead to: one over the whole tree, signed now; on a mirror, the
        primary's newest head it has checked."""
        if self.mirrored:
            stored = await self.repository.get_meta(MIRRORED_HEAD)
            if stored is None:
                raise HandleNotFound("This mirror has not checked a tree head of its primary yet; retry.")
            return orjson.loads(stored)
        async with self.repository.log_reader() as (size, subtree):
            root = await merkle.range_hash(subtree, 0, size)
        key = await self.active_key()
        head = {"tree_size": size, "timestamp": int(time.time() * 1000), "sha256_root_hash": b64(root)}
        return {**head, "tree_head_signature": jws_sign(key.key.key, {**head, "iss": key.ref}, key.ref)}

    async def signed_tree_head(self) -> dict[str, Any]:
        return await self._head()

    async def inclusion(self, handle: str) -> dict[str, Any]:
        """The newest entry about ``handle``, its audit path, and the signed head it leads to."""
        latest = await self.repository.latest_log_entry(handle)
        if latest is None:
            raise HandleNotFound(f"The log has no entry for {handle}.")
        seq, entry, leaf = latest
        head = await self._head()  # the tree only grows: its subtrees below the head's size stay put
        if seq >= head["tree_size"]:
            raise HandleNotFound(f"The newest entry for {handle} is not under a signed tree head yet; retry.")
        async with self.repository.log_reader() as (_, subtree):
            path = await merkle.inclusion_proof(subtree, seq, head["tree_size"])
        return {
            "leaf_index": seq,
            "entry": entry,
            "leaf_hash": b64(leaf),
            "audit_path": [b64(p) for p in path],
            "sth": head,
        }

    async def entries(self, start: int, limit: int) -> dict[str, Any]:
        """Up to ``limit`` entries from sequence number ``start`` on, for mirrors and auditors: each
        with its ``seq``, ``handle``, ``entry`` (the exact text hashed) and ``leaf_hash``."""
        if not 0 <= start <= MAX_SEQUENCE or limit < 1:
            raise ProtocolError(f"Give 0 <= start <= {MAX_SEQUENCE} and limit >= 1.")
        size = await self.repository.log_size()
        rows = await self.repository.log_entries(start, limit) if start < size else []
        return {
            "tree_size": size,
            "start": start,
            "entries": [
                {"seq": seq, "handle": handle, "entry": entry, "leaf_hash": b64(leaf)}
                for seq, handle, entry, leaf in rows
            ],
        }

    async def consistency(self, first: int, second: int) -> dict[str, Any]:
        async with self.repository.log_reader() as (size, subtree):
            if not 0 < first <= second <= size:
                raise ProtocolError(f"Need 0 < first <= second <= tree size ({size}).")
            proof = await merkle.consistency_proof(subtree, first, second)
            first_root = await merkle.range_hash(subtree, 0, first)
            second_root = await merkle.range_hash(subtree, 0, second)
        return {
            "first": first,
            "second": second,
            "consistency": [b64(p) for p in proof],
            "first_root_hash": b64(first_root),
            "second_root_hash": b64(second_root),
        }
