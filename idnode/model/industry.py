"""Industry codes of GB/T 4754-2017 (国民经济行业分类): sections A-T and their divisions.

A code is a section letter alone (``C``), or a division, group or class code of 2, 3 or 4 digits,
written with its section letter (``C34``, ``C341``, ``C3411``) or without it (``3411``). The shipped
table (data/gbt4754_2017.csv) holds the sections and the two-digit divisions, so a group or class code
is checked by format and by its division, and named by its division.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from idnode.model.errors import InvalidEnterprise

_CODE_RE = re.compile(r"([A-T])?(\d{2}(?:\d{1,2})?)?")


@dataclass(frozen=True, slots=True)
class Industry:
    """A validated industry: its canonical code (section letter first) and readable name."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class _Table:
    sections: dict[str, str]  # letter -> name
    divisions: dict[str, tuple[str, str]]  # two digits -> (section letter, name)


@cache
def _table() -> _Table:
    sections: dict[str, str] = {}
    divisions: dict[str, tuple[str, str]] = {}
    section = ""
    text = resources.files("idnode.model").joinpath("data/gbt4754_2017.csv").read_text("utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, name = line.split(",", 1)
        if code.isalpha():
            section = code
            sections[code] = name
        else:
            divisions[code] = (section, name)
    return _Table(sections, divisions)


def sections() -> dict[str, str]:
    """The sections (门类): letter -> name."""
    return dict(_table().sections)


def divisions() -> dict[str, tuple[str, str]]:
    """The divisions (大类): two-digit code -> (section letter, name)."""
    return dict(_table().divisions)


def parse_industry(raw: object) -> Industry:
    """Validate a GB/T 4754-2017 code; raise InvalidEnterprise saying what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidEnterprise("industry (行业代码, GB/T 4754-2017, e.g. C34 or C3411) is required.")
    text = raw.strip().upper()
    match = _CODE_RE.fullmatch(text)
    if not match or not any(match.groups()):
        raise InvalidEnterprise(
            f"Invalid industry code {raw!r}: expected a GB/T 4754-2017 code such as C, C34, C341 or C3411."
        )
    letter, digits = match.groups()
    table = _table()
    if digits is None:
        return Industry(letter, table.sections[letter])
    division = table.divisions.get(digits[:2])
    if division is None:
        raise InvalidEnterprise(
            f"Invalid industry code {raw!r}: GB/T 4754-2017 has no division {digits[:2]}."
        )
    section, name = division
    if letter is not None and letter != section:
        raise InvalidEnterprise(
            f"Invalid industry code {raw!r}: "
            f"division {digits[:2]} belongs to section {section}, not {letter}."
        )
    return Industry(section + digits, name)
