"""Reading import files: CSV or JSON Lines in UTF-8 or GBK, as numbered rows of fields.

Text is UTF-8 (with or without a byte-order mark) or else GB18030, which includes the GBK that Chinese
spreadsheet programs save. ``ImportFile.open`` reads the whole file once, so a file that is neither,
or is malformed CSV, is refused before any of its rows is used. Blank rows are skipped.

- CSV: comma-separated, the first row a header. Reserved columns (names compared ignoring case and
  blanks; Chinese aliases in ``COLUMN_ALIASES``): ``suffix`` (the identifier is ``<prefix>/<suffix>``)
  or ``handle`` (a full identifier), ``url`` and ``gs1``; every other column is a metadata field.
  Cells are trimmed and an empty cell leaves its field out. Rows are numbered as a spreadsheet shows
  them: the header is row 1, the first data row is row 2.
- JSON Lines: one object per line, numbered by line: ``suffix`` or ``handle``, ``url``, ``gs1``,
  ``metadata`` (an object) and any other key as a metadata field, as in a CSV row (null: absent); or
  ``suffix``/``handle`` with ``values``, an array of Handle.Net value objects.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from idnode.model.errors import IdnodeError, InvalidValue, ProtocolError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}  # by file name extension
ENCODINGS = ("utf-8", "gb18030")  # tried in this order
COLUMN_ALIASES = {
    "suffix": ("suffix", "后缀", "标识后缀"),
    "handle": ("handle", "标识", "完整标识", "标识编码"),
    "url": ("url", "网址", "链接"),
    "gs1": ("gs1", "gs1码", "gs1编码"),
}
_COLUMNS = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
_ROW_KEYS = frozenset({"suffix", "handle", "url", "gs1", "metadata", "values"})
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Row:
    """One data row: its number as the user sees it (see the module docstring) and its fields
    (``suffix``/``handle``, ``url``, ``gs1``, ``metadata``: a dict, ``values``), or why it is unusable."""

    number: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    error: IdnodeError | None = None


def format_of(path: Path) -> str:
    """The import format a file name's extension names; ProtocolError if none."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ProtocolError(f"Cannot tell the format of {path.name}: name it .csv or .jsonl, or give it.")
    return found


def detect_encoding(stream: BinaryIO) -> str:
    """The codec to read the stream with: ``utf-8-sig`` (which drops a byte-order mark) if all of it
    is UTF-8, else ``gb18030`` if all of it is that; ProtocolError, naming the bad bytes, if neither."""
    errors: list[str] = []
    for encoding in ENCODINGS:
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        read = start = 0  # bytes read; file offset of the decoder's input (held-back bytes first)
        try:
            while chunk := stream.read(_CHUNK):
                start = read - len(decoder.getstate()[0])
                decoder.decode(chunk)
                read += len(chunk)
            start = read - len(decoder.getstate()[0])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            errors.append(f"the byte at offset {start + exc.start} is not {encoding.upper()}")
            continue
        return "utf-8-sig" if encoding == "utf-8" else encoding
    raise ProtocolError(f"The file is neither UTF-8 nor GBK/GB18030 text: {'; '.join(errors)}.")


@dataclass(frozen=True, slots=True)
class ImportFile:
    """A file checked for import: a seekable binary stream, its format, encoding and data rows."""

    stream: BinaryIO
    format: str
    encoding: str
    rows: int

    @classmethod
    def open(cls, stream: BinaryIO, fmt: str) -> ImportFile:
        """Read all of ``stream`` once as ``fmt`` (``csv`` or ``jsonl``), counting its rows; raise
        ProtocolError for undecodable text, malformed CSV or a CSV header without an identifier column
        (a bad row is not an error here: it is reported when the file is imported)."""
        if fmt not in FORMATS.values():
            raise ProtocolError(f"Unknown import format {fmt!r}: use csv or jsonl.")
        encoding = detect_encoding(stream)
        return cls(stream, fmt, encoding, sum(1 for _ in _read(stream, fmt, encoding)))

    def read(self) -> Iterator[Row]:
        """The data rows, from the start of the file."""
        return _read(self.stream, self.format, self.encoding)


def _read(stream: BinaryIO, fmt: str, encoding: str) -> Iterator[Row]:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding, newline="")
    try:
        yield from (_csv_rows if fmt == "csv" else _jsonl_rows)(text)
    finally:
        text.detach()  # the stream stays open: it is the caller's


def _csv_rows(text: TextIO) -> Iterator[Row]:
    reader = csv.reader(text, strict=True)
    number = 0  # the last row read, for a csv.Error in the next
    try:
        header = next(reader, [])
        number = 1
        names = _columns(header)
        for number, cells in enumerate(reader, 2):
            values = [cell.strip() for cell in cells]
            if not any(values):
                continue
            if len(values) > len(names):
                extra = ProtocolError(f"Row {number} has {len(values)} cells; the header names {len(names)}.")
                yield Row(number, error=extra)
                continue
            fields: dict[str, Any] = {}
            metadata: dict[str, str] = {}
            for name, value in zip(names, values, strict=False):
                if value:
                    (fields if name in COLUMN_ALIASES else metadata)[name] = value
            yield Row(number, {**fields, "metadata": metadata} if metadata else fields)
    except csv.Error as exc:
        raise ProtocolError(f"Malformed CSV in row {number + 1}: {exc}.") from None


def _columns(header: list[str]) -> list[str]:
    """Column names from a CSV header: reserved ones in their canonical spelling, others as written."""
    if not header:
        raise ProtocolError("The CSV file is empty: it needs a header row naming its columns.")
    names: list[str] = []
    for position, label in enumerate((cell.strip() for cell in header), 1):
        if not label:
            raise ProtocolError(f"Column {position} of the header has no name.")
        name = _COLUMNS.get(re.sub(r"\s+", "", label).lower(), label)
        if name in names:
            raise ProtocolError(f"Columns {names.index(name) + 1} and {position} both name {name!r}.")
        names.append(name)
    if ("suffix" in names) == ("handle" in names):
        raise ProtocolError("The header needs a 'suffix' column, or a 'handle' column for full identifiers.")
    return names


def _jsonl_rows(text: TextIO) -> Iterator[Row]:
    for number, line in enumerate(text, 1):
        if not line.strip():
            continue
        try:
            parsed = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            error = ProtocolError(f"Line {number} is not valid JSON: {exc.msg} at column {exc.colno}.")
            yield Row(number, error=error)
            continue
        if not isinstance(parsed, dict):
            yield Row(number, error=ProtocolError(f"Line {number} is not a JSON object."))
            continue
        yield _folded(number, parsed)


def _folded(number: int, obj: dict[str, Any]) -> Row:
    """A JSON Lines object as a row: keys other than the reserved ones join ``metadata``."""
    fields = {k: v for k, v in obj.items() if k in _ROW_KEYS and v is not None}
    metadata = fields.pop("metadata", {})
    if not isinstance(metadata, dict):
        return Row(number, error=InvalidValue("'metadata' must be a JSON object."))
    extra = {k: v for k, v in obj.items() if k not in _ROW_KEYS}
    both = sorted(set(metadata) & set(extra))
    if both:
        return Row(number, error=InvalidValue(f"Field(s) {both} given both in 'metadata' and beside it."))
    if metadata or extra:
        fields["metadata"] = {**metadata, **extra}
    return Row(number, fields)
