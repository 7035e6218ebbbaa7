"""Rows derived from a record's values for lookups: reverse-search entries and GS1 Digital Link keys.

The ``Committer`` stores them in the same transaction as the record itself and replaces them on every
change, so a lookup never finds a value the record no longer has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from idnode import gs1
from idnode.gs1_links import GS1
from idnode.model.errors import ValueAlreadyExists
from idnode.model.record import Record
from idnode.model.values import METADATA, TEMPLATE

VERBATIM_LENGTH = 190  # longer values are indexed as their first 190 characters and a digest
TEMPLATE_KEY = "template"  # the template version a record uses: "<name>@<version>"
META_KEY_PREFIX = "meta:"  # "meta:<field>": a searchable field of a record's metadata
NUL = "\x00"


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """One findable value: ``key`` is a value type (``URL``), ``meta:<field>`` or ``template``; ``value``
    the text."""

    key: str
    value: str
    public: bool


@dataclass(frozen=True, slots=True)
class Derived:
    """What a record contributes to the lookup tables."""

    search: tuple[SearchEntry, ...] = ()
    gs1: tuple[str, ...] = ()  # GS1 Digital Link paths, e.g. /01/09506000134352/21/12345


NOTHING = Derived()


def combined(parts: Iterable[Derived]) -> Derived:
    """Everything several derivations contribute, together."""
    parts = list(parts)
    return Derived(
        search=tuple(entry for part in parts for entry in part.search),
        gs1=tuple(path for part in parts for path in part.gs1),
    )


def index_form(value: str) -> str:
    """The form a value takes in the search index (at most 255 characters): itself when short, else
    its first 190 characters, ``#`` and its SHA-256 in hex. Exact lookups compare index forms; a
    prefix lookup of up to 190 characters matches both kinds. A value holding NUL (U+0000), which
    PostgreSQL text cannot, takes the long form with each NUL shown as U+FFFD (the digest keeps it
    distinct from the same text with a real U+FFFD)."""
    if len(value) <= VERBATIM_LENGTH and NUL not in value:
        return value
    start = value[:VERBATIM_LENGTH].replace(NUL, "\ufffd")
    return f"{start}#{hashlib.sha256(value.encode()).hexdigest()}"


def type_key(value_type: str) -> str:
    """The search-entry key of a value type: upper case, since Handle types match case-insensitively.
    (Derived keys are lower case, ``template`` and ``meta:<field>``: no value type takes their place.)"""
    return value_type.upper()


def _indexed_type(key: str) -> bool:
    """Whether values of this type (as ``type_key`` gives it) are searchable as themselves: not the
    Handle System's own (``HS_*``), not TEMPLATE and METADATA (a record's metadata is searchable by
    its fields, see idnode/metadata.py)."""
    return not (key.startswith("HS_") or key in (TEMPLATE, METADATA))


def value_entries(record: Record) -> list[SearchEntry]:
    """Search entries for the record's plain string values (URL, EMAIL, ...) of the types searchable
    as themselves, each distinct (type, text) once."""
    seen: dict[tuple[str, str], SearchEntry] = {}
    for value in record.values:
        if value.format != "string" or not value.data or not _indexed_type(type_key(value.type)):
            continue
        key = (type_key(value.type), index_form(value.data))
        earlier = seen.get(key)
        public = value.public_read or (earlier is not None and earlier.public)
        seen[key] = SearchEntry(key[0], key[1], public)
    return list(seen.values())


def gs1_paths(record: Record) -> tuple[str, ...]:
    """The canonical GS1 Digital Link paths of the record's GS1 values (checked when written), each once."""
    keys = (gs1.parse(v.data).path for v in record.values if v.type == GS1 and v.format == "string")
    return tuple(dict.fromkeys(keys))


def gs1_refusals(
    claims: Sequence[tuple[str, Sequence[str]]], owners: Mapping[str, str]
) -> dict[str, ValueAlreadyExists]:
    """The error for each handle among ``claims`` (handle, GS1 paths) that claims a path mapped to
    another handle: stored (``owners``: path to handle) or claimed by an earlier, accepted handle."""
    taken = dict(owners)
    refused: dict[str, ValueAlreadyExists] = {}
    for handle, paths in claims:
        clash = next((p for p in paths if taken.get(p, handle) != handle), None)
        if clash is not None:
            refused[handle] = ValueAlreadyExists(f"GS1 key {clash} is already mapped to {taken[clash]}.")
        else:
            taken.update(dict.fromkeys(paths, handle))
    return refused
