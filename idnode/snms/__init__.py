"""The IDIS secondary-node business API ("SNMS", documented in teleinfo-dev/id-guide under
docs/idhub/snms/ and docs/dev-tools/snms/) on the node's one core: bearer-token login over the same
credentials as Handle Basic authentication, and identifier operations written through the registry
and the bulk registrar like every other write."""

from __future__ import annotations

from dataclasses import dataclass

from idnode.bulk import BulkRegistrar
from idnode.data_templates import DataTemplates
from idnode.resolver import Resolver
from idnode.snms.identifiers import SnmsIdentifiers
from idnode.snms.login import Login
from idnode.snms.tokens import TokenService


@dataclass(frozen=True, slots=True)
class Snms:
    """The SNMS API's services, built on the node's core."""

    tokens: TokenService
    login: Login
    identifiers: SnmsIdentifiers

    @classmethod
    def build(cls, bulk: BulkRegistrar, resolver: Resolver, data_templates: DataTemplates) -> Snms:
        registry = bulk.registry
        settings = registry.settings
        tokens = TokenService(
            registry.repository,
            registry.operator_handle,
            settings.snms_token_seconds,
            settings.require_tls_for_credentials,
        )
        identifiers = SnmsIdentifiers(registry, bulk, resolver, data_templates)
        return cls(tokens, Login(registry, tokens), identifiers)
