"""Resolving identifiers under prefixes this node does not hold: a referral, or recursive resolution.

A node holds its own prefix and every prefix below it (its enterprises'). For any other prefix it asks
the ``PrefixLocator`` which node holds it, then, by ``resolution_mode``:

- ``referral`` (default): HTTP 302 with ``Location: <node url>/api/handles/<handle>`` (generic HTTP
  clients, browsers and pyhandle follow it) and a body in the Handle style: responseCode 302, Handle's
  RC_SERVICE_REFERRAL, with ``referral: {"prefix", "node": {"url", "prefix"}}`` naming the node in
  this API's terms where Handle's binary protocol would carry HS_SITE values.
- ``recursive``: fetch the record from that node, verify its HS_SIGNATURE offline (``idnode.verify``,
  with ``trust_anchor`` if set: the signing key must then chain to it; without one, the key must be
  published on the prefix handle of the record's prefix or a parent, as that node serves it) and answer
  it as if it were local, with ``Idnode-Origin: <node url>``. A record that fails verification is
  refused (responseCode 2, the failed checks named), never passed on.

A prefix no node is known for answers responseCode 100 (HTTP 404), as an absent handle does: to a
client the identifier does not exist, and 301 (RC_SERVER_NOT_RESP) would map to HTTP 400, blaming the
client. A lookup or fetch that fails answers responseCode 3 (HTTP 503): retry later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from idnode.config import Settings
from idnode.locator import DnsDiscovery, NodeLocation, PrefixLocator, Source, UpperNode
from idnode.model.errors import HandleNotFound
from idnode.model.identifier import Identifier, is_within
from idnode.model.query import ResolveQuery, selects
from idnode.model.values import DEFAULT_TTL
from idnode.peers import get_json
from idnode.signing import PublicKey, load_public_key
from idnode.verify import Fetch, require_verified

SERVICE_REFERRAL = 302  # Handle's RC_SERVICE_REFERRAL


@dataclass(frozen=True, slots=True)
class ForeignAnswer:
    """An answer about a handle held elsewhere: the JSON body, how long it may be kept, and either
    where to resolve instead (a referral) or where the record came from (recursive)."""

    body: dict[str, Any]
    ttl: float
    location: str | None = None
    origin: str | None = None


def referrer_for(settings: Settings, session: aiohttp.ClientSession | None) -> Referrer | None:
    """The referrer ``settings`` ask for (None when no upper node or DNS zone is configured)."""
    if not settings.federated or session is None:
        return None
    sources: list[Source] = []
    for name in settings.discovery_sources:
        if name == "upper" and settings.upper_node:
            sources.append(UpperNode(settings.upper_node, session))
        if name == "dns" and settings.discovery_zone:
            sources.append(
                DnsDiscovery(
                    settings.discovery_zone, settings.discovery_nameserver, settings.peer_timeout_seconds
                )
            )
    return Referrer(
        settings.node_prefix_canonical,
        PrefixLocator(sources, settings.referral_cache_seconds, settings.negative_cache_seconds),
        session,
        recursive=settings.resolution_mode == "recursive",
        referral_ttl=settings.referral_cache_seconds,
        trust_anchor=load_public_key(settings.trust_anchor) if settings.trust_anchor else None,
    )


def handle_url(node_url: str, handle: str) -> str:
    return f"{node_url}/api/handles/{quote(handle, safe='/')}"


class Referrer:
    """Answers for handles under prefixes not held by this node (see the module docstring)."""

    def __init__(
        self,
        node_prefix: str,
        locator: PrefixLocator,
        session: aiohttp.ClientSession,
        *,
        recursive: bool,
        referral_ttl: float,
        trust_anchor: PublicKey | None,
    ) -> None:
        self.node_prefix = node_prefix
        self.locator = locator
        self.session = session
        self.recursive = recursive
        self.referral_ttl = referral_ttl
        self.trust_anchor = trust_anchor
        self._keys: dict[str, tuple[float, dict[str, Any] | None]] = {}  # key records, by URL

    def holds(self, identifier: Identifier) -> bool:
        """Whether this node answers for ``identifier`` itself (its prefix is the node's or below)."""
        return is_within(identifier.owning_prefix, self.node_prefix)

    async def answer(
        self, identifier: Identifier, asked: str, query: ResolveQuery, raw_query: str
    ) -> ForeignAnswer:
        """The answer to an anonymous resolve of ``identifier`` (spelt ``asked``); raises HandleNotFound
        when no node holds its prefix, UpstreamUnavailable or UnverifiedRecord."""
        prefix = identifier.owning_prefix
        location = await self.locator.locate(prefix)
        if location is None:
            raise HandleNotFound(f"Handle {asked} not found: no node is known for prefix {prefix}.")
        if self.recursive:
            return await self._fetched(identifier, asked, query, location)
        target = handle_url(location.url, asked) + (f"?{raw_query}" if raw_query else "")
        body = {
            "responseCode": SERVICE_REFERRAL,
            "handle": asked,
            "message": f"Prefix {prefix} is held by node {location.node_prefix}: resolve at {target}.",
            "referral": location.to_json(),
        }
        return ForeignAnswer(body, self.referral_ttl, location=target)

    async def _fetched(
        self, identifier: Identifier, asked: str, query: ResolveQuery, location: NodeLocation
    ) -> ForeignAnswer:
        url = handle_url(location.url, str(identifier)) + ("?auth=true" if query.authoritative else "")
        record = await get_json(self.session, url)
        if record is None:
            raise HandleNotFound(f"Handle {asked} not found at {location.url}.")
        await require_verified(
            identifier, record, self._fetcher(location.url), location.url, self.trust_anchor
        )
        values = [v for v in record["values"] if selects(query.indexes, query.types, v["index"], v["type"])]
        body = {"responseCode": 1 if values else 200, "handle": asked, "values": values}
        ttl = min((v.get("ttl", DEFAULT_TTL) for v in values), default=0)
        return ForeignAnswer(body, ttl, origin=location.url)

    def _fetcher(self, node_url: str) -> Fetch:
        """Records as ``node_url`` serves them, for verification; kept for ``referral_ttl`` (the signer
        key's record is wanted by every record that node signed)."""

        async def fetch(handle: str) -> dict[str, Any] | None:
            url = handle_url(node_url, handle)
            remembered = self._keys.get(url)
            if remembered is None or remembered[0] <= time.monotonic():
                found = await get_json(self.session, url)
                remembered = self._keys[url] = (time.monotonic() + self.referral_ttl, found)
            return remembered[1]

        return fetch
