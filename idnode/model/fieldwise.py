"""A shortcut for the usual template shape: an object whose fields are checked one by one.

When a template's root says only ``type: object``, ``properties``, ``required`` and
``additionalProperties: true|false`` (besides annotations), an object matches it exactly when its
required fields are present, it has no field the template does not allow, and each field's value
matches that field's own schema. Field values repeat across the records of a product line (maker,
model, production date, rated power...), so each field's verdict on a value is remembered.

The shortcut only ever answers "matches"; on any doubt the caller validates the whole document,
which also words the problems. It is an optimisation of bulk imports, never a second rule set.
"""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

# Root keywords that change nothing about which objects match (annotations and identity).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated"}
)
_SHAPE = frozenset({"type", "properties", "required", "additionalProperties"})
MAX_VERDICTS = 50_000  # remembered (field, value) verdicts per template version; then start afresh


def _mentions_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return any(
            k in ("$ref", "$dynamicRef", "$id", "$anchor") or _mentions_ref(v) for k, v in node.items()
        )
    if isinstance(node, list):
        return any(_mentions_ref(v) for v in node)
    return False


class FieldwiseCheck:
    """Decides "matches" for objects of a plain template (module docstring) field by field."""

    def __init__(self, validator: Draft202012Validator, document: dict[str, Any]) -> None:
        properties = document.get("properties", {})
        self.fields = {name: validator.evolve(schema=schema) for name, schema in properties.items()}
        self.required = frozenset(document.get("required", ()))
        self.closed = document.get("additionalProperties") is False
        self._verdicts: dict[tuple[str, bytes], bool] = {}

    @classmethod
    def of(cls, validator: Draft202012Validator, document: dict[str, Any]) -> FieldwiseCheck | None:
        """The shortcut for ``document``, or None when its shape needs whole-document validation."""
        plain = (
            document.get("type") == "object"
            and all(k in _ANNOTATIONS or k in _SHAPE or k.startswith("x-") for k in document)
            and isinstance(document.get("properties", {}), dict)
            and document.get("additionalProperties", True) in (True, False)
            and not _mentions_ref(document.get("properties", {}))
        )
        return cls(validator, document) if plain else None

    def matches(self, instance: Any) -> bool:
        """True if ``instance`` certainly matches; False means "validate the whole document"."""
        if not isinstance(instance, dict) or not self.required.issubset(instance):
            return False
        for name, value in instance.items():
            validator = self.fields.get(name)
            if validator is None:
                if self.closed:
                    return False
                continue
            if not self._verdict(name, validator, value):
                return False
        return True

    def _verdict(self, name: str, validator: Draft202012Validator, value: Any) -> bool:
        try:
            key = (name, orjson.dumps(value))
        except orjson.JSONEncodeError:
            return False
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = validator.is_valid(value)
            if len(self._verdicts) >= MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict
