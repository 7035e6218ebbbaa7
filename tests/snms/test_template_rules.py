"""The data-template rules on an SNMS record's values (no server)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from idnode.model.errors import SnmsInvalid
from idnode.model.values import HandleValue
from idnode.snms.template_rules import require_template_values


@dataclass(frozen=True)
class Item:
    id_index: int
    id_type: str
    name: str
    required: bool = False
    enabled: bool = True
    min_length: int | None = 1
    max_length: int | None = 10


ITEMS = [
    Item(2000, "name", "名称", required=True),
    Item(2001, "model", "型号"),
    Item(2002, "old", "旧字段", enabled=False),
]


def values(*triples: tuple[int, str, str]) -> list[HandleValue]:
    return [HandleValue(index=i, type=t, format="string", data=v) for i, t, v in triples]


def test_values_following_the_template_pass() -> None:
    require_template_values(ITEMS, values((2000, "name", "泵"), (2001, "model", "XJ-2")))
    require_template_values(ITEMS, values((2000, "name", "泵")))


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (values((1000, "name", "x"), (2000, "name", "泵")), "非法操作，索引1000在模板中不存在"),
        (values((2000, "name", "泵"), (2002, "old", "x")), "非法操作，索引2002在模板中已禁用"),
        (values((2000, "model", "泵")), "非法操作，索引2000的类型应为name"),
        (values((2000, "name", "")), "名称(name)长度不能小于1"),
        (values((2000, "name", "x" * 11)), "名称(name)长度不能超过10"),
        (values((2001, "model", "XJ-2")), "缺少必填项: 名称(name)，索引2000"),
    ],
)
def test_values_breaking_the_template_are_refused_with_the_reason(
    sent: list[HandleValue], message: str
) -> None:
    with pytest.raises(SnmsInvalid) as refused:
        require_template_values(ITEMS, sent)
    assert refused.value.message == message
