"""Identifier (handle) parsing and normalisation.

An identifier is ``<prefix>/<suffix>``. The prefix is dot-separated segments of ASCII letters, digits,
``-`` and ``_`` (``88.999.1001``, ``0.NA``) and is case-insensitive: its canonical form is lower case,
except the ``0.NA`` namespace which is conventionally written upper case. The suffix is case-sensitive
UTF-8, printable (no control, format, private-use or unassigned characters) and may itself contain ``/``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from idnode.model.errors import InvalidHandle

MAX_PREFIX_LENGTH = 64
MAX_SUFFIX_BYTES = 255
MAX_HANDLE_BYTES = MAX_PREFIX_LENGTH + 1 + MAX_SUFFIX_BYTES  # the longest the grammar allows
PREFIX_NAMESPACE = "0.NA"
ADMIN_SUFFIX = "ADMIN"

_PREFIX_RE = re.compile(r"[0-9A-Za-z_-]+(\.[0-9A-Za-z_-]+)*")
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def canonical_prefix(prefix: str) -> str:
    """Return the canonical spelling of a prefix; raise InvalidHandle if it is malformed."""
    if not prefix:
        raise InvalidHandle("The prefix is empty.")
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise InvalidHandle(f"The prefix is longer than {MAX_PREFIX_LENGTH} characters.")
    if not _PREFIX_RE.fullmatch(prefix):
        raise InvalidHandle(
            f"Invalid prefix {prefix!r}: use dot-separated segments of letters, digits, '-' and '_'."
        )
    lowered = prefix.lower()
    return PREFIX_NAMESPACE if lowered == PREFIX_NAMESPACE.lower() else lowered


def is_within(prefix: str, parent: str) -> bool:
    """Whether canonical ``prefix`` is ``parent`` or below it (``88.999.1001`` is within ``88.999``)."""
    return prefix == parent or prefix.startswith(parent + ".")


def parent_prefixes(prefix: str) -> list[str]:
    """``prefix`` and each prefix above it, longest first: ``88.999.1001``, ``88.999``, ``88``."""
    segments = prefix.split(".")
    return [".".join(segments[:n]) for n in range(len(segments), 0, -1)]


def check_suffix(suffix: str) -> str:
    """Return the suffix unchanged if it is acceptable; raise InvalidHandle otherwise."""
    if not suffix:
        raise InvalidHandle("The suffix is empty.")
    if len(suffix.encode("utf-8", "surrogatepass")) > MAX_SUFFIX_BYTES:
        raise InvalidHandle(f"The suffix is longer than {MAX_SUFFIX_BYTES} bytes in UTF-8.")
    if suffix.isprintable():  # C speed: every forbidden category is non-printable, so this passes
        return suffix
    for position, char in enumerate(suffix):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise InvalidHandle(
                f"The suffix contains a non-printable character U+{ord(char):04X} at position {position}."
            )
    return suffix


@dataclass(frozen=True, slots=True)
class Identifier:
    """A parsed handle: canonical prefix and case-sensitive suffix."""

    prefix: str
    suffix: str

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """Parse ``prefix/suffix`` (an optional ``hdl:`` scheme is dropped); raise InvalidHandle."""
        if not isinstance(text, str):
            raise InvalidHandle("The handle must be a string.")
        if text[:4].lower() == "hdl:":
            text = text[4:]
        prefix, slash, suffix = text.partition("/")
        if not slash:
            raise InvalidHandle(f"Invalid handle {text[:80]!r}: expected '<prefix>/<suffix>'.")
        prefix = canonical_prefix(prefix)
        if prefix == PREFIX_NAMESPACE:  # 0.NA/<prefix>: the suffix is itself a prefix
            return cls(prefix, canonical_prefix(suffix))
        return cls(prefix, check_suffix(suffix))

    @property
    def is_prefix_handle(self) -> bool:
        """True for ``0.NA/<prefix>`` handles, which hold a prefix's admin values."""
        return self.prefix == PREFIX_NAMESPACE

    @property
    def is_identifier(self) -> bool:
        """Whether statistics count it as a registered identifier (not a prefix or admin handle)."""
        return not self.is_prefix_handle and self.suffix != ADMIN_SUFFIX

    @property
    def owning_prefix(self) -> str:
        """The enterprise or node prefix this handle belongs to (``0.NA/X`` belongs to ``X``)."""
        return self.suffix if self.is_prefix_handle else self.prefix

    @classmethod
    def stored(cls, text: str) -> Identifier:
        """An identifier read back from the store, where only canonical handles are written."""
        prefix, _, suffix = text.partition("/")
        return cls(prefix, suffix)

    def __str__(self) -> str:
        return f"{self.prefix}/{self.suffix}"


def prefix_handle(prefix: str) -> Identifier:
    """The ``0.NA/<prefix>`` handle of a prefix."""
    return Identifier(PREFIX_NAMESPACE, canonical_prefix(prefix))


def admin_handle(prefix: str) -> Identifier:
    """The ``<prefix>/ADMIN`` handle an enterprise authenticates as."""
    return Identifier(canonical_prefix(prefix), ADMIN_SUFFIX)
