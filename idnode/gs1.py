"""GS1 keys: a GTIN and its key qualifiers, read from GS1 Digital Link URIs and GS1 element strings.

Digital Link URIs follow the GS1 Digital Link URI Syntax (1.2/1.3) for the GTIN primary key: any
scheme, host and path stem, then ``/01/<gtin>`` and the key qualifiers in path order, consumer
product variant ``/22/``, batch/lot ``/10/``, serial ``/21/``, percent-encoded; data attributes such
as the expiry date ``17`` go in the query string (``?17=YYMMDD``, pairs split on ``&`` or ``;``).
GTIN-8, -12 and -13 are padded to 14 digits. Element strings are bracketed, ``(01)…(17)…(10)…``,
or unbracketed with GS (``\\x1d``, FNC1) ending each variable-length field, optionally after a
symbology identifier such as ``]d2``. Compressed Digital Link URIs and the other GS1 primary keys
(SSCC, GLN, ...) are not supported. Every error is an ``InvalidGs1Key`` saying what is wrong.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import compress, product
from urllib.parse import quote, unquote, urlsplit

from stdnum import ean

from idnode.model.errors import InvalidGs1Key

GTIN, CPV, LOT, SERIAL, EXPIRY = "01", "22", "10", "21", "17"
QUALIFIERS = (CPV, LOT, SERIAL)  # the path order the URI syntax prescribes
NAMES = {GTIN: "GTIN", CPV: "consumer product variant", LOT: "batch/lot", SERIAL: "serial", EXPIRY: "expiry"}
MAX_QUALIFIER_LENGTH = 20
GS = "\x1d"  # FNC1 as transmitted by scanners: ends a variable-length field
FIXED_LENGTH = {GTIN: 14, EXPIRY: 6}

# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
_CSET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]+")
_BRACKETED_AI = re.compile(r"\((\d{2,4})\)")


@dataclass(frozen=True, slots=True)
class Gs1Key:
    """A GTIN (14 digits) with its optional key qualifiers and expiry date (YYMMDD as written; a day of
    00 means the end of the month). Build one with ``parse``, which validates every part."""

    gtin: str
    cpv: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None

    @property
    def qualifiers(self) -> tuple[tuple[str, str], ...]:
        """(AI, value) of the key qualifiers present, in path order."""
        present = ((CPV, self.cpv), (LOT, self.lot), (SERIAL, self.serial))
        return tuple((ai, value) for ai, value in present if value is not None)

    @property
    def path(self) -> str:
        """The canonical Digital Link path, e.g. ``/01/09506000134352/10/AB%2F1``."""
        return _path(self.gtin, self.qualifiers)

    def uri(self, root: str) -> str:
        """The canonical Digital Link URI under ``root`` (e.g. ``https://id.example.com``)."""
        query = f"?{EXPIRY}={self.expiry}" if self.expiry else ""
        return f"{root.rstrip('/')}{self.path}{query}"

    def element_string(self) -> str:
        """The bracketed element string, e.g. ``(01)09506000134352(17)271231(10)ABC``."""
        fields = [(GTIN, self.gtin), (EXPIRY, self.expiry), *self.qualifiers]
        return "".join(f"({ai}){value}" for ai, value in fields if value is not None)

    @property
    def expiry_date(self) -> date | None:
        """The expiry as a date (a day of 00 read as the last day of its month)."""
        return None if self.expiry is None else _date(self.expiry)

    def lookup_paths(self) -> list[str]:
        """The paths that may hold this key's links, most specific first, as a resolver falls back:
        with a serial before without, then with a lot before without, then with a variant before
        without; the bare GTIN last."""
        qualifiers = self.qualifiers
        masks = sorted(product((True, False), repeat=len(qualifiers)), key=lambda m: m[::-1], reverse=True)
        return [_path(self.gtin, tuple(compress(qualifiers, mask))) for mask in masks]


def _path(gtin: str, qualifiers: tuple[tuple[str, str], ...]) -> str:
    return f"/{GTIN}/{gtin}" + "".join(f"/{ai}/{quote(value, safe='')}" for ai, value in qualifiers)


def parse(text: str) -> Gs1Key:
    """A GS1 key from a Digital Link URI (``https://…/01/…`` or a path ``/01/…``) or an element string."""
    text = text.strip()  # GS counts as white space: a leading FNC1 goes too
    if text.isascii() and text.isdigit() and len(text) <= 14:
        raise InvalidGs1Key(f"{text} alone is not a GS1 key: write a GTIN as (01)<14 digits> or as a URI.")
    if text[:1] in ("(", "]") or text[:1].isdigit():
        return from_element_string(text)
    if "://" in text or text.startswith("/"):
        parts = urlsplit(text)
        if parts.scheme not in ("", "http", "https"):
            raise InvalidGs1Key(f"A GS1 Digital Link URI is an http or https URI, not {parts.scheme}:.")
        return from_path(parts.path, parts.query)
    raise InvalidGs1Key(
        "Expected a GS1 Digital Link URI (https://…/01/<GTIN>…) or a GS1 element string ((01)<GTIN>…)."
    )


def from_path(raw_path: str, query: str = "") -> Gs1Key:
    """A GS1 key from the path of a Digital Link URI (still percent-encoded; a stem before ``/01/`` and
    one trailing slash are allowed) and its query string (only the expiry date ``17`` is read)."""
    segments = raw_path.removesuffix("/").split("/")
    if GTIN not in segments:
        raise InvalidGs1Key(f"No GTIN in {raw_path!r}: a GS1 Digital Link path has /01/<GTIN>.")
    pairs = segments[segments.index(GTIN) :]
    if len(pairs) % 2:
        raise InvalidGs1Key(f"{raw_path!r} ends with {pairs[-1]!r} without a value after it.")
    fields = {GTIN: _gtin(pairs[1], padded=True)}
    position = -1
    for ai, raw in zip(pairs[2::2], pairs[3::2], strict=True):
        if ai not in QUALIFIERS:
            raise InvalidGs1Key(_not_a_qualifier(ai))
        if QUALIFIERS.index(ai) <= position:
            raise InvalidGs1Key(
                "Key qualifiers go in the order /22/ (variant), /10/ (lot), /21/ (serial), once each."
            )
        position = QUALIFIERS.index(ai)
        fields[ai] = _qualifier(ai, _decoded(raw))
    for name, value in (p.partition("=")[::2] for p in re.split("[&;]", query) if p):
        if name == EXPIRY:
            if EXPIRY in fields:
                raise InvalidGs1Key("The expiry date (17) appears more than once.")
            fields[EXPIRY] = _expiry(_decoded(value))
    return _key(fields)


def from_element_string(text: str) -> Gs1Key:
    """A GS1 key from an element string, bracketed or unbracketed (see the module docstring)."""
    fields = _bracketed(text) if text.startswith("(") else _unbracketed(text)
    if GTIN not in fields:
        raise InvalidGs1Key("The element string has no GTIN (01).")
    checks = {GTIN: lambda v: _gtin(v, padded=False), EXPIRY: _expiry}
    return _key({ai: checks[ai](v) if ai in checks else _qualifier(ai, v) for ai, v in fields.items()})


def _bracketed(text: str) -> dict[str, str]:
    parts = _BRACKETED_AI.split(text)
    if parts[0]:
        raise InvalidGs1Key(f"The element string starts with {parts[0]!r} instead of an AI in brackets.")
    return _fields(zip(parts[1::2], parts[2::2], strict=True))


def _unbracketed(text: str) -> dict[str, str]:
    rest = text[3:] if text.startswith("]") else text  # symbology identifier, e.g. ]d2 or ]Q3
    pairs: list[tuple[str, str]] = []
    while rest := rest.lstrip(GS):
        ai = rest[:2]
        if ai not in NAMES:
            raise InvalidGs1Key(f"Unsupported application identifier at {rest[:12]!r}: {_SUPPORTED}.")
        end = 2 + FIXED_LENGTH[ai] if ai in FIXED_LENGTH else _field_end(rest)
        pairs.append((ai, rest[2:end]))
        rest = rest[end:]
    return _fields(pairs)


def _field_end(rest: str) -> int:
    end = rest.find(GS)
    return len(rest) if end < 0 else end


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for ai, value in pairs:
        if ai not in NAMES:
            raise InvalidGs1Key(f"Application identifier ({ai}) is not supported here: {_SUPPORTED}.")
        if ai in fields:
            raise InvalidGs1Key(f"Application identifier ({ai}) appears more than once.")
        fields[ai] = value
    return fields


_SUPPORTED = "a GS1 key has (01) GTIN, (22) variant, (10) lot, (21) serial and (17) expiry date"


def _key(fields: dict[str, str]) -> Gs1Key:
    return Gs1Key(
        gtin=fields[GTIN],
        cpv=fields.get(CPV),
        lot=fields.get(LOT),
        serial=fields.get(SERIAL),
        expiry=fields.get(EXPIRY),
    )


def _not_a_qualifier(ai: str) -> str:
    if ai == EXPIRY:
        return "The expiry date (17) is a data attribute: put it in the query string, ?17=YYMMDD."
    return f"{ai!r} is not a key qualifier of a GTIN: the path may go on with /22/, /10/ and /21/ only."


def _decoded(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise InvalidGs1Key(f"{raw!r} is not valid percent-encoded UTF-8.") from None


def _gtin(value: str, *, padded: bool) -> str:
    """A GTIN as 14 digits with a correct check digit; ``padded`` also takes GTIN-8, -12 and -13."""
    lengths = (8, 12, 13, 14) if padded else (14,)
    if not value.isascii() or not value.isdigit() or len(value) not in lengths:
        shapes = "8, 12, 13 or 14" if padded else "14"
        raise InvalidGs1Key(f"A GTIN is {shapes} digits; got {value!r}.")
    expected = ean.calc_check_digit(value[:-1])
    if value[-1] != expected:
        raise InvalidGs1Key(f"GTIN {value} has a wrong check digit: it should end in {expected}.")
    return value.zfill(14)


def _qualifier(ai: str, value: str) -> str:
    if not 1 <= len(value) <= MAX_QUALIFIER_LENGTH:
        raise InvalidGs1Key(
            f"A {NAMES[ai]} ({ai}) has 1 to {MAX_QUALIFIER_LENGTH} characters; got {len(value)}."
        )
    if not _CSET82.fullmatch(value):
        raise InvalidGs1Key(
            f"The {NAMES[ai]} ({ai}) {value!r} has characters outside the GS1 character set 82 "
            "(letters, digits and !\"%&'()*+,-./:;<=>?_)."
        )
    return value


def _expiry(value: str) -> str:
    if not (len(value) == 6 and value.isascii() and value.isdigit()):
        raise InvalidGs1Key(f"An expiry date (17) is six digits, YYMMDD; got {value!r}.")
    _date(value)
    return value


def _date(yymmdd: str, today: date | None = None) -> date:
    """The date of a GS1 YYMMDD field: the century is the one that puts it at most 49 years ahead
    and 50 years back of ``today`` (GS1 General Specifications 7.12); a day of 00 is the month's last."""
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    current = (today or date.today()).year
    year = current - current % 100 + yy
    if year - current >= 51:
        year -= 100
    elif year - current <= -50:
        year += 100
    if not 1 <= month <= 12:
        raise InvalidGs1Key(f"The date {yymmdd} has no month {month:02d}.")
    last = calendar.monthrange(year, month)[1]
    if day > last:
        raise InvalidGs1Key(f"The date {yymmdd} has day {day:02d}, but {year}-{month:02d} has {last} days.")
    return date(year, month, day or last)
