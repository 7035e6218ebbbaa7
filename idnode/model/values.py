"""Handle values and their data formats, in the Handle.Net 9 JSON representation.

A value is ``{"index", "type", "data": {"format", "value"}, "ttl", "timestamp"}`` plus, when they are
not the defaults, ``permissions`` (four bits: admin read, admin write, public read, public write) and
``references``. Each data format is a small class with paired ``from_json``/``to_json``; ``from_json``
validates and normalises what a client sent, ``to_json`` is what every reader gets back.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from idnode.model.errors import InvalidValue
from idnode.model.permissions import parse_admin_permissions

MAX_INDEX = 2**31 - 1
MAX_TYPE_LENGTH = 255
DEFAULT_TTL = 86400
DEFAULT_PERMISSIONS = "1110"  # admin read, admin write, public read, no public write

HS_ADMIN = "HS_ADMIN"
HS_SECKEY = "HS_SECKEY"
HS_VLIST = "HS_VLIST"
TEMPLATE = "TEMPLATE"  # names the record's metadata template: "<name>@<version>" (see idnode/metadata.py)
METADATA = "METADATA"  # the record's metadata: the text of a JSON object

_HEX_RE = re.compile(r"(?:[0-9a-fA-F]{2})*")


class DataFormat:
    """Base of the data formats: ``name`` is the JSON ``format`` string."""

    name: ClassVar[str]

    @classmethod
    def from_json(cls, value: Any) -> Any:
        """Validate a client's ``value`` and return its normalised JSON form; raise InvalidValue."""
        raise NotImplementedError

    @classmethod
    def to_json(cls, value: Any) -> Any:
        """Return the normalised value as readers see it."""
        return value


