"""The resolution cache: pre-serialised response bodies, bounded by memory, with per-entry expiry.

Entries are keyed by variant: the handle as the client spelled it plus the query string (one spelling
names one handle, so a hit needs no parsing); every variant of a handle is dropped together when the
handle changes. Entries
expire after the record's smallest TTL (TTL 0: never cached); absent handles are cached negatively
for a short, configurable time. Size is the bytes of the cached bodies plus a fixed per-entry
overhead, and the least recently used entries go first.

Writes in this process invalidate at once. Writes elsewhere (other workers, other nodes on the same
database, the command line) are learnt from the transparency log (see ``invalidation``), which
vouches for the cache only up to ``trusted_until``: past it, ``get`` answers None and the caller
reads the store, so no entry is served staler than the configured bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

ENTRY_OVERHEAD = 400  # bytes: key tuple, dict/OrderedDict slots, the entry object itself


@dataclass(frozen=True, slots=True, weakref_slot=True)
class CachedResponse:
    """A resolve answer ready to send: Handle responseCode, JSON body, ETag, and expiry (weakly
    referable: the DNS front end remembers which answer each of its renderings was made from)."""

    response_code: int
    body: bytes
    etag: str
    expires: float  # time.monotonic() deadline; <= now means not cacheable
    prefix: str | None = None  # the enterprise prefix of a found handle (for counting resolutions)
    location: str | None = None  # a referral: the URL to resolve at instead (see idnode.referral)
    origin: str | None = None  # resolved recursively: the node the record came from

    @property
    def size(self) -> int:
        return len(self.body) + ENTRY_OVERHEAD

    def max_age(self, now: float) -> int:
        """Seconds a client may keep this answer (what is left of its TTL)."""
        return max(0, int(self.expires - now))


class ResolutionCache:
    """An LRU of response bodies with expiry; not thread-safe (one event loop owns it)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.trusted_until = float("inf")  # lowered by the invalidation feed while it runs
        self.generation = 0  # bumped by every invalidation; see put()
        self._entries: OrderedDict[str, tuple[str, CachedResponse]] = OrderedDict()  # variant → (handle, …)
        self._variants: dict[str, set[str]] = {}  # canonical handle → its cached variants
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, variant: str) -> CachedResponse | None:
        """The live entry for ``variant``, or None (expired entries are dropped)."""
        now = time.monotonic()
        found = self._entries.get(variant)
        if found is None or now > self.trusted_until:
            self.misses += 1
            return None
        entry = found[1]
        if entry.expires <= now:
            self._remove(variant)
            self.misses += 1
            return None
        self._entries.move_to_end(variant)
        self.hits += 1
        return entry

    def put(self, handle: str, variant: str, entry: CachedResponse, generation: int) -> None:
        """Cache ``entry``, read from the store when the cache was at ``generation``; skipped if an
        invalidation came since (the entry may predate that write), if it is already expired, or if
        it is larger than the whole cache."""
        if generation != self.generation or entry.expires <= time.monotonic() or entry.size > self.max_bytes:
            return
        if variant in self._entries:
            self._remove(variant)
        self._entries[variant] = (handle, entry)
        self._variants.setdefault(handle, set()).add(variant)
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))

    def invalidate(self, handles: Iterable[str]) -> None:
        """Drop every cached variant of each (canonical) handle."""
        self.generation += 1
        for handle in handles:
            for variant in self._variants.pop(handle, ()):
                found = self._entries.pop(variant, None)
                if found is not None:
                    self.bytes -= found[1].size

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._variants.clear()
        self.bytes = 0

    def _remove(self, variant: str) -> None:
        handle, entry = self._entries.pop(variant)
        self.bytes -= entry.size
        variants = self._variants.get(handle)
        if variants is not None:
            variants.discard(variant)
            if not variants:
                del self._variants[handle]
