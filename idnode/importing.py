"""Importing identifiers from a file: CSV or JSON Lines rows, each made into a record and written
through the bulk path (``idnode.bulk``), created or updated, with a report of the rows that failed.

Files are read by ``idnode.importfile`` (CSV or JSON Lines, UTF-8 or GBK, rows numbered as the user
sees them); the whole file is checked before anything is written.

Records. A row's values follow the shared conventions: URL at index 1, TEMPLATE (``name@version``) at
2, METADATA (its fields as a JSON object text, keys sorted) at 3, GS1 at 4. With a template every row
names it and has METADATA, and CSV cells are converted to the types its schema declares
(``CellCoercion``); without one there is no TEMPLATE value, and METADATA (when the row has fields)
holds CSV cells as strings and JSON values as they are. A row owns exactly those four indexes: on an
existing record it sets them (removing those it leaves empty) and leaves every other value alone
(HS_ADMIN, links added later). A ``values`` row replaces the whole record, as a whole-record PUT.

Runs. Rows are written in batches of one transaction (``BulkRegistrar.register`` with
``update_existing``): a row whose record already holds what it says is left alone, so running a file
again, completely or after an interruption, writes only what is missing or different. A handle may
appear once per file; a later row naming it again fails.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from idnode.bulk import DEFAULT_BATCH, MAX_LISTED_FAILURES, BulkFailure, BulkItem, BulkRegistrar, BulkResult
from idnode.bulk import Progress as BulkProgress
from idnode.coercion import CellCoercion
from idnode.importfile import ImportFile, Row
from idnode.model.errors import (
    HandleAlreadyExists,
    IdnodeError,
    InvalidHandle,
    InvalidValue,
)
from idnode.model.identifier import Identifier, admin_handle, canonical_prefix
from idnode.model.permissions import Principal
from idnode.model.template import Template
from idnode.model.values import HandleValue

URL_INDEX, TEMPLATE_INDEX, METADATA_INDEX, GS1_INDEX = 1, 2, 3, 4
ROW_INDEXES = frozenset({URL_INDEX, TEMPLATE_INDEX, METADATA_INDEX, GS1_INDEX})  # what a row owns


# -- rows to records -------------------------------------------------------------------------------


TemplateLookup = Callable[[str], Awaitable[Template]]  # core.templates.get


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"'{key}' must be a string.")
    return value


def _value(index: int, kind: str, data: str) -> HandleValue:
    return HandleValue(index=index, type=kind, format="string", data=data)


class RowMapper:
    """Turns the rows of one file into bulk items under one prefix, with an optional template."""

    def __init__(self, prefix: str, template: Template | None, *, text_cells: bool) -> None:
        self.prefix = canonical_prefix(prefix)
        self.template = template
        # CSV: fields are text, converted to the types the template declares
        self.coerce = CellCoercion(template.document) if template is not None and text_cells else None
        self._seen: dict[bytes, int] = {}  # handle digest -> first row: 8 bytes a handle, not the text

    def item(self, row: Row) -> BulkItem:
        """The row as an item numbered by its row; a row that cannot be one is an item with its error."""
        try:
            if row.error is not None:
                raise row.error
            identifier = self._identifier(row.fields)
            if "values" in row.fields:
                return self._once(row, BulkItem(row.number, identifier, self._whole_record(row.fields)))
            values = self._values(row.fields)
            return self._once(row, BulkItem(row.number, identifier, values, ROW_INDEXES))
        except IdnodeError as exc:
            return BulkItem(row.number, self._label(row.fields), error=exc)

    def _once(self, row: Row, item: BulkItem) -> BulkItem:
        """``item``, or a failure if an earlier row of the file named the same handle."""
        digest = hashlib.blake2b(str(item.handle).encode(), digest_size=8).digest()
        first = self._seen.setdefault(digest, row.number)
        if first == row.number:
            return item
        repeated = HandleAlreadyExists(
            f"Handle {item.handle} appears more than once in the file (first in row {first})."
        )
        return BulkItem(row.number, item.handle, error=repeated)

    def _label(self, fields: Mapping[str, Any]) -> str:
        """The handle a row names, as well as it can be told, for its failure report."""
        if isinstance(fields.get("handle"), str):
            return fields["handle"]
        return f"{self.prefix}/{fields['suffix']}" if isinstance(fields.get("suffix"), str) else ""

    def _identifier(self, fields: Mapping[str, Any]) -> Identifier:
        if "handle" in fields and "suffix" in fields:
            raise InvalidHandle("Give the row a suffix or a handle, not both.")
        if "handle" in fields:
            identifier = Identifier.parse(_string(fields["handle"], "handle"))
            if identifier.prefix != self.prefix:
                raise InvalidHandle(f"Handle {identifier} is not under prefix {self.prefix}.")
            return identifier
        if "suffix" in fields:
            return Identifier.parse(f"{self.prefix}/{_string(fields['suffix'], 'suffix')}")
        raise InvalidHandle("The row has no suffix.")

    @staticmethod
    def _whole_record(fields: Mapping[str, Any]) -> list[Any]:
        others = sorted(set(fields) - {"suffix", "handle", "values"})
        if others:
            raise InvalidValue(f"A row with 'values' is the whole record: leave out {', '.join(others)}.")
        if not isinstance(fields["values"], list):
            raise InvalidValue("'values' must be an array of Handle.Net value objects.")
        return fields["values"]

    def _values(self, fields: Mapping[str, Any]) -> list[HandleValue]:
        values: list[HandleValue] = []
        if "url" in fields:
            values.append(_value(URL_INDEX, "URL", _string(fields["url"], "url")))
        metadata: dict[str, Any] = dict(fields.get("metadata", {}))
        if self.template is not None:
            values.append(_value(TEMPLATE_INDEX, "TEMPLATE", self.template.ref))
            if self.coerce is not None:
                metadata = self.coerce(metadata)
        if metadata or self.template is not None:
            try:
                text = orjson.dumps(metadata, option=orjson.OPT_SORT_KEYS).decode()
            except orjson.JSONEncodeError as exc:
                raise InvalidValue(f"The metadata cannot be stored as JSON: {exc}.") from None
            values.append(_value(METADATA_INDEX, "METADATA", text))
        if "gs1" in fields:
            values.append(_value(GS1_INDEX, "GS1", _string(fields["gs1"], "gs1")))
        return values


# -- running an import ----------------------------------------------------------------------------


class ErrorReport:
    """The CSV file of the rows that failed: ``row,handle,responseCode,message``, UTF-8 with a
    byte-order mark so that spreadsheet programs show Chinese text correctly.

    A report left at the path by an earlier run is removed at once; the file is created at the first
    failure and flushed after every batch, so after an interruption it lists the failures of the
    batches that were committed. Running the import again writes it anew, complete.
    """

    HEADER = ("row", "handle", "responseCode", "message")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file: TextIO | None = None
        path.unlink(missing_ok=True)

    def add(self, failures: Sequence[BulkFailure]) -> None:
        """Append ``failures`` and flush."""
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            csv.writer(self._file).writerow(self.HEADER)
        csv.writer(self._file).writerows((f.index, f.handle, f.response_code, f.message) for f in failures)
        self._file.flush()
        self.rows += len(failures)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> ErrorReport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary(result: BulkResult) -> dict[str, Any]:
    """An import's counts and listed failures, as the command line and the HTTP API show them."""
    failures = [
        {"row": f.index, "handle": f.handle, "responseCode": f.response_code, "message": f.message}
        for f in result.failures
    ]
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "failures": failures,
        "failuresTruncated": len(failures) < result.failed,
    }


