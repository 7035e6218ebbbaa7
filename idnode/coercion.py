"""Text to JSON: spreadsheet cells as the typed metadata a template's JSON Schema describes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from idnode.model.errors import InvalidValue

_NOT = object()  # a cell that does not parse as the type tried
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_BOOLEANS = {
    "true": True,
    "1": True,
    "yes": True,
    "是": True,
    "false": False,
    "0": False,
    "no": False,
    "否": False,
}


def _as_number(text: str) -> Any:
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        number = float(text)
        return number if abs(number) != float("inf") else _NOT
    return _NOT


def _as_json(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _NOT
        return value if isinstance(value, kind) else _NOT

    return parse


def _refuse(_text: str) -> Any:
    return _NOT


_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": lambda text: text,
    "integer": lambda text: int(text) if _INTEGER.fullmatch(text) else _NOT,
    "number": _as_number,
    "boolean": lambda text: _BOOLEANS.get(text.lower(), _NOT),
    "null": lambda text: None if text.lower() == "null" else _NOT,
    "array": _as_json(list),
    "object": _as_json(dict),
}


class CellCoercion:
    """CSV cells as the metadata object a template's JSON Schema describes (built once per schema).

    A cell fills the top-level property of its name, or else the one whose ``title`` it names (so a
    column may be headed in Chinese), converted to the JSON type the property declares: integer,
    number, boolean (true/false, 1/0, yes/no, 是/否), null (``null``), array or object (JSON text), or
    string; with a list of types the first that fits. A cell without a declared type stays text.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        self._names = {
            spec["title"]: name
            for name, spec in properties.items()
            if isinstance(spec, dict) and isinstance(spec.get("title"), str)
        } | {name: name for name in properties}
        self._kinds: dict[str, list[Any]] = {}
        for name, spec in properties.items():
            declared = spec.get("type") if isinstance(spec, dict) else None
            kinds = (
                [declared] if isinstance(declared, str) else declared if isinstance(declared, list) else []
            )
            if kinds:
                self._kinds[name] = kinds

    def __call__(self, cells: Mapping[str, str]) -> dict[str, Any]:
        """The cells converted. Raise InvalidValue naming the fields whose cells fit none of their
        types (all of them, also as ``details['problems']``: (JSON Pointer, reason) pairs, so a form
        can mark each), or when two cells fill one property."""
        out: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for label, text in cells.items():
            name = self._names.get(label, label)
            if name in out:
                raise InvalidValue(f"Two fields fill {name!r} (the second is {label!r}).")
            kinds = self._kinds.get(name)
            value: Any = text if kinds is None else _NOT
            for kind in kinds or ():
                value = _PARSERS.get(kind, _refuse)(text)
                if value is not _NOT:
                    break
            if value is _NOT:
                problems.append((name, f"{text!r} is not a valid {' or '.join(map(str, kinds or ()))}"))
            out[name] = value
        if problems:
            named = "; ".join(f"Field {name!r}: {reason}" for name, reason in problems)
            raise InvalidValue(f"{named}.", problems=[(f"/{name}", reason) for name, reason in problems])
        return out
