"""GB/T 4754-2017 industry codes (idnode.model.industry)."""

from __future__ import annotations

import pytest

from idnode.model.errors import InvalidEnterprise
from idnode.model.industry import Industry, divisions, parse_industry, sections


def test_the_table_has_every_section_and_the_manufacturing_divisions() -> None:
    assert list(sections()) == [chr(c) for c in range(ord("A"), ord("T") + 1)]
    assert sections()["C"] == "制造业"
    manufacturing = [code for code, (section, _) in divisions().items() if section == "C"]
    assert manufacturing == [str(n) for n in range(13, 44)]
    assert len(divisions()) == 97 and divisions()["97"] == ("T", "国际组织")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C", Industry("C", "制造业")),
        ("C34", Industry("C34", "通用设备制造业")),
        (" c341 ", Industry("C341", "通用设备制造业")),
        ("C3411", Industry("C3411", "通用设备制造业")),
        ("3411", Industry("C3411", "通用设备制造业")),
        ("I65", Industry("I65", "软件和信息技术服务业")),
        ("01", Industry("A01", "农业")),
    ],
)
def test_valid_codes(raw: str, expected: Industry) -> None:
    assert parse_industry(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "required"),
        (None, "required"),
        (34, "required"),
        ("U", "such as"),  # no section U
        ("C3", "such as"),  # one digit
        ("C34111", "such as"),  # five digits
        ("C34-1", "such as"),
        ("通用设备制造业", "such as"),  # a name, not a code
        ("C99", "no division 99"),
        ("D34", "belongs to section C"),
    ],
)
def test_invalid_codes(raw: object, why: str) -> None:
    with pytest.raises(InvalidEnterprise, match=why):
        parse_industry(raw)
