"""A registration form generated from a metadata template (a JSON Schema document), and the form's
answers read back as one import row, so that a record made in the portal is made exactly as a row of
a CSV import is (``idnode.importing.RowMapper``: URL at 1, TEMPLATE at 2, METADATA at 3, GS1 at 4,
cells converted to the types the template declares by ``idnode.coercion``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from multidict import MultiDictProxy

from idnode.bulk import BulkItem
from idnode.importfile import Row
from idnode.importing import RowMapper
from idnode.model.record import Record
from idnode.model.template import Template

FIELD_PREFIX = "m."  # form names of metadata fields, apart from suffix, url and gs1
SCALARS = ("string", "number", "integer", "boolean")


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a template form: what to draw and what the template says about it."""

    name: str
    kind: str  # text | number | integer | boolean | enum | date | datetime | email | url | json
    title: str
    title_en: str
    description: str
    description_en: str
    unit: str
    required: bool
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name

    def label(self, language: str) -> str:
        return (self.title_en if language == "en" else self.title) or self.title or self.name

    def help(self, language: str) -> str:
        return (self.description_en if language == "en" else self.description) or self.description


def _kind(spec: dict[str, Any]) -> str:
    declared = spec.get("type")
    if "enum" in spec and all(isinstance(v, str) for v in spec["enum"]):
        return "enum"
    if declared == "string":
        return {"date": "date", "date-time": "datetime", "email": "email", "uri": "url"}.get(
            spec.get("format", ""), "text"
        )
    return declared if declared in SCALARS else "json"


def form_fields(template: Template) -> list[FormField]:
    """The template's top-level properties as form fields, in the document's order."""
    document = template.document
    required = set(document.get("required", []))
    fields = []
    for name, spec in document.get("properties", {}).items():
        if not isinstance(spec, dict):
            continue
        fields.append(
            FormField(
                name=name,
                kind=_kind(spec),
                title=spec.get("title", ""),
                title_en=spec.get("x-title-en", ""),
                description=spec.get("description", ""),
                description_en=spec.get("x-description-en", ""),
                unit=spec.get("x-unit", ""),
                required=name in required,
                options=tuple(spec.get("enum", ())),
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
                max_length=spec.get("maxLength"),
                pattern=spec.get("pattern"),
            )
        )
    return fields


def free_fields(answers: dict[str, str]) -> list[FormField]:
    """Text fields for the metadata of a record without a template (free-form, so all optional)."""
    names = sorted(key[len(FIELD_PREFIX) :] for key in answers if key.startswith(FIELD_PREFIX))
    return [FormField(name, "text", name, name, "", "", "", required=False) for name in names]


def form_values(record: Record) -> dict[str, str]:
    """A stored record's URL, GS1 and metadata fields as the form's text inputs (for editing)."""
    by_index = record.by_index()
    shown: dict[str, str] = {}
    for name, index in (("url", 1), ("gs1", 4)):
        value = by_index.get(index)
        if value is not None and isinstance(value.data, str):
            shown[name] = value.data
    metadata = by_index.get(3)
    content = orjson.loads(metadata.data) if metadata is not None and isinstance(metadata.data, str) else {}
    for name, value in content.items() if isinstance(content, dict) else ():
        if isinstance(value, str):
            shown[FIELD_PREFIX + name] = value
        else:
            shown[FIELD_PREFIX + name] = orjson.dumps(value).decode()
    return shown


def submitted(form: MultiDictProxy[Any]) -> dict[str, str]:
    """The text of every input sent, trimmed (to show the form again after an error)."""
    return {key: value.strip() for key, value in form.items() if isinstance(value, str)}


def form_item(prefix: str, template: Template | None, answers: dict[str, str]) -> BulkItem:
    """The record the answers describe, as an import row under ``prefix``: empty inputs are left out,
    as an empty cell is. The item carries its error if the answers cannot be a record."""
    fields: dict[str, Any] = {key: answers[key] for key in ("suffix", "url", "gs1") if answers.get(key)}
    fields["metadata"] = {
        key[len(FIELD_PREFIX) :]: value
        for key, value in answers.items()
        if key.startswith(FIELD_PREFIX) and value
    }
    return RowMapper(prefix, template, text_cells=True).item(Row(1, fields))


def field_problems(error: Exception) -> dict[str, str]:
    """The core's validation problems by form field (``/serialNumber`` → ``m.serialNumber``)."""
    problems = getattr(error, "details", {}).get("problems", [])
    by_field: dict[str, str] = {}
    for pointer, reason in problems:
        name = pointer.lstrip("/").split("/")[0].replace("~1", "/").replace("~0", "~")
        by_field.setdefault(FIELD_PREFIX + name, reason)
    return by_field
