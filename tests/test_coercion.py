"""Spreadsheet cells to the JSON types a template's schema declares (idnode.coercion)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.coercion import CellCoercion
from idnode.model.errors import InvalidValue

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "model": {"type": "string", "title": "型号"},
        "power_w": {"type": "integer", "title": "额定功率"},
        "efficiency": {"type": "number"},
        "bifacial": {"type": "boolean", "title": "双面"},
        "cells": {"type": "array"},
        "size": {"type": "object"},
        "warranty": {"type": ["integer", "string"]},
        "note": {"type": ["null", "string"]},
        "free": {"description": "no type"},
    },
}


def test_cells_become_the_types_the_schema_declares() -> None:
    cells = {
        "型号": "JAM72S30",
        "额定功率": "550",
        "efficiency": "21.3",
        "双面": "是",
        "cells": '["mono", 144]',
        "size": '{"mm": [2278, 1134]}',
        "warranty": "25 年",
        "note": "null",
        "free": "42",
        "not in schema": "7",
    }
    assert CellCoercion(SCHEMA)(cells) == {
        "model": "JAM72S30",
        "power_w": 550,
        "efficiency": 21.3,
        "bifacial": True,
        "cells": ["mono", 144],
        "size": {"mm": [2278, 1134]},
        "warranty": "25 年",
        "note": None,
        "free": "42",
        "not in schema": "7",
    }
    assert CellCoercion(SCHEMA)({"efficiency": "-2", "warranty": "25", "bifacial": "FALSE"}) == {
        "efficiency": -2,
        "warranty": 25,
        "bifacial": False,
    }


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"额定功率": "550.5"}, "Field 'power_w': '550.5' is not a valid integer."),
        ({"power_w": "1_000"}, "Field 'power_w': '1_000' is not a valid integer."),
        ({"efficiency": "nan"}, "Field 'efficiency': 'nan' is not a valid number."),
        ({"efficiency": "1e999"}, "Field 'efficiency': '1e999' is not a valid number."),
        ({"bifacial": "maybe"}, "Field 'bifacial': 'maybe' is not a valid boolean."),
        ({"cells": '{"a": 1}'}, "Field 'cells': '{\"a\": 1}' is not a valid array."),
        ({"size": "[1]"}, "Field 'size': '[1]' is not a valid object."),
        ({"model": "a", "型号": "b"}, "Two fields fill 'model' (the second is '型号')."),
    ],
)
def test_cells_that_do_not_fit_are_refused_by_name(cells: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        CellCoercion(SCHEMA)(cells)
    assert refused.value.message == message


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_survive_the_trip_through_text(integer: int, number: float) -> None:
    cells = {"power_w": str(integer), "efficiency": repr(number)}
    assert CellCoercion(SCHEMA)(cells) == {"power_w": integer, "efficiency": number}
