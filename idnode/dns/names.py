"""Identifiers as DNS names: ``<suffix labels>.<prefix labels reversed>`` (relative to the zone).

DNS compares names without regard to ASCII case and carries at most 63 octets a label, while a
suffix is case-sensitive UTF-8 that may hold ``/`` and ``.``. The prefix is case-insensitive and made
of letters, digits, ``-`` and ``_``, so its segments are labels as they are (``88.999.1001`` →
``1001.999.88``). The suffix takes one of three forms, chosen by what it contains:

- lower  ``pump-7``: a suffix of lower-case ASCII letters, digits and ``-`` (at most 63) is its label;
- upper  ``_pump-7`` for ``PUMP-7``: upper-case letters, digits and ``-`` with at least one letter
  (at most 62) is ``_`` and the suffix in lower case;
- base32 ``_<n>_<chunk>.<chunk>…`` for anything else (mixed case, ``/``, ``.``, ``_``, non-ASCII, longer
  suffixes): the UTF-8 of the suffix in RFC 4648 base32, lower case and unpadded, cut into ``n``
  labels (the first holds 60 characters after ``_<n>_``, the others 63).

Each identifier has exactly one name: ``decode`` accepts only what ``encode`` produces. Labels are
handled lower case (callers lower-case what they receive). A whole name has at most 255 octets, so
long suffixes under a long zone have no name (``NameTooLong`` from dnspython where the zone is added).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from idnode.model.errors import IdnodeError
from idnode.model.identifier import Identifier

MAX_LABEL = 63
_LOWER = re.compile(r"[a-z0-9-]{1,63}")
_UPPER = re.compile(r"(?=.*[A-Z])[A-Z0-9-]{1,62}")
_BASE32_HEAD = re.compile(r"_([1-9])_([a-z2-7]{1,60})")
_BASE32_MORE = re.compile(r"[a-z2-7]{1,63}")
_HEAD_ROOM = MAX_LABEL - len("_1_")


def suffix_labels(suffix: str) -> tuple[str, ...]:
    """The labels that carry ``suffix``, leftmost first (see the module docstring)."""
    if _LOWER.fullmatch(suffix):
        return (suffix,)
    if _UPPER.fullmatch(suffix):
        return ("_" + suffix.lower(),)
    text = base64.b32encode(suffix.encode("utf-8")).decode("ascii").rstrip("=").lower()
    chunks = [text[:_HEAD_ROOM]]
    chunks += [text[start : start + MAX_LABEL] for start in range(_HEAD_ROOM, len(text), MAX_LABEL)]
    return (f"_{len(chunks)}_{chunks[0]}", *chunks[1:])


def encode(identifier: Identifier) -> tuple[str, ...]:
    """The labels of ``identifier``'s name relative to the zone, leftmost first."""
    prefix = tuple(reversed(identifier.prefix.lower().split(".")))
    return (*suffix_labels(identifier.suffix), *prefix)


def decode(labels: Sequence[str]) -> Identifier | None:
    """The identifier named by ``labels`` (relative to the zone, lower case), or None if they name
    none (too few labels, not a form ``encode`` makes, not a valid handle)."""
    count = _suffix_label_count(labels[0]) if labels else 0
    if not count or len(labels) <= count:
        return None
    suffix = _suffix(labels[:count])
    if suffix is None:
        return None
    try:
        identifier = Identifier.parse(".".join(reversed(labels[count:])) + "/" + suffix)
    except IdnodeError:
        return None
    return identifier if encode(identifier) == tuple(labels) else None


def _suffix_label_count(first: str) -> int:
    head = _BASE32_HEAD.fullmatch(first)
    return int(head.group(1)) if head else 1


def _suffix(labels: Sequence[str]) -> str | None:
    first = labels[0]
    head = _BASE32_HEAD.fullmatch(first)
    if head is None:
        return first[1:].upper() if first.startswith("_") else first
    chunks = [head.group(2), *labels[1:]]
    if not all(_BASE32_MORE.fullmatch(chunk) for chunk in chunks[1:]):
        return None
    text = "".join(chunks).upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
