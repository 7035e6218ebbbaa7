"""Assemble the core (store, registry, resolver, stats) from settings; shared by every front end."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from idnode.applications import Applications
from idnode.bulk import BulkRegistrar
from idnode.cache import ResolutionCache
from idnode.commit import Committer
from idnode.config import Settings
from idnode.counting import ResolutionCounter
from idnode.data_templates import DataTemplates
from idnode.gs1_resolver import Gs1Resolver
from idnode.importing import Importer
from idnode.keyring import KeyRing
from idnode.keys import KeyStore, NodeKeys
from idnode.licences import LicenceStore
from idnode.metadata import MetadataRules
from idnode.model.identifier import prefix_handle
from idnode.model.permissions import Principal
from idnode.referral import referrer_for
from idnode.registry import SECKEY_INDEX, Registry
from idnode.resolver import Resolver
from idnode.search import Searcher
from idnode.sessions import Sessions
from idnode.snms import Snms
from idnode.stats import Stats
from idnode.storage.engine import create_engines, migrate
from idnode.storage.repository import Repository
from idnode.templates import TemplateCatalog
from idnode.translog import TransparencyLog

log = logging.getLogger(__name__)


@dataclass
class Core:
    settings: Settings
    repository: Repository
    registry: Registry
    bulk: BulkRegistrar
    importer: Importer
    data_templates: DataTemplates
    resolver: Resolver
    gs1: Gs1Resolver
    stats: Stats
    searcher: Searcher
    keyring: KeyRing
    log: TransparencyLog
    templates: TemplateCatalog
    snms: Snms
    sessions: Sessions
    applications: Applications
    operator_secret: str | None  # set only when this start created the operator credential
    session: aiohttp.ClientSession | None  # for requests to other nodes, when there are any to make

    @property
    def local_operator(self) -> Principal:
        """The operator, as the command line on the node's own machine acts."""
        return Principal(str(self.registry.operator_handle), SECKEY_INDEX, is_operator=True)


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    """Open the database (creating the data directory, migrating, initialising the node as needed).

    A mirror (``mirror_of``) is not initialised: it has no credential and no key of its own, and
    its records, templates and log all come from its primary (see ``idnode.mirror``).
    """
    if not settings.db:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engines = create_engines(settings.db_url)
    session = None
    if settings.federated or settings.mirror_of:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.peer_timeout_seconds),
            headers={"User-Agent": f"idnode {settings.node_prefix_canonical}"},
        )
    try:
        await migrate(engines)
        repository = Repository(engines, settings.mirror_of)
        keys = NodeKeys(KeyStore(settings.keys_path), prefix_handle(settings.node_prefix_canonical))
        committer = Committer(keys, settings.signature_lifetime_days * 86400, settings.sign_records)
        cache = ResolutionCache(settings.cache_bytes)
        committer.listeners.append(lambda handle: cache.invalidate((handle,)))
        templates = TemplateCatalog(repository)
        metadata = MetadataRules(templates)
        committer.derivations.append(metadata.derive)
        registry = Registry(repository, settings, committer, metadata)
        secret = None
        if not settings.mirror_of:
            secret = await registry.initialise()
            await templates.seed()
        keyring = KeyRing(repository, committer, settings)
        counter = ResolutionCounter() if settings.count_resolutions else None
        bulk = BulkRegistrar(registry)
        data_templates = DataTemplates(templates, repository)
        resolver = Resolver(
            repository, cache, settings.negative_cache_seconds, counter, referrer_for(settings, session)
        )
        yield Core(
            settings=settings,
            repository=repository,
            registry=registry,
            bulk=bulk,
            importer=Importer(bulk, templates.get),
            resolver=resolver,
            gs1=Gs1Resolver(repository, f"idnode {settings.node_prefix_canonical} GS1 resolver", counter),
            stats=Stats(repository, settings),
            searcher=Searcher(repository),
            data_templates=data_templates,
            keyring=keyring,
            log=TransparencyLog(repository, keyring.active_key, mirrored=bool(settings.mirror_of)),
            templates=templates,
            snms=Snms.build(bulk, resolver, data_templates),
            sessions=Sessions(repository, registry, timedelta(minutes=settings.session_minutes)),
            applications=Applications(
                registry, LicenceStore(settings.licences_path, settings.licence_max_bytes)
            ),
            operator_secret=secret,
            session=session,
        )
    finally:
        if session is not None:
            await session.close()
        await engines.dispose()


OPERATOR_CREDENTIAL_FILE = "operator-credential"


def keep_new_operator(core: Core) -> None:
    """When this start created the operator credential, put it in ``<data_dir>/operator-credential``
    (readable by this user only) and log where it is; the secret itself is never logged."""
    if core.operator_secret is None:
        return
    path = core.settings.data_dir / OPERATOR_CREDENTIAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(f"username: {core.registry.operator_username}\nsecret: {core.operator_secret}\n")
    log.warning(
        "node initialised; operator credential %s: its secret is in %s (readable by this user only), "
        "store it elsewhere and delete the file",
        core.registry.operator_username,
        path,
    )
