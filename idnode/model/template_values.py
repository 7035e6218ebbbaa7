"""A record's template fields held as values rather than as a METADATA text (pure rules).

A template whose fields are all strings (every SNMS data template) lets a record hold each field as
the value at the field's index (``x-id-index``, or as ``idnode.model.data_template`` numbers it), of
the field's type, format ``string``: how the SNMS API registers records. ``metadata_from_values``
builds the object those values make, which the template's JSON Schema then checks exactly as it
checks a METADATA object; ``Problem`` words what is wrong in English (Handle REST) or Chinese (SNMS).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from idnode.model.data_template import Item
from idnode.model.errors import TemplateMismatch
from idnode.model.values import HandleValue


def holds_values(items: Iterable[Item]) -> bool:
    """True if a record may hold this template's fields as values: every item is a string."""
    items = tuple(items)
    return bool(items) and all(item.type == "string" for item in items)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why values do not fit a template: the item concerned, a rule keyword and the English reason."""

    item: Item
    keyword: str  # "type" (value type or format), "required", "disabled", or a JSON Schema keyword
    reason: str
    limit: Any = None

    def chinese(self) -> str:
        """The problem as the SNMS API words it."""
        item = self.item
        named = f"{item.name}（索引{item.id_index}，类型{item.id_type}）"
        if self.keyword == "type":
            return f"非法操作，索引{item.id_index}的类型应为{item.id_type}，格式应为string"
        if self.keyword == "required":
            return f"缺少必填的模板属性{named}"
        if self.keyword == "disabled":
            return f"非法操作，模板属性{named}已禁用"
        if self.keyword == "minLength":
            return f"模板属性{named}的长度不能小于{self.limit}"
        if self.keyword == "maxLength":
            return f"模板属性{named}的长度不能大于{self.limit}"
        return f"模板属性{named}的值不符合模板：{self.reason}"

    def english(self) -> str:
        return f"/{self.item.id_type} (index {self.item.id_index}): {self.reason}"


def metadata_from_values(
    items: Iterable[Item], values: Iterable[HandleValue]
) -> tuple[dict[str, str], list[Problem]]:
    """The metadata object the values at the items' indexes make (``{idType: value}``), and the
    problems of values there that cannot be fields (another type, or not a string)."""
    by_index = {item.id_index: item for item in items}
    content: dict[str, str] = {}
    problems = []
    for value in values:
        item = by_index.get(value.index)
        if item is None:
            continue
        if value.type != item.id_type or value.format != "string":
            shown = f"type {value.type!r}, format {value.format}"
            problems.append(
                Problem(item, "type", f"must be type {item.id_type!r}, format string; is {shown}")
            )
        else:
            content[item.id_type] = value.data
    return content, problems


def schema_problems(items: Iterable[Item], errors: Iterable[Any]) -> Iterator[Problem]:
    """Problems for the JSON Schema validation errors of a metadata object built from values."""
    by_type = {item.id_type: item for item in items}
    for error in errors:
        path = list(error.absolute_path)
        if error.validator == "required":
            for name in error.validator_value:
                if name in by_type and name not in error.instance:
                    yield Problem(by_type[name], "required", "required field is missing")
        elif path and path[0] in by_type:
            item = by_type[path[0]]
            keyword = "disabled" if error.validator == "not" else error.validator
            reason = "the item is disabled" if keyword == "disabled" else error.message
            yield Problem(item, keyword, reason, error.validator_value)


def require_known(items: Iterable[Item], values: Iterable[HandleValue]) -> None:
    """Raise TemplateMismatch for the first value at an index that is no item of the template (the
    SNMS API sends only template attributes)."""
    known = {item.id_index for item in items}
    for value in values:
        if value.index not in known:
            raise TemplateMismatch(f"非法操作，索引{value.index}在模板中不存在")
