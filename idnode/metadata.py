"""A record's metadata: its TEMPLATE and METADATA values, checked against the template version named,
and the search entries they contribute.

The rules every write enforces on the record it would store:

- a record carries at most one TEMPLATE and at most one METADATA value, both of format ``string``;
- TEMPLATE names an exact template version, ``<name>@<version>`` (e.g. ``solar-module@1``), which must
  be stored on this node; the record must then carry METADATA, the text of a JSON object that the
  version's JSON Schema accepts (formats ``date``, ``date-time``, ``email`` and ``uri`` are checked);
- METADATA without TEMPLATE is free-form, but still the text of a JSON object;
- a record naming a template whose fields are all strings (every SNMS data template, see
  ``idnode.model.data_template``) may instead hold its metadata as values: each field as the value at
  the field's index (its ``x-id-index``, or the one the template's v5 form gives it), of the field's
  type, format ``string``. The object those values
  make, ``{field: value}``, is checked by the same JSON Schema as a METADATA text would be, so a record
  registered through the SNMS API and one written through Handle REST obey the same rules.

A record keeps the version it names until its owner changes the TEMPLATE value, so new versions of a
template never affect existing records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from idnode.derived import META_KEY_PREFIX, NOTHING, TEMPLATE_KEY, Derived, SearchEntry, index_form
from idnode.model.errors import InvalidValue
from idnode.model.record import Record
from idnode.model.template import Template, parse_ref
from idnode.model.template_values import holds_values, metadata_from_values, schema_problems
from idnode.model.values import METADATA, TEMPLATE, HandleValue
from idnode.storage.repository import Transaction
from idnode.templates import TemplateCatalog

MAX_REPORTED = 5  # problems named in one error message; the rest are counted


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """A record's TEMPLATE and METADATA values (either may be absent) and the metadata object."""

    template: HandleValue | None
    metadata: HandleValue | None
    content: dict[str, Any] | None
    values: tuple[HandleValue, ...] = ()  # the record's values, which may hold the fields instead

    @property
    def ref(self) -> str | None:
        """The template version named, ``<name>@<version>``, or None."""
        return None if self.template is None else self.template.data

    @classmethod
    def of(cls, record: Record) -> RecordMetadata:
        """Find and parse a record's metadata; raise InvalidValue if it breaks a rule that needs no
        template to check (see the module docstring)."""
        templates = [v for v in record.values if v.type == TEMPLATE]
        metadata = [v for v in record.values if v.type == METADATA]
        if len(templates) > 1 or len(metadata) > 1:
            raise InvalidValue("A record carries at most one TEMPLATE and one METADATA value.")
        template = templates[0] if templates else None
        value = metadata[0] if metadata else None
        if template is not None and (template.format != "string" or parse_ref(template.data) is None):
            shown = template.data if isinstance(template.data, str) else template.format
            raise InvalidValue(
                f"TEMPLATE must be a string <name>@<version>, e.g. solar-module@1; got {shown!r}."
            )
        if value is None:
            return cls(template, None, None, record.values)
        if value.format != "string":
            raise InvalidValue("METADATA must be a string value: the text of a JSON object.")
        try:
            content = orjson.loads(value.data)
        except orjson.JSONDecodeError as exc:
            raise InvalidValue(f"METADATA is not valid JSON: {exc}.") from None
        if not isinstance(content, dict):
            raise InvalidValue("METADATA must be a JSON object ({...}).")
        return cls(template, value, content, record.values)

    def problem(self, templates: Mapping[str, Template]) -> InvalidValue | None:
        """Why the metadata does not match its template (found in ``templates``, if it exists), or None."""
        if self.ref is None:
            return None
        template = templates.get(self.ref)
        if template is None:
            return InvalidValue(f"TEMPLATE {self.ref}: no such template version on this node.")
        if self.content is not None:
            problems = template.problems(self.content)
            texts = [f"{pointer or '(root)'}: {reason}" for pointer, reason in problems]
            # Every problem by pointer, so that a form can show each next to its field.
            return _refused("METADATA", texts, self.ref, problems=problems)
        if not holds_values(template.items):
            return InvalidValue(f"TEMPLATE {self.ref} needs a METADATA value: the metadata as JSON.")
        content, wrong = metadata_from_values(template.items, self.values)
        wrong += schema_problems(template.items, template.validator.iter_errors(content))
        return _refused("Values", sorted({p.english() for p in wrong}), self.ref)

    def fields(self, template: Template) -> dict[str, Any]:
        """The record's metadata object: its METADATA, or the values holding the template's fields."""
        if self.content is not None:
            return self.content
        return metadata_from_values(template.items, self.values)[0]


