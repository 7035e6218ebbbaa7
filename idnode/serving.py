"""The core of a serving process (HTTP, DNS or both), with the background duties that go with serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from idnode.config import Settings
from idnode.core import Core, keep_new_operator, open_core
from idnode.counting import flushing
from idnode.invalidation import following_log, redis_bus
from idnode.mirror import MirrorFollower, following_primary
from idnode.notify import sending_notifications
from idnode.upstream import sending_upstream


@dataclass(frozen=True)
class Serving:
    core: Core
    mirror: MirrorFollower | None  # following the primary, on a mirror


@asynccontextmanager
async def serving_core(settings: Settings) -> AsyncIterator[Serving]:
    """``open_core`` with the duties that keep a serving node honest: the transparency-log feed (and
    the Redis bus, if configured) that keeps the resolution cache fresh, the flushing of resolution
    counts, the sending of reports to the upstream node (if configured; never from a mirror) and of
    application notifications (never from a mirror) and, on a mirror, following the primary. Logs a new
    operator credential."""
    async with AsyncExitStack() as stack:
        core = await stack.enter_async_context(open_core(settings))
        cache = core.resolver.cache
        await stack.enter_async_context(
            following_log(core.repository, cache, settings.cache_staleness_seconds)
        )
        if settings.redis:
            bus = await stack.enter_async_context(
                redis_bus(settings.redis, settings.node_prefix_canonical, cache)
            )
            core.registry.committer.listeners.append(bus.publish_later)
        if core.resolver.counter is not None:
            await stack.enter_async_context(
                flushing(core.repository, core.resolver.counter, settings.resolution_flush_seconds)
            )
        if settings.upstream_url and not settings.mirror_of:
            await stack.enter_async_context(
                sending_upstream(core.repository, settings, core.keyring.active_key)
            )
        if not settings.mirror_of:
            await stack.enter_async_context(sending_notifications(core.repository, settings))
        mirror = None
        if settings.mirror_of:
            mirror = await stack.enter_async_context(following_primary(core))
        keep_new_operator(core)
        yield Serving(core, mirror)