class StringFormat(DataFormat):
    name = "string"

    @classmethod
    def from_json(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue("A 'string' value must be a JSON string.")
        return value


class Base64Format(DataFormat):
    name = "base64"

    @classmethod
    def from_json(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidValue("A 'base64' value must be a JSON string.")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII input
            raise InvalidValue(f"Invalid base64 data: {exc}.") from None
        return base64.b64encode(raw).decode("ascii")


class HexFormat(DataFormat):
    name = "hex"

    @classmethod
    def from_json(cls, value: Any) -> str:
        if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
            raise InvalidValue("A 'hex' value must be a string of hexadecimal byte pairs.")
        return value.lower()


def _value_reference(ref: Any, what: str) -> dict[str, Any]:
    """Normalise ``{"handle": h, "index": i}`` (index may arrive as a string)."""
    from idnode.model.identifier import Identifier  # identifier imports nothing from here

    if not isinstance(ref, dict) or "handle" not in ref or "index" not in ref:
        raise InvalidValue(f"{what} must be an object with 'handle' and 'index'.")
    index = _parse_index(ref["index"], f"{what} index")
    try:
        handle = str(Identifier.parse(ref["handle"]))
    except Exception as exc:
        raise InvalidValue(f"{what} handle: {exc}") from None
    return {"handle": handle, "index": index}


class AdminFormat(DataFormat):
    """HS_ADMIN data: ``{"handle", "index", "permissions"}`` (12 bits, bit 0 rightmost)."""

    name = "admin"

    @classmethod
    def from_json(cls, value: Any) -> dict[str, Any]:
        ref = _value_reference(value, "An 'admin' value")
        ref["permissions"] = parse_admin_permissions(value.get("permissions", ""))
        return ref


class VlistFormat(DataFormat):
    """HS_VLIST data: a list of value references ``[{"handle", "index"}, ...]``."""

    name = "vlist"

    @classmethod
    def from_json(cls, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise InvalidValue("A 'vlist' value must be a JSON array of {handle, index} objects.")
        return [_value_reference(ref, "A 'vlist' entry") for ref in value]


class SiteFormat(DataFormat):
    """HS_SITE data, kept as the JSON object the client sent."""

    name = "site"

    @classmethod
    def from_json(cls, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidValue("A 'site' value must be a JSON object.")
        return value


class KeyFormat(DataFormat):
    """HS_PUBKEY data: a JWK-style object or an encoded key string, kept as sent."""

    name = "key"

    @classmethod
    def from_json(cls, value: Any) -> dict[str, Any] | str:
        if not isinstance(value, dict | str):
            raise InvalidValue("A 'key' value must be a JSON object or string.")
        return value


FORMATS: dict[str, type[DataFormat]] = {
    fmt.name: fmt
    for fmt in (StringFormat, Base64Format, HexFormat, AdminFormat, VlistFormat, SiteFormat, KeyFormat)
}


def _parse_index(raw: Any, what: str = "index") -> int:
    """An index from a JSON number or a string of ASCII digits (Handle clients send both)."""
    integral_float = isinstance(raw, float) and raw.is_integer()
    digits = isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,12}", raw)
    if (isinstance(raw, int) and not isinstance(raw, bool)) or integral_float or digits:
        index = int(raw)
    else:
        raise InvalidValue(f"The {what} must be an integer, got {raw!r}.")
    if not 1 <= index <= MAX_INDEX:
        raise InvalidValue(f"The {what} {index} is out of range (1..{MAX_INDEX}).")
    return index


def parse_value_permissions(raw: Any) -> str:
    """Parse a value's permissions string the way Handle.Net does: bits counted from the right."""
    if raw is None:
        return DEFAULT_PERMISSIONS
    if not isinstance(raw, str) or not re.fullmatch(r"\*|[01]{1,4}", raw):
        raise InvalidValue("Value permissions must be '*' or up to four 0/1 characters.")
    if raw == "*":
        return "1111"
    return (DEFAULT_PERMISSIONS[: 4 - len(raw)] + raw) if len(raw) < 4 else raw


@functools.lru_cache(maxsize=4096)  # writes stamp every value with the same few seconds
def iso_timestamp(epoch_seconds: int) -> str:
    """ISO-8601 UTC without fractional seconds, as Handle.Net writes timestamps."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class HandleValue:
    """One value of a record. ``data`` is the normalised JSON form of ``format``."""

    index: int
    type: str
    format: str
    data: Any
    ttl: int = DEFAULT_TTL
    timestamp: int = 0
    permissions: str = DEFAULT_PERMISSIONS
    references: list[dict[str, Any]] = field(default_factory=list)

    @property
    def public_read(self) -> bool:
        return self.permissions[2] == "1" and self.type != HS_SECKEY

    @property
    def admin_read(self) -> bool:
        return self.permissions[0] == "1" and self.type != HS_SECKEY

    def stamped(self, timestamp: int) -> HandleValue:
        """A copy carrying the server's write time."""
        # The constructor, not dataclasses.replace: every value of every write passes here, and
        # replace costs three times as much.
        return HandleValue(
            self.index,
            self.type,
            self.format,
            self.data,
            self.ttl,
            timestamp,
            self.permissions,
            self.references,
        )

    def same_content(self, other: HandleValue) -> bool:
        """True when two values differ at most in their timestamp."""
        return (
            self.index == other.index
            and self.type == other.type
            and self.format == other.format
            and self.data == other.data
            and self.ttl == other.ttl
            and self.permissions == other.permissions
            and self.references == other.references
        )

    @classmethod
    def from_json(cls, obj: Any) -> HandleValue:
        """Parse a client's value object; raise InvalidValue with a message naming the problem."""
        if not isinstance(obj, dict):
            raise InvalidValue("Each value must be a JSON object.")
        if "index" not in obj:
            raise InvalidValue("A value is missing its 'index'.")
        index = _parse_index(obj["index"])
        vtype = obj.get("type")
        if not isinstance(vtype, str) or not vtype or len(vtype) > MAX_TYPE_LENGTH:
            raise InvalidValue(f"Value {index}: 'type' must be a non-empty string of at most 255 characters.")
        if not vtype.isprintable():
            raise InvalidValue(f"Value {index}: 'type' contains non-printable characters.")
        fmt, data = _parse_data(obj.get("data"), index)
        if vtype == HS_ADMIN and fmt != "admin":
            raise InvalidValue(f"Value {index}: HS_ADMIN data must have format 'admin'.")
        if fmt == "admin" and vtype != HS_ADMIN:
            raise InvalidValue(f"Value {index}: format 'admin' is only for HS_ADMIN values.")
        if vtype == HS_VLIST and fmt != "vlist":
            raise InvalidValue(f"Value {index}: HS_VLIST data must have format 'vlist'.")
        ttl = obj.get("ttl", DEFAULT_TTL)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_INDEX:
            raise InvalidValue(f"Value {index}: 'ttl' must be a whole number of seconds (0 = never cache).")
        references = obj.get("references", [])
        if references is None:
            references = []
        if not isinstance(references, list):
            raise InvalidValue(f"Value {index}: 'references' must be an array.")
        return cls(
            index=index,
            type=vtype,
            format=fmt,
            data=data,
            ttl=ttl,
            permissions=parse_value_permissions(obj.get("permissions")),
            references=[_value_reference(ref, f"Value {index} reference") for ref in references],
        )

    def to_json(self) -> dict[str, Any]:
        """The Handle.Net 9 JSON form; permissions and references only when not the defaults."""
        out: dict[str, Any] = {
            "index": self.index,
            "type": self.type,
            "data": {"format": self.format, "value": FORMATS[self.format].to_json(self.data)},
        }
        if self.permissions != DEFAULT_PERMISSIONS:
            out["permissions"] = self.permissions
        out["ttl"] = self.ttl
        out["timestamp"] = iso_timestamp(self.timestamp)
        if self.references:
            out["references"] = self.references
        return out

    def to_storage(self) -> list[Any]:
        """Compact positional form kept in the store (see ``from_storage``)."""
        return [
            self.index,
            self.type,
            self.format,
            self.data,
            self.ttl,
            self.timestamp,
            self.permissions,
            self.references,
        ]

    @classmethod
    def from_storage(cls, row: list[Any]) -> HandleValue:
        """Inverse of ``to_storage``; trusts the store (values were validated on write)."""
        return cls(*row)


def _parse_data(raw: Any, index: int) -> tuple[str, Any]:
    """Return (format, normalised data) for a value's ``data``; a bare string means format 'string'."""
    if isinstance(raw, str):
        return "string", raw
    if not isinstance(raw, dict) or "value" not in raw:
        raise InvalidValue(f"Value {index}: 'data' must be a string or an object with 'format' and 'value'.")
    fmt = raw.get("format", "string")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise InvalidValue(
            f"Value {index}: unknown data format {fmt!r}; expected one of {', '.join(FORMATS)}."
        )
    fmt = fmt.lower()
    try:
        return fmt, FORMATS[fmt].from_json(raw["value"])
    except InvalidValue as exc:
        raise InvalidValue(f"Value {index}: {exc.message}") from None
