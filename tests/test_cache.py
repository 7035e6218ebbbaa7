"""The resolution cache on its own, and through the core's resolver (no server)."""

from __future__ import annotations

import time
from pathlib import Path

from idnode.cache import CachedResponse, ResolutionCache
from idnode.config import load_settings
from idnode.core import open_core
from idnode.resolver import cached_response
from tests.test_verify import VALUES, onboard, put


def entry(body: bytes, ttl: float = 60) -> CachedResponse:
    return cached_response(1, body, ttl)


def test_lru_evicts_within_the_byte_cap() -> None:
    cache = ResolutionCache(max_bytes=5_000)
    for n in range(100):
        cache.put(f"h/{n}", f"h/{n}?", entry(b"x" * 600), cache.generation)
        assert cache.bytes <= cache.max_bytes
    assert 0 < len(cache) < 100
    assert cache.get("h/99?") is not None  # the newest stay
    assert cache.get("h/0?") is None  # the oldest went first


def test_expiry_ttl_zero_and_oversized_entries_are_not_served() -> None:
    cache = ResolutionCache(max_bytes=10_000)
    cache.put("a/1", "a/1?", entry(b"{}", ttl=0), cache.generation)
    cache.put("a/2", "a/2?", entry(b"x" * 20_000), cache.generation)
    cache.put("a/3", "a/3?", entry(b"{}", ttl=0.05), cache.generation)
    assert cache.get("a/1?") is None and cache.get("a/2?") is None
    assert cache.get("a/3?") is not None
    time.sleep(0.06)
    assert cache.get("a/3?") is None and cache.bytes == 0


def test_invalidation_drops_every_variant_and_stale_puts() -> None:
    cache = ResolutionCache(max_bytes=100_000)
    for variant in ("88.999.1001/p?", "88.999.1001/p?index=1", "88.999.1001/P-other?"):
        cache.put("88.999.1001/p", variant, entry(b"{}"), cache.generation)
    cache.put("88.999.1001/q", "88.999.1001/q?", entry(b"{}"), cache.generation)
    cache.invalidate(["88.999.1001/p"])
    assert cache.get("88.999.1001/p?") is None and cache.get("88.999.1001/p?index=1") is None
    assert cache.get("88.999.1001/q?") is not None
    # an answer read from the store before an invalidation must not be cached after it
    before = cache.generation
    cache.invalidate(["88.999.1001/z"])
    cache.put("88.999.1001/p", "88.999.1001/p?", entry(b"old"), before)
    assert cache.get("88.999.1001/p?") is None


def test_untrusted_cache_answers_nothing() -> None:
    cache = ResolutionCache(max_bytes=10_000)
    cache.put("a/1", "a/1?", entry(b"{}"), cache.generation)
    cache.trusted_until = time.monotonic() - 0.001  # the invalidation feed fell behind
    assert cache.get("a/1?") is None


async def test_resolver_cache_stays_within_its_cap_and_sees_writes(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": tmp_path, "cache_bytes": 20_000}, environ={})
    async with open_core(settings) as core:
        prefix, admin = await onboard(core, 1)
        handles = [f"{prefix}/P-{n}" for n in range(60)]
        for handle in handles:
            await put(core, admin, handle, VALUES)
        resolver = core.resolver
        for handle in handles:
            answer = await resolver.respond(handle, [], "")
            assert answer.response_code == 1
            assert resolver.cache.bytes <= 20_000
        assert len(resolver.cache) < len(handles)  # more distinct handles than fit

        first = await resolver.respond(handles[-1], [], "")
        assert resolver.cached(handles[-1], "") is first
        await put(core, admin, handles[-1], [{"index": 1, "type": "URL", "data": "https://new.example/"}])
        assert resolver.cached(handles[-1], "") is None  # invalidated by the write, at once
        assert b"https://new.example/" in (await resolver.respond(handles[-1], [], "")).body

        absent = f"{prefix}/LATER"
        assert (await resolver.respond(absent, [], "")).response_code == 100
        assert resolver.cached(absent, "") is not None  # negatively cached
        await put(core, admin, absent, VALUES)
        assert (await resolver.respond(absent, [], "")).response_code == 1
