"""The read path: resolve a handle to the values a caller may see, in Handle.Net JSON.

Secret keys are never returned. Anonymous callers (and ``publicOnly``) get public values; a caller
holding READ_VALUE on the record also gets the admin-readable ones. Anonymous answers are the same
for everyone, so ``respond`` serves them as pre-serialised bytes from the resolution cache.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from idnode.cache import CachedResponse, ResolutionCache
from idnode.counting import ResolutionCounter
from idnode.model.errors import (
    AuthenticationNeeded,
    HandleNotFound,
    IdnodeError,
    InsufficientPermissions,
    ValuesNotFound,
)
from idnode.model.identifier import Identifier, canonical_prefix, prefix_handle
from idnode.model.permissions import Permission, Principal, granted
from idnode.model.query import ResolveQuery, selects
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.referral import Referrer
from idnode.storage.repository import Repository


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of a resolve: the handle as asked for and the values selected."""

    handle: str
    values: list[HandleValue]

    def to_json(self) -> dict[str, Any]:
        if not self.values:
            return {"responseCode": ValuesNotFound.response_code, "handle": self.handle, "values": []}
        return {"responseCode": 1, "handle": self.handle, "values": [v.to_json() for v in self.values]}


def encode(body: dict[str, Any], pretty: bool = False) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)


def cached_response(
    response_code: int,
    body: bytes,
    ttl: float,
    prefix: str | None = None,
    *,
    location: str | None = None,
    origin: str | None = None,
) -> CachedResponse:
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    return CachedResponse(response_code, body, etag, time.monotonic() + ttl, prefix, location, origin)


class Resolver:
    """Resolves identifiers from the store, through ``cache`` for anonymous answers; anonymous
    resolutions of existing handles are counted per enterprise prefix in ``counter`` (if any). With a
    ``referrer``, handles under prefixes this node does not hold are referred or resolved elsewhere."""

    def __init__(
        self,
        repository: Repository,
        cache: ResolutionCache,
        negative_ttl: float,
        counter: ResolutionCounter | None = None,
        referrer: Referrer | None = None,
    ) -> None:
        self.repository = repository
        self.cache = cache
        self.negative_ttl = negative_ttl
        self.counter = counter
        self.referrer = referrer

    def held_elsewhere(self, asked: str) -> bool:
        """Whether ``asked`` is a handle under a prefix another node holds (always False without a
        referrer); such a resolve gets the anonymous answer whoever asks."""
        if self.referrer is None:
            return False
        try:
            return not self.referrer.holds(Identifier.parse(asked))
        except IdnodeError:
            return False

    def cached(self, asked: str, raw_query: str) -> CachedResponse | None:
        """The cached anonymous answer to ``GET /api/handles/{asked}?{raw_query}``, if there is one
        (never for ``auth=true``, which asks for the store's answer)."""
        if "auth" in raw_query:
            return None
        answer = self.cache.get(f"{asked}?{raw_query}")
        if answer is not None and answer.prefix is not None and self.counter is not None:
            self.counter.count(answer.prefix)
        return answer

    async def respond(self, asked: str, query: Iterable[tuple[str, str]], raw_query: str) -> CachedResponse:
        """The anonymous answer to ``GET /api/handles/{asked}?{raw_query}`` (``query`` its decoded
        pairs), resolved from the store (callers try ``cached`` first) and cached for the smallest
        TTL of the values served (not at all for TTL 0), or ``negative_ttl`` for an absent handle.
        A handle under a prefix held elsewhere gets the referrer's answer (a referral, or the record
        resolved there). Errors are answers too (responseCode and message), never exceptions; those
        of other nodes are not cached."""
        try:
            identifier = Identifier.parse(asked)
            request = ResolveQuery.from_pairs(query)
        except IdnodeError as exc:
            return cached_response(exc.response_code, encode(_error_body(exc, asked)), 0)
        handle, variant = str(identifier), f"{asked}?{raw_query}"
        generation = self.cache.generation
        try:
            if self.referrer is not None and not self.referrer.holds(identifier):
                answer = await self._foreign_answer(self.referrer, identifier, asked, request, raw_query)
            else:
                answer = await self._local_answer(identifier, asked, request)
        except HandleNotFound as exc:
            answer = cached_response(exc.response_code, encode(_error_body(exc, asked)), self.negative_ttl)
        except IdnodeError as exc:  # another node or the lookup failed: not cached
            answer = cached_response(exc.response_code, encode(_error_body(exc, asked)), 0)
        self.cache.put(handle, variant, answer, generation)
        return answer

    async def _local_answer(
        self, identifier: Identifier, asked: str, request: ResolveQuery
    ) -> CachedResponse:
        resolution = await self.resolve(
            identifier, asked_as=asked, indexes=request.indexes, types=request.types, public_only=True
        )
        body = resolution.to_json()
        ttl = min((v.ttl for v in resolution.values), default=self.negative_ttl)
        prefix = identifier.owning_prefix
        if self.counter is not None:
            self.counter.count(prefix)
        return cached_response(body["responseCode"], encode(body, request.pretty), ttl, prefix)

    @staticmethod
    async def _foreign_answer(
        referrer: Referrer, identifier: Identifier, asked: str, request: ResolveQuery, raw_query: str
    ) -> CachedResponse:
        foreign = await referrer.answer(identifier, asked, request, raw_query)
        return cached_response(
            foreign.body["responseCode"],
            encode(foreign.body, request.pretty),
            foreign.ttl,
            location=foreign.location,
            origin=foreign.origin,
        )

    async def record(self, identifier: Identifier) -> Record:
        record = await self.repository.get_record(identifier)
        if record is None:
            raise HandleNotFound(f"Handle {identifier} not found.")
        return record

    async def resolve(
        self,
        identifier: Identifier,
        *,
        asked_as: str | None = None,
        principal: Principal | None = None,
        indexes: Sequence[int] = (),
        types: Sequence[str] = (),
        public_only: bool = False,
    ) -> Resolution:
        """Select the values of ``identifier`` a caller may see, filtered by index and type.

        Raises HandleNotFound; an empty selection is a Resolution with no values (responseCode 200).
        """
        record = await self.record(identifier)
        admin = not public_only and await self._may_read(principal, record)
        values = [v for v in record.visible_values(admin=admin) if selects(indexes, types, v.index, v.type)]
        return Resolution(asked_as or str(identifier), values)

    async def list_handles(
        self, principal: Principal | None, prefix: str, page: int, page_size: int
    ) -> tuple[int, list[str]]:
        """(total, one page of handles) under ``prefix``; needs LIST_HANDLES on the prefix handle."""
        if principal is None:
            raise AuthenticationNeeded("Listing handles needs credentials with LIST_HANDLES on the prefix.")
        prefix = canonical_prefix(prefix)
        prefix_record = await self.repository.get_record(prefix_handle(prefix))
        admins = prefix_record.admins() if prefix_record else []
        if not await granted(principal, prefix, Permission.LIST_HANDLES, admins, self.repository.vlist):
            raise InsufficientPermissions(f"{principal} may not list handles under {prefix}.")
        return await self.repository.list_handles(prefix, page * page_size, page_size)

    async def _may_read(self, principal: Principal | None, record: Record) -> bool:
        if principal is None:
            return False
        return await granted(
            principal,
            record.identifier.owning_prefix,
            Permission.READ_VALUE,
            record.admins(),
            self.repository.vlist,
        )


def _error_body(exc: IdnodeError, handle: str) -> dict[str, Any]:
    return {"responseCode": exc.response_code, "message": exc.message, "handle": handle}
