"""The zone: answers to questions about the names under ``dns_zone``, from the shared resolver.

A name under the zone that ``names.decode`` maps to an identifier is answered from the resolver's
anonymous answer for that handle, the very entry HTTP resolution caches (public values only, counted
as a resolution of the enterprise when the handle exists): TXT and URI records (``records``), ANY
both, other types no data. An absent handle is NXDOMAIN, unless the name is an empty non-terminal
(an ancestor of existing names: ``88``, ``999.88``, an enterprise's ``1001.999.88``, ``na.0``), which
has no data instead (RFC 8020: NXDOMAIN would deny every name below it). Negative answers carry the
SOA, whose minimum is ``negative_cache_seconds``. The apex has SOA and NS; names outside the zone
and classes other than IN are REFUSED (no recursion: not an open resolver), as are zone transfers.

Rendered answers are remembered per question (``memo``, in up to a quarter of ``cache_bytes``) with
the resolver's answer they were made from, and used while the resolver's cache still holds that same
answer: a write (here or in another process) that drops the handle from the cache drops it from DNS
too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import orjson
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA

from idnode.cache import CachedResponse
from idnode.config import Settings
from idnode.dns import names
from idnode.dns.answers import Answer, render
from idnode.dns.memo import AnswerMemo, Key
from idnode.dns.records import txt_rrset, uri_rrset
from idnode.model.errors import HandleNotFound, IdnodeError, ValuesNotFound
from idnode.model.identifier import PREFIX_NAMESPACE, prefix_handle
from idnode.resolver import Resolver

IN = dns.rdataclass.IN
ZONE_TTL = 3600  # NS records of the apex
SOA_TIMERS = (3600, 600, 604800)  # refresh, retry, expire: no secondaries transfer this zone
_SEGMENT = re.compile(r"[0-9a-z_-]+")
_TRANSFERS = frozenset({dns.rdatatype.AXFR, dns.rdatatype.IXFR})


class Zone:
    """Answers DNS questions about ``settings.dns_zone`` through ``resolver`` (see the module)."""

    def __init__(self, settings: Settings, resolver: Resolver) -> None:
        self.origin = dns.name.from_text(settings.dns_zone).canonicalize()
        self.resolver = resolver
        self.node_prefix = settings.node_prefix_canonical.lower()
        negative = int(settings.negative_cache_seconds)
        nameserver = dns.name.from_text(settings.dns_nameserver)
        hostmaster = dns.name.Name((b"hostmaster", *self.origin.labels))
        soa = SOA(IN, dns.rdatatype.SOA, nameserver, hostmaster, 1, *SOA_TIMERS, negative)
        self.soa = dns.rrset.from_rdata(self.origin, negative, soa)
        self.ns = dns.rrset.from_rdata(self.origin, ZONE_TTL, NS(IN, dns.rdatatype.NS, nameserver))
        self.memo = AnswerMemo(settings.cache_bytes // 4)

    def remembered(self, key: Key) -> Answer | None:
        """The answer to ``key`` without I/O, if one is remembered and the resolver's cache still
        holds what it was made from (or a newer answer about an existing handle, rendered now)."""
        found = self.memo.get(key)
        if found is None:
            return None
        answer, handle, source = found
        if handle is None:
            return answer
        current = self.resolver.cached(handle, "")
        if current is None:
            return None
        if current is source:
            return answer
        if current.response_code == HandleNotFound.response_code:
            return None  # newly absent: whether names lie below may need the store (see answer)
        return self._resolved(key, dns.name.from_wire(key[0], 0)[0], handle, current)

    async def answer(self, key: Key) -> Answer:
        """The answer to ``key``, resolving through the resolver (and remembering it)."""
        qname_wire, qtype, qclass = key
        qname = dns.name.from_wire(qname_wire, 0)[0]
        if qclass != IN or qtype in _TRANSFERS or not qname.is_subdomain(self.origin):
            refused = render(qname, qtype, dns.rcode.REFUSED, authoritative=False)
            return self._remember(key, None, None, refused)
        labels = [label.decode("latin-1") for label in qname.relativize(self.origin).labels]
        if not labels:
            return self._remember(key, None, None, self._apex(qname, qtype))
        identifier = names.decode(labels)
        if identifier is None:
            answer = self._empty(qname, qtype, exists=await self._has_names_below(labels))
            static = self._enterprise_prefix(labels) is None  # no stored enterprise decided it
            return self._remember(key, None, None, answer) if static else answer
        handle = str(identifier)
        source = self.resolver.cached(handle, "") or await self.resolver.respond(handle, (), "")
        if source.response_code != HandleNotFound.response_code:
            return self._resolved(key, qname, handle, source)
        answer = self._empty(qname, qtype, exists=await self._has_names_below(labels))
        return self._remember(key, handle, source, answer)

    def _resolved(self, key: Key, qname: dns.name.Name, handle: str, source: CachedResponse) -> Answer:
        """The answer made from the resolver's answer for an existing ``handle``."""
        qtype = key[1]
        if source.response_code == ValuesNotFound.response_code:  # no public values
            answer = self._empty(qname, qtype, exists=True)
        elif source.response_code == 1:
            answer = self._records(qname, qtype, handle, orjson.loads(source.body)["values"])
        elif source.location is not None:  # held by another node (a referral): not ours to answer
            answer = render(qname, qtype, dns.rcode.REFUSED)
        else:
            answer = render(qname, qtype, dns.rcode.SERVFAIL)
        return self._remember(key, handle, source, answer)

    def _apex(self, qname: dns.name.Name, qtype: int) -> Answer:
        found = {
            dns.rdatatype.SOA: [self.soa],
            dns.rdatatype.NS: [self.ns],
            dns.rdatatype.ANY: [self.soa, self.ns],
        }
        if qtype in found:
            return render(qname, qtype, answer=found[qtype])
        return self._empty(qname, qtype, exists=True)

    def _records(self, qname: dns.name.Name, qtype: int, handle: str, values: list[dict[str, Any]]) -> Answer:
        txt, uri = txt_rrset(qname, handle, values), uri_rrset(qname, values)
        wanted = {
            dns.rdatatype.TXT: [txt],
            dns.rdatatype.URI: [uri] if uri else [],
            dns.rdatatype.ANY: [txt, uri] if uri else [txt],
        }.get(qtype)
        return render(qname, qtype, answer=wanted) if wanted else self._empty(qname, qtype, exists=True)

    def _empty(self, qname: dns.name.Name, qtype: int, exists: bool) -> Answer:
        """No data (the name exists) or NXDOMAIN, with the SOA for negative caching (RFC 2308)."""
        rcode = dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN
        return render(qname, qtype, rcode, authority=[self.soa])

    async def _has_names_below(self, labels: Sequence[str]) -> bool:
        """Whether the name of ``labels`` is an ancestor of names of existing handles: handles live
        under ``0.NA``, the node prefix and its enterprises' prefixes, so its labels must read (right
        to left) as ``0``, ``0.NA``, the node prefix or a part of it, or an enterprise's prefix."""
        if not all(_SEGMENT.fullmatch(label) for label in labels):
            return False
        prefix = ".".join(reversed(labels))
        if prefix in ("0", PREFIX_NAMESPACE.lower()) or f"{self.node_prefix}.".startswith(f"{prefix}."):
            return True
        enterprise = self._enterprise_prefix(labels)
        if enterprise is None:
            return False
        try:
            await self.resolver.record(prefix_handle(enterprise))
        except IdnodeError:
            return False
        return True

    def _enterprise_prefix(self, labels: Sequence[str]) -> str | None:
        """The prefix ``labels`` spell if it is one level below the node prefix (an enterprise's)."""
        prefix = ".".join(reversed(labels))
        parent, _, _ = prefix.rpartition(".")
        return prefix if parent == self.node_prefix else None

    def _remember(
        self, key: Key, handle: str | None, source: CachedResponse | None, answer: Answer
    ) -> Answer:
        """Keep ``answer`` for ``key``: for good if ``handle`` is None, else while the resolver's
        cache holds ``source`` (not at all if ``source`` was never cacheable, e.g. TTL 0)."""
        if source is None or source.expires > time.monotonic():
            self.memo.put(key, answer, handle, source)
        return answer
