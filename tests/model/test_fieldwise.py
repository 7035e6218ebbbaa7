"""The field-by-field shortcut never changes a template's verdict: same problems as whole validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.model.template import Template, _located

TEMPLATES = sorted((Path(__file__).parents[2] / "schema" / "templates").glob("*.json"))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def whole_document_problems(template: Template, metadata: Any) -> list[tuple[str, str]]:
    return sorted({p for error in template.validator.iter_errors(metadata) for p in _located(error)})


def variants(document: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects near the template's example: fields kept, dropped, replaced by any JSON, or added."""
    example = document["examples"][0]
    fields = sorted(set(example) | set(document["properties"]))
    choice = st.sampled_from(["keep", "drop", "junk"])
    return st.builds(
        lambda plan, junk, extra: {
            **{
                name: (junk[name] if action == "junk" else example[name])
                for name, action in zip(fields, plan, strict=True)
                if action != "drop" and (action == "junk" or name in example)
            },
            **extra,
        },
        st.lists(choice, min_size=len(fields), max_size=len(fields)),
        st.fixed_dictionaries({name: json_values for name in fields}),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    )


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_shipped_templates_take_the_shortcut_and_keep_their_verdicts(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    template = Template(path.stem, 1, document)
    assert template.shortcut is not None

    @settings(max_examples=150, deadline=None)
    @given(variants(document))
    def same_verdict(metadata: dict[str, Any]) -> None:
        # twice: the second answer comes from remembered field verdicts
        assert template.problems(metadata) == whole_document_problems(template, metadata)
        assert template.problems(metadata) == whole_document_problems(template, metadata)

    same_verdict()


FIRST = json.loads(TEMPLATES[0].read_text(encoding="utf-8"))
FIRST_FIELD = next(iter(FIRST["examples"][0]))


@pytest.mark.parametrize(
    ("extra", "added"),
    [
        ({"minProperties": 50}, {}),
        ({"dependentRequired": {FIRST_FIELD: ["nonexistent"]}}, {}),
        ({"allOf": [{"required": ["nonexistent"]}]}, {}),
        ({"patternProperties": {"^x": {"type": "integer"}}}, {"xtra": "text"}),
        ({"additionalProperties": {"type": "integer"}}, {"xtra": "text"}),
    ],
    ids=lambda case: next(iter(case)) if case else "",
)
def test_templates_of_another_shape_are_validated_whole(extra: dict[str, Any], added: dict[str, Any]) -> None:
    template = Template("shaped", 1, FIRST | extra)
    assert template.shortcut is None
    metadata = FIRST["examples"][0] | added
    assert template.problems(metadata) == whole_document_problems(template, metadata)
    assert template.problems(metadata)  # the extra rule refuses the example


def test_a_field_schema_with_a_reference_is_validated_whole() -> None:
    other = next(name for name in FIRST["properties"] if name != FIRST_FIELD)
    properties = FIRST["properties"] | {FIRST_FIELD: {"$ref": f"#/properties/{other}"}}
    template = Template("referring", 1, FIRST | {"properties": properties})
    assert template.shortcut is None
    metadata = FIRST["examples"][0]
    assert template.problems(metadata) == whole_document_problems(template, metadata)
