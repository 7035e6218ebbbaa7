"""Assemble the core (store, registry, resolver, stats) from settings; shared by every front end."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from idnode.bulk import BulkRegistrar
from idnode.cache import ResolutionCache
from idnode.commit import Committer
from idnode.config import Settings
from idnode.counting import ResolutionCounter, flushing
from idnode.gs1_resolver import Gs1Resolver
from idnode.importing import Importer
from idnode.invalidation import following_log, redis_bus
from idnode.keyring import KeyRing
from idnode.keys import KeyStore, NodeKeys
from idnode.metadata import MetadataRules
from idnode.model.identifier import prefix_handle
from idnode.model.permissions import Principal
from idnode.registry import SECKEY_INDEX, Registry
from idnode.resolver import Resolver
from idnode.search import Searcher
from idnode.stats import Stats
from idnode.storage.engine import create_engines, migrate
from idnode.storage.repository import Repository
from idnode.templates import TemplateCatalog
from idnode.translog import TransparencyLog
from idnode.upstream import sending_upstream

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    repository: Repository
    registry: Registry
    bulk: BulkRegistrar
    importer: Importer
    resolver: Resolver
    gs1: Gs1Resolver
    stats: Stats
    searcher: Searcher
    keyring: KeyRing
    log: TransparencyLog
    templates: TemplateCatalog
    operator_secret: str | None  # set only when this start created the operator credential

    @property
    def local_operator(self) -> Principal:
        """The operator, as the command line on the node's own machine acts."""
        return Principal(str(self.registry.operator_handle), SECKEY_INDEX, is_operator=True)


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Open the database (creating the data directory, migrating, initialising the node as needed)."""
    if not settings.db:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engines = create_engines(settings.db_url)
    try:
        await migrate(engines)
        repository = Repository(engines)
        keys = NodeKeys(KeyStore(settings.keys_path), prefix_handle(settings.node_prefix_canonical))
        committer = Committer(keys, settings.signature_lifetime_days * 86400, settings.sign_records)
        cache = ResolutionCache(settings.cache_bytes)
        committer.listeners.append(lambda handle: cache.invalidate((handle,)))
        templates = TemplateCatalog(repository)
        metadata = MetadataRules(templates)
        committer.derivations.append(metadata.derive)
        registry = Registry(repository, settings, committer, metadata)
        secret = await registry.initialise()
        await templates.seed()
        keyring = KeyRing(repository, committer, settings)
        counter = ResolutionCounter() if settings.count_resolutions else None
        bulk = BulkRegistrar(registry)
        yield Core(
            settings=settings,
            repository=repository,
            registry=registry,
            bulk=bulk,
            importer=Importer(bulk, templates.get),
            resolver=Resolver(repository, cache, settings.negative_cache_seconds, counter),
            gs1=Gs1Resolver(repository, f"idnode {settings.node_prefix_canonical} GS1 resolver", counter),
            stats=Stats(repository, settings),
            searcher=Searcher(repository),
            keyring=keyring,
            log=TransparencyLog(repository, keyring.active_key),
            templates=templates,
            operator_secret=secret,
        )
    finally:
        await engines.dispose()


def log_new_operator(core: Core) -> None:
    """Show the operator credential once, when this start created it."""
    if core.operator_secret is not None:
        log.warning(
            "node initialised; operator credential %s, secret (shown once): %s",
            core.registry.operator_username,
            core.operator_secret,
        )


@asynccontextmanager
async def serving_core(settings: Settings) -> AsyncIterator[Core]:
    """The core of a serving process (HTTP, DNS or both): ``open_core`` with the duties that keep it
    honest while it serves: the transparency-log feed (and the Redis bus, if configured) that keeps
    the resolution cache fresh, the flushing of resolution counts, and the sending of reports to the
    upstream node (if configured). Logs a new operator credential."""
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
        if settings.upstream_url:
            await stack.enter_async_context(
                sending_upstream(core.repository, settings, core.keyring.active_key)
            )
        log_new_operator(core)
        yield core
