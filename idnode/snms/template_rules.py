"""The SNMS data-template rules an identifier's values must keep (docs/idhub/snms/v3/handle-operate.md:
"接口会根据templateVersion获取定义的元数据模板来限制注册数据", "index和type必须和模板中的保持一致").

A template (v5, ``/snms/api/v5/template``) lists items: an index (``idIndex``), a type (``idType``),
a Chinese name, whether it is required, whether it is enabled (``state``), and length limits for its
string values. A record following the template has values only at enabled items' indexes, each of the
item's type and within its lengths, and a value for every enabled required item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from idnode.model.errors import SnmsInvalid
from idnode.model.values import HandleValue


class TemplateItem(Protocol):
    """One item of a data template, as the checks need it."""

    @property
    def id_index(self) -> int: ...
    @property
    def id_type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def min_length(self) -> int | None: ...
    @property
    def max_length(self) -> int | None: ...


def require_template_values(items: Sequence[TemplateItem], values: Sequence[HandleValue]) -> None:
    """Raise SnmsInvalid (its message as SNMS words it) for the first value or missing required item
    that breaks the template's rules (module docstring)."""
    by_index = {item.id_index: item for item in items}
    for value in values:
        item = by_index.get(value.index)
        if item is None:
            raise SnmsInvalid(f"非法操作，索引{value.index}在模板中不存在")
        if not item.enabled:
            raise SnmsInvalid(f"非法操作，索引{value.index}在模板中已禁用")
        if value.type != item.id_type:
            raise SnmsInvalid(f"非法操作，索引{value.index}的类型应为{item.id_type}")
        length = len(value.data)
        if item.min_length is not None and length < item.min_length:
            raise SnmsInvalid(f"{item.name}({item.id_type})长度不能小于{item.min_length}")
        if item.max_length is not None and length > item.max_length:
            raise SnmsInvalid(f"{item.name}({item.id_type})长度不能超过{item.max_length}")
    present = {value.index for value in values}
    for item in items:
        if item.enabled and item.required and item.id_index not in present:
            raise SnmsInvalid(f"缺少必填项: {item.name}({item.id_type})，索引{item.id_index}")
