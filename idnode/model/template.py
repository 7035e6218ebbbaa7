"""Metadata templates: JSON Schema 2020-12 documents describing a product class's metadata (pure rules).

A template version is named ``<name>@<version>`` (e.g. ``solar-module@1``) and its document carries the
same identity: ``$id`` is ``urn:idnode:template:<name>:<version>`` and ``x-version`` is the version.
Versions never change once stored, so a reference always means the same document.

Document conventions (extension keywords, which JSON Schema validators ignore): ``title`` and
``description`` are Chinese, ``x-title-en`` and ``x-description-en`` their English versions; ``x-unit``
gives a numeric field's unit; ``"x-searchable": true`` on a top-level scalar field makes records
findable by its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from idnode.model.errors import InvalidTemplate
from idnode.model.fieldwise import FieldwiseCheck

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:idnode:template:"
MAX_NAME_LENGTH = 64
MAX_SEARCHABLE_NAME_LENGTH = 100  # search keys are "meta:<field>", at most 200 characters
MAX_REASON_LENGTH = 200
SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})

_NAME = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_VERSION = r"[1-9][0-9]{0,8}"
_REF_RE = re.compile(rf"({_NAME})@({_VERSION})")
_ID_RE = re.compile(rf"{re.escape(ID_PREFIX)}({_NAME})(?::({_VERSION}))?")

# -- formats ---------------------------------------------------------------------------------------

FORMATS = FormatChecker(formats=())
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATE_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII)
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


@FORMATS.checks("date", raises=ValueError)
def _is_date(text: object) -> bool:
    """RFC 3339 full-date, e.g. 2026-03-18."""
    return not isinstance(text, str) or bool(_DATE_RE.fullmatch(text) and date.fromisoformat(text))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(text: object) -> bool:
    """RFC 3339 date-time with a zone, e.g. 2026-03-18T08:30:00+08:00."""
    if not isinstance(text, str):
        return True
    upper = text.upper()
    return bool(_DATE_TIME_RE.fullmatch(upper) and datetime.fromisoformat(upper))


@FORMATS.checks("email")
def _is_email(text: object) -> bool:
    """An address with a local part and a dotted domain (RFC 5321 in its common form)."""
    return not isinstance(text, str) or bool(_EMAIL_RE.fullmatch(text))


@FORMATS.checks("uri")
def _is_uri(text: object) -> bool:
    """An absolute URI (RFC 3986): a scheme, then only URI characters and valid %-escapes."""
    return not isinstance(text, str) or bool(_URI_RE.fullmatch(text))


# -- names and references --------------------------------------------------------------------------


def template_id(name: str, version: int) -> str:
    """The ``$id`` of a template version."""
    return f"{ID_PREFIX}{name}:{version}"


def parse_ref(text: object) -> tuple[str, int] | None:
    """(name, version) of a reference ``<name>@<version>``, or None if ``text`` is not one."""
    match = _REF_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None or len(match.group(1)) > MAX_NAME_LENGTH:
        return None
    return match.group(1), int(match.group(2))


# -- template versions -----------------------------------------------------------------------------


def _pointer(path: Iterator[Any] | list[Any]) -> str:
    """A JSON Pointer (RFC 6901) to a location in a document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_LENGTH else text[: MAX_REASON_LENGTH - 1] + "…"


def _located(error: ValidationError) -> Iterator[tuple[str, str]]:
    """(pointer, reason) for one validation error, pointing at the field concerned."""
    path, instance, schema = list(error.absolute_path), error.instance, error.schema
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield _pointer([*path, name]), "required field is missing"
    elif (
        error.validator == "additionalProperties" and isinstance(instance, dict) and isinstance(schema, dict)
    ):
        patterns = schema.get("patternProperties", {})
        for name in instance:
            if name not in schema.get("properties", {}) and not any(re.search(p, name) for p in patterns):
                yield _pointer([*path, name]), "field not allowed by the template"
    else:
        yield _pointer(path), _short(error.message)


@dataclass(frozen=True, eq=False)
class Template:
    """One version of a metadata template: the JSON Schema a record's METADATA must match."""

    name: str
    version: int
    document: dict[str, Any]
    created_at: datetime | None = None
    searchable: tuple[str, ...] = field(init=False)  # top-level fields marked "x-searchable": true
    validator: Draft202012Validator = field(init=False, repr=False)
    shortcut: FieldwiseCheck | None = field(init=False, repr=False)  # see idnode.model.fieldwise

    def __post_init__(self) -> None:
        properties = self.document.get("properties", {})
        searchable = tuple(
            name
            for name, spec in properties.items()
            if isinstance(spec, dict) and spec.get("x-searchable") is True
        )
        object.__setattr__(self, "searchable", searchable)
        validator = Draft202012Validator(self.document, format_checker=FORMATS)
        object.__setattr__(self, "validator", validator)
        object.__setattr__(self, "shortcut", FieldwiseCheck.of(validator, self.document))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def problems(self, metadata: Any) -> list[tuple[str, str]]:
        """Why ``metadata`` does not match: (JSON Pointer, reason) pairs, sorted, none if it matches.

        A missing required field, or a field the template does not allow, is reported at its own
        pointer (``/serialNumber``) rather than at the object holding it.
        """
        if self.shortcut is not None and self.shortcut.matches(metadata):
            return []
        return sorted(
            {problem for error in self.validator.iter_errors(metadata) for problem in _located(error)}
        )

    def summary(self) -> dict[str, Any]:
        """Name, version and titles, as listings show a template."""
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "title": self.document.get("title"),
            "titleEn": self.document.get("x-title-en"),
        }

    def to_json(self) -> dict[str, Any]:
        created = None if self.created_at is None else self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**self.summary(), "created": created, "document": self.document}


