"""Enterprises: the firms that own an enterprise prefix under this node."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from stdnum.cn import uscc
from stdnum.exceptions import ValidationError

from idnode.model.errors import InvalidEnterprise

YANCHENG_DISTRICTS: tuple[str, ...] = (
    "东台市",
    "建湖县",
    "射阳县",
    "阜宁县",
    "滨海县",
    "响水县",
    "大丰区",
    "盐都区",
    "亭湖区",
    "盐城经开区",
    "盐南高新区",
)
MAX_TEXT = 200


class EnterpriseStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


def validate_uscc(raw: Any) -> str:
    """Return the compact 统一社会信用代码 (unified social credit code); raise InvalidEnterprise."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidEnterprise("uscc (统一社会信用代码) is required.")
    try:
        return uscc.validate(raw)
    except ValidationError as exc:
        raise InvalidEnterprise(f"Invalid unified social credit code {raw!r}: {exc.message}") from None


def text_field(
    data: dict[str, Any], key: str, *, required: bool, limit: int = MAX_TEXT, lines: bool = False
) -> str:
    """The stripped text of ``data[key]`` (absent or None: ""); raise InvalidEnterprise if it is not a
    string, is required and empty, is longer than ``limit``, or holds control characters (line breaks
    and tabs allowed only with ``lines``)."""
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidEnterprise(f"'{key}' must be a string.")
    value = value.strip()
    if required and not value:
        raise InvalidEnterprise(f"'{key}' is required.")
    if len(value) > limit:
        raise InvalidEnterprise(f"'{key}' is longer than {limit} characters.")
    if any(not ch.isprintable() and not (lines and ch in "\r\n\t") for ch in value):
        raise InvalidEnterprise(f"'{key}' contains non-printable characters.")
    return value


@dataclass(frozen=True, slots=True)
class EnterpriseDraft:
    """What the operator supplies when onboarding an enterprise (validated on construction)."""

    name: str
    uscc: str
    district: str
    industry: str
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    registered_on: date | None = None

    FIELDS = ("name", "uscc", "district", "industry", "contact_name", "contact_phone", "contact_email")

    @classmethod
    def from_json(cls, data: Any, districts: tuple[str, ...]) -> EnterpriseDraft:
        """Validate an onboarding request; raise InvalidEnterprise naming the bad field."""
        if not isinstance(data, dict):
            raise InvalidEnterprise("The enterprise must be a JSON object.")
        unknown = set(data) - set(cls.FIELDS) - {"registered_on"}
        if unknown:
            raise InvalidEnterprise(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        district = text_field(data, "district", required=True)
        if districts and district not in districts:
            raise InvalidEnterprise(f"Unknown district {district!r}; expected one of {', '.join(districts)}.")
        return cls(
            name=text_field(data, "name", required=True),
            uscc=validate_uscc(data.get("uscc")),
            district=district,
            industry=text_field(data, "industry", required=True),
            contact_name=text_field(data, "contact_name", required=False),
            contact_phone=text_field(data, "contact_phone", required=False),
            contact_email=text_field(data, "contact_email", required=False),
            registered_on=parse_date(data.get("registered_on")),
        )


def parse_date(raw: Any) -> date | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidEnterprise("Dates must be strings in YYYY-MM-DD form.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidEnterprise(f"Invalid date {raw!r}; expected YYYY-MM-DD.") from None


@dataclass(frozen=True, slots=True)
class Enterprise:
    """An onboarded enterprise and its prefix."""

    prefix: str
    number: int
    name: str
    uscc: str
    district: str
    industry: str
    contact_name: str
    contact_phone: str
    contact_email: str
    status: EnterpriseStatus
    registered_on: date
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "name": self.name,
            "uscc": self.uscc,
            "district": self.district,
            "industry": self.industry,
            "contact_name": self.contact_name,
            "contact_phone": self.contact_phone,
            "contact_email": self.contact_email,
            "status": self.status.value,
            "registered_on": self.registered_on.isoformat(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
