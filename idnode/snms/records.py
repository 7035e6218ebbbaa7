"""Identifier records as the SNMS API writes and shows them, and how they are stored as Handle values.

An SNMS record is a handle, a ``templateVersion`` (the data template it follows) and attribute values
``{index, type, data: {format: "string", value}, auth}``. It is stored as an ordinary Handle record:
each attribute as a string value at its index; at the reserved index 1000 the TEMPLATE value naming
the exact catalog version of the data template the values were checked against (``name@n``, see
idnode/data_templates.py), by which every later write through any API is checked too; and at the
reserved index 1001 the ``templateVersion`` as sent, a string value of type ``SNMS_TEMPLATE`` (not
``TEMPLATE``, which on this node names a catalog version). SNMS answers show them as the SNMS
documentation names them: 1000 as ``TEMPLATE_ID``, 1001 as ``TEMPLATE``. Indexes 1000, 1001 and 1999
are refused in requests. ``auth`` is a reserved field in the SNMS documentation: requests may send
it, it is not stored; answers carry the value's Handle permissions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from idnode.model.data_template import RESERVED_INDEXES, TEMPLATE_INDEX
from idnode.model.errors import SnmsInvalid
from idnode.model.identifier import Identifier
from idnode.model.snms_params import required_text
from idnode.model.values import TEMPLATE, HandleValue

VERSION_INDEX = 1001
VERSION_TYPE = "SNMS_TEMPLATE"  # stored
SHOWN_TYPES = {(VERSION_INDEX, VERSION_TYPE): "TEMPLATE", (TEMPLATE_INDEX, TEMPLATE): "TEMPLATE_ID"}
MAX_HANDLE = 255
MAX_TEMPLATE_VERSION = 128
MAX_TYPE = 128
MAX_VALUE = 255
MAX_INDEX = 2**31 - 1  # the SNMS documentation: at most 11 digits, an Int
NODE_TYPES_PREFIX = "HS_"  # HS_ADMIN, HS_SECKEY, HS_SIGNATURE, ...: the node's, not attributes


def required_handle(obj: Any) -> str:
    """The ``handle`` field of a request object; raise SnmsInvalid."""
    if not isinstance(obj, dict):
        raise SnmsInvalid("请求参数格式错误，应为JSON对象")
    return required_text(obj, "handle", MAX_HANDLE, SnmsInvalid)


def _attribute(raw: Any, position: int) -> HandleValue:
    if not isinstance(raw, dict):
        raise SnmsInvalid(f"标识属性value[{position}]格式错误，应为JSON对象")
    index = raw.get("index")
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)  # the SNMS examples sometimes quote numbers
    if not isinstance(index, int) or isinstance(index, bool) or not 0 < index <= MAX_INDEX:
        raise SnmsInvalid(f"标识属性value[{position}].index必须是正整数")
    kind = required_text(raw, "type", MAX_TYPE, SnmsInvalid, f"value[{position}].")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise SnmsInvalid(f"缺少必要的请求参数: value[{position}].data")
    if data.get("format", "string") != "string":
        raise SnmsInvalid("标识属性内容格式暂时只支持string")
    # "vlaue" is how the SNMS parameter tables spell it; their examples say "value".
    content = data.get("value", data.get("vlaue"))
    if not isinstance(content, str):
        raise SnmsInvalid(f"标识属性value[{position}].data.value必须是字符串")
    if len(content) > MAX_VALUE:
        raise SnmsInvalid(f"标识属性内容值长度不能超过{MAX_VALUE}")
    return HandleValue(index=index, type=kind, format="string", data=content)


@dataclass(frozen=True, slots=True)
class SnmsRecord:
    """A record as an SNMS register or update request sends it."""

    handle: str
    template_version: str
    values: tuple[HandleValue, ...]

    @classmethod
    def from_json(cls, obj: Any) -> SnmsRecord:
        """Parse one request object; raise SnmsInvalid naming the first problem."""
        handle = required_handle(obj)
        version = required_text(obj, "templateVersion", MAX_TEMPLATE_VERSION, SnmsInvalid)
        raw_values = obj.get("value")
        if not isinstance(raw_values, list) or not raw_values:
            raise SnmsInvalid("缺少必要的请求参数: value")
        values = tuple(_attribute(raw, position) for position, raw in enumerate(raw_values))
        seen: set[int] = set()
        for value in values:
            if value.index in seen:
                raise SnmsInvalid(f"非法操作，索引{value.index}重复")
            seen.add(value.index)
        return cls(handle, version, values)

    def require_unreserved(self) -> None:
        """Raise SnmsInvalid if an attribute uses a reserved index."""
        for value in self.values:
            if value.index in RESERVED_INDEXES:
                raise SnmsInvalid(f"非法操作，索引{value.index}为预留索引")

    def handle_values(self, template: HandleValue) -> list[HandleValue]:
        """The values to store: the attributes, ``template`` (the TEMPLATE value at index 1000 naming
        the exact template version they were checked against) and the template version at 1001."""
        version = HandleValue(
            index=VERSION_INDEX, type=VERSION_TYPE, format="string", data=self.template_version
        )
        return [*self.values, template, version]


def detail(identifier: Identifier, values: Sequence[HandleValue]) -> dict[str, Any]:
    """The SNMS answer for a stored identifier showing ``values`` (those the caller may read) except
    the node's own (HS_*)."""
    shown = []
    version = ""
    for value in values:
        if value.type.startswith(NODE_TYPES_PREFIX):
            continue
        if (value.index, value.type) == (VERSION_INDEX, VERSION_TYPE):
            version = value.data
        shown.append(
            {
                "index": value.index,
                "type": SHOWN_TYPES.get((value.index, value.type), value.type),
                "data": {"format": value.format, "value": value.data},
                "auth": value.permissions,
            }
        )
    return {
        "prefix": identifier.prefix,
        "handle": str(identifier),
        "templateVersion": version,
        "value": shown,
    }