# -- new versions ----------------------------------------------------------------------------------


def document_identity(document: Any) -> tuple[str, int | None]:
    """(name, stated version or None) of a document offered as a new template version.

    The name comes from ``$id``, ``urn:idnode:template:<name>`` optionally followed by ``:<version>``;
    a version may also be stated as ``x-version``, and both must then agree. Raises InvalidTemplate.
    """
    if not isinstance(document, dict):
        raise InvalidTemplate("A template is a JSON Schema document: a JSON object.")
    match = _ID_RE.fullmatch(document["$id"]) if isinstance(document.get("$id"), str) else None
    if match is None or len(match.group(1)) > MAX_NAME_LENGTH:
        raise InvalidTemplate(
            f"$id must be {ID_PREFIX}<name>[:<version>], the name lower-case letters, digits and single "
            f"hyphens (at most {MAX_NAME_LENGTH} characters), e.g. {template_id('solar-module', 1)}."
        )
    stated = {int(match.group(2))} if match.group(2) else set()
    if "x-version" in document:
        version = document["x-version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidTemplate("x-version must be a positive whole number.")
        stated.add(version)
    if len(stated) > 1:
        raise InvalidTemplate(f"$id and x-version state different versions: {sorted(stated)}.")
    return match.group(1), next(iter(stated), None)


def check_document(document: dict[str, Any]) -> None:
    """Raise InvalidTemplate, naming the problem, unless ``document`` is a good template.

    A good template: ``$schema`` is the 2020-12 dialect and the document is a valid JSON Schema of it;
    the root describes an object and has ``title`` and ``x-title-en``; every ``$ref`` points inside the
    document (templates are self-contained); ``x-searchable`` marks only top-level scalar fields.
    """
    if document.get("$schema") != SCHEMA_DIALECT:
        raise InvalidTemplate(f"$schema must be {SCHEMA_DIALECT} (JSON Schema 2020-12).")
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as error:
        raise InvalidTemplate(
            f"Not a valid JSON Schema 2020-12 document at {_pointer(error.absolute_path) or '(root)'}: "
            f"{_short(error.message)}"
        ) from None
    if document.get("type") != "object":
        raise InvalidTemplate('A template describes a JSON object: its root needs "type": "object".')
    for key in ("title", "x-title-en"):
        if not isinstance(document.get(key), str) or not document[key].strip():
            raise InvalidTemplate(f"A template needs a {key} (title: Chinese, x-title-en: English).")
    for pointer, ref in _refs(document, []):
        if not ref.startswith("#"):
            raise InvalidTemplate(
                f"{pointer}: $ref {ref!r} leaves the document; templates are self-contained."
            )
    _check_searchable(document)


def stamped(document: dict[str, Any], name: str, version: int) -> dict[str, Any]:
    """``document`` as version ``version`` of ``name``: with that ``$id`` and ``x-version``."""
    rest = {k: v for k, v in document.items() if k not in ("$schema", "$id", "x-version")}
    return {"$schema": SCHEMA_DIALECT, "$id": template_id(name, version), "x-version": version, **rest}


def _refs(node: Any, path: list[Any]) -> Iterator[tuple[str, str]]:
    """(pointer, target) of every ``$ref`` and ``$dynamicRef`` in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield _pointer([*path, key]), value
            else:
                yield from _refs(value, [*path, key])
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, [*path, index])


def _check_searchable(document: dict[str, Any]) -> None:
    for name, spec in document.get("properties", {}).items():
        if not isinstance(spec, dict) or "x-searchable" not in spec:
            continue
        where = _pointer(["properties", name])
        if not isinstance(spec["x-searchable"], bool):
            raise InvalidTemplate(f"{where}: x-searchable must be true or false.")
        types = spec.get("type")
        scalar = types in SCALAR_TYPES or (
            isinstance(types, list) and types and set(types) <= SCALAR_TYPES | {"null"}
        )
        if spec["x-searchable"] and not scalar:
            raise InvalidTemplate(
                f"{where}: only fields of a scalar type (string, number, ...) are searchable."
            )
        if spec["x-searchable"] and len(name) > MAX_SEARCHABLE_NAME_LENGTH:
            raise InvalidTemplate(
                f"{where}: searchable field names have at most {MAX_SEARCHABLE_NAME_LENGTH} characters."
            )
