"""Reverse lookup: which identifiers carry a value (a URL, an e-mail, a searchable metadata field)?

Answers come from the ``search_entries`` index the Committer keeps with every write (see derived.py),
never from a scan of the records. A term matches a value exactly, or by its beginning when it ends in
``*``; several terms must all match the same identifier. Callers see only what they may read:
anonymous callers the publicly readable values, an enterprise also the values under its own prefix,
the operator everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from idnode.derived import META_KEY_PREFIX, NUL, VERBATIM_LENGTH, index_form, type_key
from idnode.model.errors import ProtocolError
from idnode.model.identifier import canonical_prefix
from idnode.model.permissions import Principal
from idnode.storage.repository import Repository, SearchFilter

WILDCARD = "*"

MAX_TERMS = 5


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One condition: the value under ``key`` equals ``value``, or starts with it when ``prefix``."""

    key: str
    value: str
    prefix: bool = False

    @classmethod
    def parse(cls, key: str, text: str) -> SearchTerm:
        """A term from a query: ``text`` is the value, or its beginning followed by one ``*``.

        Raises ProtocolError for an empty key or value, a ``*`` anywhere but at the end (such a
        pattern cannot use the index), a beginning longer than the index keeps verbatim, or NUL in a
        key or a beginning (the index holds neither; an exact value may hold NUL, see ``index_form``).
        """
        if not key:
            raise ProtocolError("A search needs a value type or field to look in.")
        if NUL in key:
            raise ProtocolError("A value type or field name cannot contain NUL (U+0000).")
        if not text or text == WILDCARD:
            raise ProtocolError(f"Give a value to search {key} for (a lone '*' would list everything).")
        if WILDCARD in text[:-1]:
            raise ProtocolError(
                f"A search value may end in '*' (values starting with the rest) but hold no other: {text!r}."
            )
        if text.endswith(WILDCARD):
            start = text[:-1]
            if len(start) > VERBATIM_LENGTH:
                raise ProtocolError(f"A '*' search may give at most {VERBATIM_LENGTH} leading characters.")
            if NUL in start:
                raise ProtocolError("A '*' search cannot contain NUL (U+0000); search for the whole value.")
            return cls(key, start, prefix=True)
        return cls(key, text)

    @classmethod
    def of_type(cls, value_type: str, text: str) -> SearchTerm:
        """A term on values of a type, named in any case (Handle types match case-insensitively)."""
        return cls.parse(type_key(value_type), text)

    @classmethod
    def of_field(cls, field: str, text: str) -> SearchTerm:
        """A term on a searchable template field (field names are case-sensitive)."""
        return cls.parse(META_KEY_PREFIX + field, text)

    @property
    def condition(self) -> tuple[str, str | None, str | None]:
        """(key, exact index form or None, beginning or None) as the repository queries it."""
        if self.prefix:
            return self.key, None, self.value
        return self.key, index_form(self.value), None


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    handles: list[str]


def readable_by(principal: Principal | None) -> SearchFilter:
    """The entries ``principal`` may find (see the module docstring)."""
    if principal is None:
        return SearchFilter(everything=False, own_prefix=None)
    if principal.is_operator:
        return SearchFilter(everything=True, own_prefix=None)
    return SearchFilter(everything=False, own_prefix=principal.prefix)


class Searcher:
    """Runs reverse lookups for a principal; see the module docstring."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def search(
        self,
        principal: Principal | None,
        terms: list[SearchTerm],
        *,
        prefix: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> SearchPage:
        """Identifiers (in handle order) matching every term, optionally only under ``prefix`` (any
        case): the total and the page from ``offset``. Raises ProtocolError, or InvalidHandle for a
        malformed prefix."""
        if not terms:
            raise ProtocolError("Give at least one search term.")
        if len(terms) > MAX_TERMS:
            raise ProtocolError(f"At most {MAX_TERMS} search terms at once.")
        total, handles = await self.repository.search(
            [t.condition for t in terms],
            readable_by(principal),
            canonical_prefix(prefix) if prefix else None,
            offset,
            limit,
        )
        return SearchPage(total, handles)
