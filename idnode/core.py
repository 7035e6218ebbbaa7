"""Assemble the core (store, registry, resolver, stats) from settings; shared by every front end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from idnode.config import Settings
from idnode.model.permissions import Principal
from idnode.registry import SECKEY_INDEX, Registry
from idnode.resolver import Resolver
from idnode.stats import Stats
from idnode.storage.engine import create_engines, migrate
from idnode.storage.repository import Repository


@dataclass
class Core:
    settings: Settings
    repository: Repository
    registry: Registry
    resolver: Resolver
    stats: Stats
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
        registry = Registry(repository, settings)
        secret = await registry.initialise()
        yield Core(
            settings,
            repository,
            registry,
            Resolver(repository),
            Stats(repository, settings.target_enterprises),
            secret,
        )
    finally:
        await engines.dispose()
