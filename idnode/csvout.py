"""Statistics as CSV for spreadsheets, the same from every front end."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def flattened(figures: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """``{"figure": "a.b", "value": v}`` rows for every leaf of nested ``figures``."""
    rows: list[dict[str, Any]] = []
    for key, value in figures.items():
        name = f"{prefix}.{key}" if prefix else key
        rows.extend(flattened(value, name) if isinstance(value, dict) else [{"figure": name, "value": value}])
    return rows


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as CSV text with a header row (the first row's keys), starting with a byte-order mark so
    spreadsheet programs read UTF-8 (and the Chinese names) correctly."""
    out = io.StringIO()
    out.write("\ufeff")
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
