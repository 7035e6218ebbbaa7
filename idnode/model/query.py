"""Query parameters of the Handle.Net REST API, parsed the same way by every front end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from idnode.model.errors import ProtocolError

_TRUE, _FALSE = ("", "true", "1", "yes"), ("false", "0", "no")


def type_matches(wanted: str, value_type: str) -> bool:
    """Handle type matching: case-insensitive; ``X`` also matches subtypes ``X.y``, ``X.`` only them."""
    wanted_l, actual = wanted.lower(), value_type.lower()
    if wanted_l.endswith("."):
        return actual.startswith(wanted_l)
    return actual == wanted_l or actual.startswith(wanted_l + ".")


def selects(indexes: Sequence[int], types: Sequence[str], index: int, value_type: str) -> bool:
    """Whether a value is one that ``index=`` and ``type=`` ask for (every value when neither is given)."""
    if not indexes and not types:
        return True
    return index in indexes or any(type_matches(t, value_type) for t in types)


def parse_flag(name: str, raw: str | None, default: bool = False) -> bool:
    """A boolean parameter: absent → ``default``; ``true/1/yes`` or empty, ``false/0/no``; else
    ProtocolError."""
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ProtocolError(f"Query parameter {name} must be true or false.")


def parse_ints(name: str, raws: list[str]) -> list[int]:
    """All values of a repeatable integer parameter; ProtocolError if one is not an integer."""
    try:
        return [int(item) for item in raws]
    except ValueError:
        raise ProtocolError(f"Query parameter {name} must be an integer.") from None


@dataclass(frozen=True, slots=True)
class ResolveQuery:
    """What a resolve asks for: ``index=`` and ``type=`` (repeatable), ``publicOnly``, ``pretty``, and
    ``auth`` (authoritative: answer from the store, not from a cache)."""

    indexes: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    public_only: bool = False
    pretty: bool = False
    authoritative: bool = False

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> ResolveQuery:
        """Parse (name, value) pairs in request order; unknown names are ignored, as Handle.Net does."""
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)

        def flag(name: str) -> bool:
            return parse_flag(name, multi[name][-1] if name in multi else None)

        return cls(
            indexes=tuple(parse_ints("index", multi.get("index", []))),
            types=tuple(multi.get("type", [])),
            public_only=flag("publicOnly"),
            pretty=flag("pretty"),
            authoritative=flag("auth"),
        )