class Importer:
    """Imports files through the bulk path; see the module docstring."""

    def __init__(self, bulk: BulkRegistrar, templates: TemplateLookup) -> None:
        self.bulk = bulk
        self.templates = templates

    async def check(self, principal: Principal | None, prefix: str) -> str:
        """Raise unless ``principal`` may write under ``prefix`` at all (AuthenticationNeeded,
        InsufficientPermissions, PrefixNotHere, EnterpriseSuspended); return the canonical prefix."""
        registry = self.bulk.registry
        registry.require_principal(principal)
        assert principal is not None
        stand_in = admin_handle(prefix)  # the prefix-wide checks are the same for every handle under it
        async with self.bulk.repository.transaction() as tx:
            await registry.require_writable_prefix(tx, principal, stand_in)
        return stand_in.prefix

    async def run(
        self,
        principal: Principal | None,
        source: ImportFile,
        *,
        prefix: str,
        template: str | None = None,
        dry_run: bool = False,
        batch_size: int = DEFAULT_BATCH,
        report: ErrorReport | None = None,
        progress: BulkProgress | None = None,
        max_failures: int = MAX_LISTED_FAILURES,
    ) -> BulkResult:
        """Create or update the identifier of every row of ``source`` under ``prefix`` (named
        ``template``, if given), as ``principal``; ``dry_run`` checks every row and writes nothing.

        Failed rows go to ``report`` as each batch completes; ``progress`` is called after each batch.
        Raises as ``check`` does, if the template is unknown, and as ``BulkRegistrar.register``.
        """
        prefix = await self.check(principal, prefix)
        chosen = await self.templates(template) if template else None
        mapper = RowMapper(prefix, chosen, text_cells=source.format == "csv")
        return await self.bulk.register(
            principal,
            (mapper.item(row) for row in source.read()),
            batch_size=batch_size,
            update_existing=True,
            dry_run=dry_run,
            progress=progress,
            on_failures=None if report is None else report.add,
            max_failures=max_failures,
        )
