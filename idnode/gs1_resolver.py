"""The GS1 Digital Link read path: from a request URI to the links of the identifiers it maps to.

A request names a GS1 key (``/01/<gtin>[/22/…][/10/…][/21/…]``); every level of it that is mapped
to an identifier contributes that record's public links (see ``gs1_links``), most specific level
first, as the GS1-Conformant Resolver standard walks up the tree: serial, then lot, then variant,
then the GTIN alone. The default link is the most specific level's; a requested link type is looked
for from the most specific level up, and found at none it is a 404, as the standard asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idnode import gs1
from idnode.counting import ResolutionCounter
from idnode.gs1_links import DEFAULT_LINK, GS1_VOC, Gs1Link, link_type_iri, linkset, record_links
from idnode.model.errors import Gs1KeyNotFound, InvalidValue, LinkTypeNotFound, ProtocolError
from idnode.model.identifier import Identifier
from idnode.storage.repository import Repository

LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
LINKSET_TYPES = ("all", "linkset")  # ?linkType= values asking for the linkset (1.1 and 1.2 spellings)


@dataclass(frozen=True, slots=True)
class Level:
    """One mapped level of a request's GS1 key: its canonical path, identifier and public links."""

    path: str
    handle: str
    links: tuple[Gs1Link, ...]


@dataclass(frozen=True, slots=True)
class Gs1Resolution:
    """What a GS1 key resolves to: its mapped levels that have links, most specific first."""

    key: gs1.Gs1Key
    levels: tuple[Level, ...]

    def target(self, link_type: str | None = None) -> Gs1Link:
        """The link to redirect to: the default link, or the most specific one of ``link_type`` (a
        CURIE or IRI); raise LinkTypeNotFound (404) if there is none, ProtocolError if it is malformed."""
        wanted = DEFAULT_LINK if not link_type else _link_type(link_type)
        for level in self.levels:
            for link in level.links:
                if link.link_type == wanted:
                    return link
        available = sorted({link.link_type for level in self.levels for link in level.links})
        raise LinkTypeNotFound(
            f"No link of type {wanted} for {self.key.path}; available: {', '.join(available)}."
        )

    def linkset(self, root: str) -> dict[str, Any]:
        """The RFC 9264 linkset: one context object per level, anchored at ``root`` + its path."""
        return linkset((root + level.path, level.links) for level in self.levels)

    def link_header(self, root: str) -> str:
        """A ``Link`` header listing every link once, and the linkset itself."""
        seen = dict.fromkeys(link.header() for level in self.levels for link in level.links)
        linkset_uri = f"{root}{self.key.path}?linkType=linkset"
        return ", ".join(
            [*seen, f'<{linkset_uri}>; rel="linkset"; type="application/linkset+json"; title="Links"']
        )


def _link_type(text: str) -> str:
    try:
        return link_type_iri(text)
    except InvalidValue as exc:
        raise ProtocolError(exc.message) from None


class Gs1Resolver:
    """Resolves GS1 Digital Link request URIs from the store; counts each resolution against the
    enterprise prefix of the most specific identifier (in ``counter``, if any)."""

    def __init__(self, repository: Repository, name: str, counter: ResolutionCounter | None = None) -> None:
        self.repository = repository
        self.name = name
        self.counter = counter

    async def resolve(self, raw_path: str, query: str) -> Gs1Resolution:
        """Resolve a request path (percent-encoded, as received) and query string. Raises ProtocolError
        (400) for a URI that is not a valid GS1 Digital Link, Gs1KeyNotFound (404) when no level of its
        key is mapped to an identifier with public links."""
        try:
            key = gs1.from_path(raw_path, query)
        except InvalidValue as exc:
            raise ProtocolError(exc.message) from None
        paths = key.lookup_paths()
        owners = await self.repository.gs1_handles(paths)
        levels = []
        for path in (p for p in paths if p in owners):
            record = await self.repository.get_record(Identifier.stored(owners[path]))
            links = tuple(record_links(record)) if record else ()
            if links:
                levels.append(Level(path, owners[path], links))
        if not levels:
            raise Gs1KeyNotFound(f"Nothing is registered for GS1 key {key.path} on this node.")
        if self.counter is not None:
            self.counter.count(Identifier.stored(levels[0].handle).owning_prefix)
        return Gs1Resolution(key, tuple(levels))

    def description(self, root: str) -> dict[str, Any]:
        """The resolver description file served at ``/.well-known/gs1resolver``."""
        return {
            "name": self.name,
            "resolverRoot": root,
            "supportedPrimaryKeys": [gs1.GTIN],
            "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
            "linkTypeDefaultCanBeLinkset": False,
            "jsonLdContextLocation": LINKSET_CONTEXT,
        }
