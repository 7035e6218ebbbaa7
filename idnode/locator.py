"""Where a prefix this node does not hold lives: asked of the upper node or of DNS, answers cached.

**Upper node** (like Handle's global prefix lookup): ``GET <upper_node>/api/prefixes/<prefix>`` answers
``{"prefix": "88.888.1001", "node": {"url": "https://node.example", "prefix": "88.888"}}``, or 404
when it knows no node for the prefix. Every idnode answers that request for its own prefixes, so any
node can stand in as the upper node of others.

**DNS** (zone ``Z``, e.g. ``idis.example``): the records of prefix ``88.888.1001`` live at
``_handle._tcp.1001.888.88.Z`` (the prefix's segments reversed, as in reverse DNS):

- ``TXT "url=https://node.example:8443/base"`` gives the node's base URL (any scheme, port or
  path), with an optional ``"prefix=88.888"`` naming the node's prefix;
- without a TXT ``url``, ``SRV <priority> <weight> <port> <target>`` gives ``https://<target>:<port>``
  (the lowest priority, then the highest weight); a target of ``.`` means "no node".

Each source is asked about the prefix and then each prefix above it (``88.888.1001``, ``88.888``,
``88``) until one names a node, so an upper node may know node prefixes only. With ``discovery =
both`` the upper node is asked first, DNS when it knows nothing or cannot be reached. Answers are
remembered: found ones for ``referral_cache_seconds``, "nowhere" for ``negative_cache_seconds``; a
lookup that failed (no source reachable) is not remembered and raises UpstreamUnavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from idnode.model.errors import HandleNotFound, UpstreamUnavailable
from idnode.model.identifier import canonical_prefix, is_within, parent_prefixes
from idnode.peers import get_json

MAX_REMEMBERED = 10_000
SRV_SCHEME = "https"


@dataclass(frozen=True, slots=True)
class NodeLocation:
    """The node responsible for ``prefix``: its base URL and its own (node) prefix."""

    prefix: str
    url: str
    node_prefix: str
    source: str  # "upper" or "dns" ("here" for this node's own prefixes)

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "node": {"url": self.url, "prefix": self.node_prefix}}


def base_url(url: Any) -> str | None:
    """``url`` without a trailing slash if it is an absolute http(s) URL, else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return url.rstrip("/") if parts.scheme in ("http", "https") and parts.netloc else None


def served_here(prefix: str, node_prefix: str, url: str) -> NodeLocation:
    """This node's own answer to ``/api/prefixes/{prefix}``: itself, for its prefix and every prefix
    below it; InvalidHandle for a malformed prefix, HandleNotFound for any other."""
    prefix = canonical_prefix(prefix)
    if not is_within(prefix, node_prefix):
        raise HandleNotFound(f"Prefix {prefix} is not held by this node ({node_prefix}).")
    return NodeLocation(prefix, url, node_prefix, "here")


class Source(Protocol):
    name: str

    async def ask(self, prefix: str) -> NodeLocation | None:
        """The node holding exactly ``prefix``, None if unknown; UpstreamUnavailable on failure."""
        ...


class UpperNode:
    """Asks the upper node's ``/api/prefixes/{prefix}``."""

    name = "upper"

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session

    async def ask(self, prefix: str) -> NodeLocation | None:
        body = await get_json(self.session, f"{self.url}/api/prefixes/{quote(prefix)}")
        if body is None:
            return None
        node = body.get("node")
        found = base_url(node.get("url")) if isinstance(node, dict) else None
        if found is None:
            raise UpstreamUnavailable(f"The upper node {self.url} gave no usable answer about {prefix}.")
        return NodeLocation(prefix, found, str(node.get("prefix") or prefix), self.name)


def dns_name(prefix: str, zone: str) -> str:
    """The owner name of a prefix's SRV and TXT records (see the module docstring)."""
    return ".".join(["_handle", "_tcp", *reversed(prefix.split(".")), zone.strip(".")]) + "."


def _nameserver(text: str) -> tuple[str, int]:
    """(address, port) from ``host``, ``host:port`` or ``[v6]:port``."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host.rstrip("]"), int(port or 53)
    host, colon, port = text.partition(":")
    return (host, int(port)) if colon and ":" not in port else (text, 53)


class DnsDiscovery:
    """Looks a prefix up in DNS (dnspython's asynchronous resolver)."""

    name = "dns"

    def __init__(self, zone: str, nameserver: str, timeout: float) -> None:
        self.zone = zone
        self.resolver = dns.asyncresolver.Resolver(configure=not nameserver)
        if nameserver:
            address, port = _nameserver(nameserver)
            self.resolver.nameservers = [address]
            self.resolver.port = port
        self.resolver.lifetime = timeout

    async def _records(self, name: str, rdtype: dns.rdatatype.RdataType) -> list[Any]:
        try:
            answer = await self.resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException as exc:
            raise UpstreamUnavailable(f"DNS lookup of {name} failed: {exc}.") from None
        return list(answer.rrset or [])

    async def ask(self, prefix: str) -> NodeLocation | None:
        name = dns_name(prefix, self.zone)
        fields: dict[str, str] = {}
        for record in await self._records(name, dns.rdatatype.TXT):
            for text in record.strings:
                key, equals, value = text.decode("utf-8", "replace").partition("=")
                if equals:
                    fields.setdefault(key.strip().lower(), value.strip())
        url = base_url(fields.get("url"))
        if url is None:
            services = sorted(
                await self._records(name, dns.rdatatype.SRV), key=lambda r: (r.priority, -r.weight)
            )
            target = services[0].target.to_text(omit_final_dot=True) if services else ""
            if not target or target == ".":
                return None
            url = f"{SRV_SCHEME}://{target}:{services[0].port}"
        return NodeLocation(prefix, url, fields.get("prefix") or prefix, self.name)


class PrefixLocator:
    """Finds the node holding a prefix through ``sources`` in order; see the module docstring."""

    def __init__(self, sources: Sequence[Source], ttl: float, negative_ttl: float) -> None:
        self.sources = sources
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._remembered: dict[str, tuple[float, NodeLocation | None]] = {}
        self._pending: dict[str, asyncio.Future[NodeLocation | None]] = {}

    async def locate(self, prefix: str) -> NodeLocation | None:
        """The node holding canonical ``prefix`` (or a prefix above it), None if no source knows one;
        UpstreamUnavailable if no source could answer. Concurrent lookups of one prefix share one."""
        remembered = self._remembered.get(prefix)
        if remembered is not None and remembered[0] > time.monotonic():
            return remembered[1]
        pending = self._pending.get(prefix)
        if pending is None:
            pending = self._pending[prefix] = asyncio.ensure_future(self._lookup(prefix))
            pending.add_done_callback(lambda _: self._pending.pop(prefix, None))
        return await asyncio.shield(pending)

    async def _lookup(self, prefix: str) -> NodeLocation | None:
        failures = []
        for source in self.sources:
            try:
                for candidate in parent_prefixes(prefix):
                    found = await source.ask(candidate)
                    if found is not None:
                        self._remember(prefix, found, self.ttl)
                        return found
            except UpstreamUnavailable as exc:
                failures.append(exc.message)
        if failures:
            raise UpstreamUnavailable(" ".join(failures))
        self._remember(prefix, None, self.negative_ttl)
        return None

    def _remember(self, prefix: str, found: NodeLocation | None, ttl: float) -> None:
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[prefix] = (time.monotonic() + ttl, found)