def _refused(what: str, named: list[str], ref: str, **details: object) -> InvalidValue | None:
    """The error naming the problems ``named`` (the first MAX_REPORTED, then a count), with
    ``details``, or None if there are none."""
    if not named:
        return None
    more = len(named) - MAX_REPORTED
    tail = f"; and {more} more" if more > 0 else ""
    return InvalidValue(f"{what} {'; '.join(named[:MAX_REPORTED])}{tail} (template {ref}).", **details)


def _parsed(record: Record) -> RecordMetadata | InvalidValue:
    try:
        return RecordMetadata.of(record)
    except InvalidValue as exc:
        return exc


def _text(value: Any) -> str | None:
    """A scalar metadata value as search text (JSON spelling for numbers and booleans)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return None


class MetadataRules:
    """Applies the metadata rules (module docstring) to records about to be stored."""

    def __init__(self, catalog: TemplateCatalog) -> None:
        self.catalog = catalog

    async def check(self, records: Sequence[Record]) -> list[InvalidValue | None]:
        """For each record, why its metadata is refused, or None; the templates of all of them are
        looked up at once. Use before a transaction, then ``hold`` the templates inside it."""
        parsed = [_parsed(record) for record in records]
        refs = {p.ref for p in parsed if isinstance(p, RecordMetadata) and p.ref is not None}
        templates = await self.catalog.get_many(refs)
        return [p if isinstance(p, InvalidValue) else p.problem(templates) for p in parsed]

    async def hold(self, tx: Transaction, records: Sequence[Record]) -> None:
        """Keep the template versions checked ``records`` name from being deleted until ``tx`` ends;
        raise InvalidValue if one was deleted since they were checked."""
        refs = {v.data for record in records for v in record.values if v.type == TEMPLATE}
        gone = sorted(refs - set(await self.catalog.hold(tx, refs)))
        if gone:
            raise InvalidValue(f"Template(s) {', '.join(gone)} deleted meanwhile; nothing was stored.")

    async def require(self, tx: Transaction, record: Record) -> None:
        """Raise InvalidValue unless ``record``'s metadata obeys the rules; inside ``tx``, its template
        version is held against deletion until the transaction ends."""
        parsed = RecordMetadata.of(record)
        templates = await self.catalog.hold(tx, [parsed.ref] if parsed.ref else [])
        problem = parsed.problem(templates)
        if problem is not None:
            raise problem

    async def derive(self, tx: Transaction, record: Record) -> Derived:
        """The search entries of a checked record's metadata: ``template`` (the version it uses) and
        ``meta:<field>`` for each searchable field it has, public as the value holding them is."""
        parsed = RecordMetadata.of(record)
        if parsed.template is None:
            return NOTHING
        template = await self.catalog.get(parsed.template.data, tx)
        entries = [SearchEntry(TEMPLATE_KEY, index_form(template.ref), parsed.template.public_read)]
        # Fields held as values are as public as the TEMPLATE value naming them.
        public = (parsed.metadata or parsed.template).public_read
        content = parsed.fields(template)
        for field in template.searchable:
            text = _text(content.get(field))
            if text:
                entries.append(SearchEntry(META_KEY_PREFIX + field, index_form(text), public))
        return Derived(search=tuple(entries))
