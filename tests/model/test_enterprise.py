"""Enterprise onboarding validation (idnode/model/enterprise.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.model.enterprise import (
    MAX_TEXT,
    YANCHENG_DISTRICTS,
    Enterprise,
    EnterpriseDraft,
    EnterpriseStatus,
    parse_date,
    validate_uscc,
)
from idnode.model.errors import InvalidEnterprise
from idnode.sample import make_uscc

USCC = make_uscc(1)
TEXT_FIELDS = ("name", "district", "industry", "contact_name", "contact_phone", "contact_email")


def draft(**changes: Any) -> dict[str, Any]:
    """A valid onboarding request with ``changes`` applied (a value of ... removes the key)."""
    data: dict[str, Any] = {
        "name": "盐城示范泵业有限公司",
        "uscc": USCC,
        "district": "盐都区",
        "industry": "通用设备制造业",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def parse(data: Any, districts: tuple[str, ...] = YANCHENG_DISTRICTS) -> EnterpriseDraft:
    return EnterpriseDraft.from_json(data, districts)


def test_valid_draft() -> None:
    result = parse(
        draft(
            contact_name="王工",
            contact_phone="0515-88888888",
            contact_email="a@b.cn",
            registered_on="2024-03-01",
        )
    )
    assert result == EnterpriseDraft(
        name="盐城示范泵业有限公司",
        uscc=USCC,
        district="盐都区",
        industry="通用设备制造业",
        contact_name="王工",
        contact_phone="0515-88888888",
        contact_email="a@b.cn",
        registered_on=date(2024, 3, 1),
    )


def test_optional_fields_default_to_empty() -> None:
    result = parse(draft())
    assert (result.contact_name, result.contact_phone, result.contact_email) == ("", "", "")
    assert result.registered_on is None


def test_text_is_stripped_and_none_means_empty() -> None:
    result = parse(draft(name="  泵业公司 ", contact_name=None))
    assert result.name == "泵业公司"
    assert result.contact_name == ""


@pytest.mark.parametrize("serial", [0, 1, 42, 9_999_999])
def test_make_uscc_codes_are_valid(serial: int) -> None:
    code = make_uscc(serial)
    assert len(code) == 18
    assert validate_uscc(code) == code
    assert parse(draft(uscc=code)).uscc == code


def test_uscc_is_normalised_to_compact_upper_case() -> None:
    assert parse(draft(uscc=USCC.lower())).uscc == USCC


def _with_wrong_check_digit(code: str) -> str:
    replacement = "0" if code[-1] != "0" else "1"
    return code[:-1] + replacement


def test_invalid_uscc_checksum() -> None:
    bad = _with_wrong_check_digit(USCC)
    with pytest.raises(InvalidEnterprise) as info:
        parse(draft(uscc=bad))
    message = info.value.message
    assert "unified social credit code" in message
    assert bad in message
    assert "check" in message.lower()
    assert info.value.response_code == 202


@pytest.mark.parametrize("bad", ["123", USCC + "1", "91320900MA000000I1", "XX" + USCC[2:]])
def test_malformed_uscc(bad: str) -> None:
    with pytest.raises(InvalidEnterprise, match="Invalid unified social credit code"):
        validate_uscc(bad)


@pytest.mark.parametrize("missing", [..., None, "", "   ", 5])
def test_uscc_required(missing: Any) -> None:
    with pytest.raises(InvalidEnterprise, match="uscc"):
        parse(draft(uscc=missing))


@given(st.integers(min_value=0, max_value=9_999_999))
def test_every_wrong_check_digit_is_rejected(serial: int) -> None:
    code = make_uscc(serial)
    assert validate_uscc(code) == code
    with pytest.raises(InvalidEnterprise):
        validate_uscc(_with_wrong_check_digit(code))


def test_unknown_district() -> None:
    with pytest.raises(InvalidEnterprise) as info:
        parse(draft(district="南京市"))
    assert "Unknown district '南京市'" in info.value.message
    assert "盐都区" in info.value.message


@pytest.mark.parametrize("district", YANCHENG_DISTRICTS)
def test_every_yancheng_district_accepted(district: str) -> None:
    assert parse(draft(district=district)).district == district


def test_empty_district_list_accepts_any_district() -> None:
    assert parse(draft(district="南京市"), districts=()).district == "南京市"
    with pytest.raises(InvalidEnterprise, match="'district' is required"):
        parse(draft(district=""), districts=())


@pytest.mark.parametrize("field", ["name", "district", "industry"])
@pytest.mark.parametrize("missing", [..., "", "  ", None])
def test_required_text_fields(field: str, missing: Any) -> None:
    with pytest.raises(InvalidEnterprise, match=f"'{field}' is required"):
        parse(draft(**{field: missing}))


def test_unknown_fields_are_listed() -> None:
    with pytest.raises(InvalidEnterprise, match=r"Unknown field\(s\): prefix, zz\."):
        parse(draft(zz=1, prefix="88.999.1"))


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("bad", [5, ["x"], {"a": "b"}, True])
def test_non_string_fields(field: str, bad: Any) -> None:
    with pytest.raises(InvalidEnterprise, match=f"'{field}' must be a string"):
        parse(draft(**{field: bad}))


def test_text_length_limit() -> None:
    assert parse(draft(name="厂" * MAX_TEXT)).name == "厂" * MAX_TEXT
    with pytest.raises(InvalidEnterprise, match=f"'name' is longer than {MAX_TEXT}"):
        parse(draft(name="厂" * (MAX_TEXT + 1)))


@pytest.mark.parametrize("text", ["a\nb", "a\x00b", "a\u200bb"])
def test_non_printable_text_rejected(text: str) -> None:
    with pytest.raises(InvalidEnterprise, match="'contact_name' contains non-printable"):
        parse(draft(contact_name=text))


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_draft_must_be_an_object(data: Any) -> None:
    with pytest.raises(InvalidEnterprise, match="JSON object"):
        parse(data)


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("2024-02-29", date(2024, 2, 29))])
def test_parse_date(raw: Any, expected: date | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["2023-02-29", "2024-13-01", "yesterday", "2024/01/01"])
def test_parse_date_rejects_bad_strings(raw: str) -> None:
    with pytest.raises(InvalidEnterprise, match="Invalid date"):
        parse_date(raw)
    with pytest.raises(InvalidEnterprise, match="Invalid date"):
        parse(draft(registered_on=raw))


@pytest.mark.parametrize("raw", [20240101, ["2024-01-01"], True])
def test_parse_date_rejects_non_strings(raw: Any) -> None:
    with pytest.raises(InvalidEnterprise, match="YYYY-MM-DD"):
        parse(draft(registered_on=raw))


def test_enterprise_to_json() -> None:
    now = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    enterprise = Enterprise(
        prefix="88.999.1001",
        number=1001,
        name="n",
        uscc=USCC,
        district="盐都区",
        industry="i",
        contact_name="",
        contact_phone="",
        contact_email="",
        status=EnterpriseStatus.SUSPENDED,
        registered_on=date(2024, 3, 1),
        created_at=now,
        updated_at=now,
    )
    out = enterprise.to_json()
    assert out["status"] == "suspended"
    assert out["registered_on"] == "2024-03-01"
    assert out["created_at"] == "2024-03-01T08:30:00+00:00"
    assert out["prefix"] == "88.999.1001"
    assert "number" not in out
