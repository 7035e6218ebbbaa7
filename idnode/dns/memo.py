"""Rendered DNS answers per question, so a repeated question costs a dictionary lookup.

Each answer is kept with the handle it is about and a weak reference to the resolver's answer it was
made from; the zone uses it only while the resolver's cache still holds that very answer, so the
cache's expiry, invalidation and staleness bound apply to DNS unchanged, and the memo never keeps an
answer alive that the cache let go. Answers about no handle (the apex, refusals, names that are no
identifier) depend on configuration only. Memory is bounded; the least recently used go first.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

from idnode.cache import ENTRY_OVERHEAD, CachedResponse
from idnode.dns.answers import Answer

Key = tuple[bytes, int, int]  # lower-case QNAME in wire format, QTYPE, QCLASS


class AnswerMemo:
    """An LRU of rendered answers up to ``max_bytes`` (see the module docstring)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, tuple[Answer, str | None, weakref.ref[CachedResponse] | None]] = (
            OrderedDict()
        )

    def get(self, key: Key) -> tuple[Answer, str | None, CachedResponse | None] | None:
        """(answer, its handle or None, the resolver's answer it was made from if still alive)."""
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        answer, handle, source = found
        return answer, handle, source() if source is not None else None

    def put(self, key: Key, answer: Answer, handle: str | None, source: CachedResponse | None) -> None:
        """Remember ``answer`` for ``key``, made from ``source`` (the resolver's answer for ``handle``)."""
        self._drop(key)
        self._entries[key] = (answer, handle, weakref.ref(source) if source is not None else None)
        self.bytes += _size(key, answer)
        while self.bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.bytes -= _size(key, found[0])


def _size(key: Key, answer: Answer) -> int:
    return len(key[0]) + len(answer.sections) + ENTRY_OVERHEAD
