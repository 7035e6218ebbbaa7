"""SNMS data templates (the IDIS business API's v5 templates) as metadata templates (pure rules).

An SNMS data template belongs to an enterprise prefix and is named there by a version string
(``1.0.0``); it lists items ``{name, idType, idIndex, required, state, metadata{type, minLength,
maxLength}}`` and carries the four GB/T 4754-2017 industry codes and an object type (1 active
identifier carrier, 2 other). This node stores no second kind of template: a data template *is* a
JSON Schema 2020-12 document of the template catalog (``idnode.model.template``), and this module
converts both ways, losslessly from v5 to the document and back:

- each item is a property named by its ``idType``, with ``title`` = ``name``, ``type: string``,
  ``minLength``, ``maxLength``, ``x-id-index`` = ``idIndex`` and ``x-state`` = ``state``; a disabled
  item (state 0) also says ``"not": {}``, so no record may give it a value; ``required`` lists the
  required enabled items (a disabled item's required flag is kept as ``"x-required": true``);
- the template's own facts live in ``x-snms``: prefix, version string, industry codes, type,
  description; the document is closed (``additionalProperties: false``).

Every catalog template can be shown in v5 form: its top-level properties, in document order, are the
items; a property without ``x-id-index`` gets the next free index from 2000 up in that order, so the
form of a stored version never changes; ``metadata.type`` is the property's JSON type.

A template whose items are all strings can hold a record's metadata as values instead of a METADATA
JSON text (``idnode.model.template_values``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from idnode.model.errors import DataTemplateInvalid
from idnode.model.snms_params import required_text

SNMS_KEY = "x-snms"
INDEX_KEY = "x-id-index"
STATE_KEY = "x-state"
DISABLED_REQUIRED_KEY = "x-required"

TEMPLATE_INDEX = 1000  # where an SNMS record names its catalog template version (TEMPLATE_ID in SNMS)
RESERVED_INDEXES = frozenset({1000, 1001, 1999})  # reserved by SNMS data templates
LOWEST_INDEX = 1000  # lower indexes are Handle's and the node's: URL, GS1, HS_ADMIN, HS_SIGNATURE...
FIRST_INDEX = 2000  # where indexes assigned to items start, as SNMS assigns them
MAX_INDEX = 2**31 - 1
MAX_PREFIX = 64
MAX_VERSION = 128
MAX_ID_TYPE = 128
OBJECT_TYPES = (1, 2)  # 1 主动标识载体, 2 其他
ENABLED, DISABLED = 1, 0
NAME_PREFIX = "snms-"
_HASH_CHARS = 10
_SLUG_LENGTH = 64 - len(NAME_PREFIX) - 1 - _HASH_CHARS
_NODE_TYPES = ("HS_", "TEMPLATE", "METADATA", "SNMS_TEMPLATE")  # types with a meaning on this node

# GB/T 4754-2017 门类 and the 大类 numbers each holds.
INDUSTRY_DIVISIONS: dict[str, range] = {
    "A": range(1, 6),
    "B": range(6, 13),
    "C": range(13, 44),
    "D": range(44, 47),
    "E": range(47, 51),
    "F": range(51, 53),
    "G": range(53, 61),
    "H": range(61, 63),
    "I": range(63, 66),
    "J": range(66, 70),
    "K": range(70, 71),
    "L": range(71, 73),
    "M": range(73, 76),
    "N": range(76, 80),
    "O": range(80, 83),
    "P": range(83, 84),
    "Q": range(84, 86),
    "R": range(86, 91),
    "S": range(91, 97),
    "T": range(97, 98),
}


@dataclass(frozen=True, slots=True)
class Industry:
    """GB/T 4754-2017 codes: 门类 (letter), 大类 (2 digits), 中类 (3), 小类 (4), each within the last."""

    category: str
    specific: str
    trade: str
    subclass: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Industry:
        """The four codes of a v5 request; raise DataTemplateInvalid unless they nest as the standard's."""
        codes = [_text(body, key, 4) for key in FIELDS_OF_INDUSTRY]
        category, specific, trade, subclass = codes
        if category not in INDUSTRY_DIVISIONS:
            raise DataTemplateInvalid(f"行业门类{category}不存在（GB/T 4754-2017 门类为A至T）")
        if not re.fullmatch(r"[0-9]{2}", specific) or int(specific) not in INDUSTRY_DIVISIONS[category]:
            raise DataTemplateInvalid(f"行业大类{specific}不属于门类{category}")
        if not re.fullmatch(r"[0-9]{3}", trade) or not trade.startswith(specific):
            raise DataTemplateInvalid(f"行业中类{trade}不属于大类{specific}")
        if not re.fullmatch(r"[0-9]{4}", subclass) or not subclass.startswith(trade):
            raise DataTemplateInvalid(f"行业小类{subclass}不属于中类{trade}")
        return cls(category, specific, trade, subclass)

    def to_json(self) -> dict[str, str]:
        return dict(
            zip(FIELDS_OF_INDUSTRY, (self.category, self.specific, self.trade, self.subclass), strict=True)
        )


FIELDS_OF_INDUSTRY = ("industryCategory", "industrySpecific", "industryTrade", "industrySubclass")


@dataclass(frozen=True, slots=True)
class Item:
    """One item of a data template: a field of the metadata, held as the value at ``id_index``."""

    name: str  # 中文名称: the property's title
    id_type: str  # 英文名称: the property's name and the value's type
    id_index: int
    required: bool = False
    state: int = ENABLED
    type: str = "string"  # the property's JSON type; v5 templates have only strings
    min_length: int | None = None
    max_length: int | None = None

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "idType": self.id_type,
            "idIndex": self.id_index,
            "required": self.required,
            "state": self.state,
            "metadata": {"type": self.type, "minLength": self.min_length, "maxLength": self.max_length},
        }

    def schema(self) -> dict[str, Any]:
        """The property of the JSON Schema document for this item."""
        spec: dict[str, Any] = {"title": self.name, "type": self.type}
        if self.min_length is not None:
            spec["minLength"] = self.min_length
        if self.max_length is not None:
            spec["maxLength"] = self.max_length
        spec[INDEX_KEY] = self.id_index
        spec[STATE_KEY] = self.state
        if not self.enabled:
            spec["not"] = {}  # a disabled item takes no value
            if self.required:
                spec[DISABLED_REQUIRED_KEY] = True
        return spec


@dataclass(frozen=True, slots=True)
class DataTemplate:
    """A template in v5 form. ``prefix`` and ``industry`` are None for node-wide catalog templates,
    whose ``version`` is then their catalog reference."""

    prefix: str | None
    version: str
    items: tuple[Item, ...]
    industry: Industry | None = None
    type: int | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The v5 answer's template (``data`` of GET /snms/api/v5/template)."""
        industry = self.industry.to_json() if self.industry else dict.fromkeys(FIELDS_OF_INDUSTRY)
        return {
            "prefix": self.prefix,
            "version": self.version,
            **industry,
            "type": self.type,
            "description": self.description,
            "items": [item.to_json() for item in self.items],
        }

    def document(self) -> dict[str, Any]:
        """The template as a JSON Schema document for the catalog (its ``$id`` names ``catalog_name``)."""
        if self.prefix is None or self.industry is None or self.type is None:
            raise ValueError("only a template of a prefix converts to a document")
        facts: dict[str, Any] = {"prefix": self.prefix, "version": self.version, **self.industry.to_json()}
        facts["type"] = self.type
        document: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:idnode:template:{catalog_name(self.prefix, self.version)}",
            "title": f"{self.prefix} 数据模板 {self.version}",
            "x-title-en": f"Data template {self.version} of {self.prefix}",
        }
        if self.description is not None:
            document["description"] = self.description
        document[SNMS_KEY] = facts
        document["type"] = "object"
        document["properties"] = {item.id_type: item.schema() for item in self.items}
        document["required"] = [item.id_type for item in self.items if item.required and item.enabled]
        document["additionalProperties"] = False
        return document


def catalog_name(prefix: str, version: str) -> str:
    """The catalog name of the data template ``version`` of ``prefix``: ``snms-`` and a readable slug
    of both, then a digest of the exact pair (so versions differing only in punctuation differ)."""
    digest = hashlib.sha256(f"{prefix}\n{version}".encode()).digest()
    tag = base64.b32encode(digest).decode().lower()[:_HASH_CHARS]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{version}".lower()).strip("-")[:_SLUG_LENGTH].strip("-")
    return f"{NAME_PREFIX}{slug}-{tag}"


def snms_facts(document: Mapping[str, Any]) -> tuple[str, str] | None:
    """(prefix, version) of a data template's document, None for a node-wide template."""
    facts = document.get(SNMS_KEY)
    if isinstance(facts, dict) and isinstance(facts.get("prefix"), str):
        return facts["prefix"], str(facts.get("version"))
    return None


# -- from documents ----------------------------------------------------------------------------------


def _json_type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return kind if isinstance(kind, str) else "string"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def items_of(document: Mapping[str, Any]) -> tuple[Item, ...]:
    """The items of a catalog document, in property order (see the module docstring for indexes)."""
    properties = document.get("properties")
    if not isinstance(properties, dict):
        return ()
    required = set(document.get("required") or ())
    specs = {name: spec if isinstance(spec, dict) else {} for name, spec in properties.items()}
    taken = {_count(spec.get(INDEX_KEY)) for spec in specs.values()}
    free = (i for i in range(FIRST_INDEX, MAX_INDEX) if i not in taken and i not in RESERVED_INDEXES)
    items = []
    for name, spec in specs.items():
        index = _count(spec.get(INDEX_KEY))
        state = DISABLED if spec.get(STATE_KEY) == DISABLED else ENABLED
        title = spec.get("title")
        items.append(
            Item(
                name=title if isinstance(title, str) else name,
                id_type=name,
                id_index=index if index is not None else next(free),
                required=name in required or spec.get(DISABLED_REQUIRED_KEY) is True,
                state=state,
                type=_json_type(spec),
                min_length=_count(spec.get("minLength")),
                max_length=_count(spec.get("maxLength")),
            )
        )
    return tuple(items)


def from_document(document: Mapping[str, Any], ref: str) -> DataTemplate:
    """The v5 form of a catalog document (version ``ref`` for a node-wide one)."""
    facts = document.get(SNMS_KEY)
    items = items_of(document)
    if not isinstance(facts, dict):
        description = document.get("description", document.get("title"))
        return DataTemplate(
            None, ref, items, description=description if isinstance(description, str) else None
        )
    description = document.get("description")
    return DataTemplate(
        prefix=facts["prefix"],
        version=facts["version"],
        items=items,
        industry=Industry(*(facts[key] for key in FIELDS_OF_INDUSTRY)),
        type=facts["type"],
        description=description if isinstance(description, str) else None,
    )


# -- from v5 requests --------------------------------------------------------------------------------


def _text(body: Mapping[str, Any], key: str, limit: int, where: str = "") -> str:
    return required_text(body, key, limit, DataTemplateInvalid, where)


def _whole(raw: Any, what: str) -> int | None:
    """A whole number as v5 requests send it (the documented examples quote some: ``"2000"``)."""
    if raw is None:
        return None
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,10}", raw.strip()):
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise DataTemplateInvalid(f"参数{what}必须是整数")


def template_key(body: Any) -> tuple[str, str]:
    """(prefix, version) of a v5 request (a body or query); raise DataTemplateInvalid."""
    if not isinstance(body, Mapping):
        raise DataTemplateInvalid("请求参数格式错误，应为JSON对象")
    prefix = _text(body, "prefix", MAX_PREFIX).strip().lower()
    version = _text(body, "version", MAX_VERSION)
    if not version.strip() or any(not c.isprintable() for c in version):
        raise DataTemplateInvalid("模板版本须为可打印字符")
    return prefix, version


def _item_type(raw: Mapping[str, Any], where: str) -> str:
    id_type = _text(raw, "idType", MAX_ID_TYPE, where)
    if any(c.isspace() or not c.isprintable() for c in id_type):
        raise DataTemplateInvalid(f"{where}idType不能包含空白或控制字符")
    if id_type.upper().startswith(_NODE_TYPES):
        raise DataTemplateInvalid(f"{where}idType不能为{id_type}：该类型由节点使用")
    return id_type


def _limits(raw: Any, where: str) -> tuple[int, int]:
    if not isinstance(raw, Mapping):
        raise DataTemplateInvalid(f"缺少必要的请求参数: {where}metadata")
    if raw.get("type", "string") != "string":
        raise DataTemplateInvalid(f"{where}metadata.type必须为小写string（现只支持string）")
    low = _whole(raw.get("minLength"), f"{where}metadata.minLength")
    high = _whole(raw.get("maxLength"), f"{where}metadata.maxLength")
    if low is None or high is None:
        raise DataTemplateInvalid(f"缺少必要的请求参数: {where}metadata.minLength/maxLength")
    if low > high:
        raise DataTemplateInvalid(f"{where}metadata.minLength不能大于maxLength")
    return low, high


def _item(raw: Any, position: int, before: Mapping[int, Item]) -> tuple[Item, bool]:
    """One item of a request, and whether it named its index; ``before``: the current version's
    items by index (empty for a new template)."""
    where = f"items[{position}]."
    if not isinstance(raw, Mapping):
        raise DataTemplateInvalid(f"{where[:-1]}格式错误，应为JSON对象")
    name = _text(raw, "name", MAX_ID_TYPE, where)
    id_type = _item_type(raw, where)
    index = _whole(raw.get("idIndex"), f"{where}idIndex")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise DataTemplateInvalid(f"{where}required必须是true或false")
    state = _whole(raw.get("state"), f"{where}state")
    if state not in (None, ENABLED, DISABLED):
        raise DataTemplateInvalid(f"{where}state必须为0（禁用）或1（启用）")
    low, high = _limits(raw.get("metadata"), where)
    if index is not None:
        if index in RESERVED_INDEXES:
            raise DataTemplateInvalid(f"非法操作，索引{index}为预留字段，不可使用")
        if not LOWEST_INDEX <= index <= MAX_INDEX:
            raise DataTemplateInvalid(f"{where}idIndex须在{LOWEST_INDEX}至{MAX_INDEX}之间")
        if before and index not in before:
            raise DataTemplateInvalid(f"非法操作，索引{index}在模板中不存在；新增模板属性请不传idIndex")
        if before and before[index].id_type != id_type:
            raise DataTemplateInvalid(
                f"非法操作，索引{index}与类型{id_type}不匹配（模板中为{before[index].id_type}）"
            )
    if state is None:
        state = before[index].state if index is not None and index in before else ENABLED
    item = Item(name, id_type, index or 0, required, state, "string", low, high)
    return item, index is not None


def parse_request(body: Any, current: DataTemplate | None = None) -> DataTemplate:
    """The template a v5 POST (``current`` None) or PUT (``current``: the version it changes) asks
    for; raise DataTemplateInvalid naming the first problem.

    An item naming its ``idIndex`` keeps (PUT: changes) the item there, whose ``idType`` it must
    repeat; an item without one is new and gets the next index above all others (from 2000). An
    omitted ``state`` keeps the current one (new items are enabled). A PUT lists every item of the
    new version: items it leaves out are not in it.
    """
    prefix, version = template_key(body)
    if "@" in version:  # "<name>@<version>" names catalog versions (see idnode.data_templates)
        raise DataTemplateInvalid("模板版本不能包含@")
    kind = _whole(body.get("type"), "type")
    if kind not in OBJECT_TYPES:
        raise DataTemplateInvalid("参数type必须为1（主动标识载体）或2（其他）")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise DataTemplateInvalid("参数description必须是字符串")
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise DataTemplateInvalid("缺少必要的请求参数: items")
    before = {item.id_index: item for item in current.items} if current else {}
    parsed = [_item(raw, position, before) for position, raw in enumerate(raw_items)]
    return DataTemplate(
        prefix, version, _numbered(parsed, before), Industry.from_json(body), kind, description or None
    )


def _numbered(parsed: list[tuple[Item, bool]], before: Mapping[int, Item]) -> tuple[Item, ...]:
    """The items with indexes given to new ones; raise DataTemplateInvalid for repeated ones."""
    named = [item.id_index for item, has_index in parsed if has_index]
    highest = max([FIRST_INDEX - 1, *named, *before])
    items, seen_types, seen_indexes = [], set(), set()
    for item, has_index in parsed:
        if not has_index:
            highest += 1
            item = replace(item, id_index=highest)
        key = item.id_type.upper()  # Handle types match in any case
        if key in seen_types:
            raise DataTemplateInvalid(f"非法操作，idType {item.id_type} 重复")
        if item.id_index in seen_indexes:
            raise DataTemplateInvalid(f"非法操作，索引{item.id_index}重复")
        previous = next((old for old in before.values() if old.id_type.upper() == key), None)
        if not has_index and previous is not None:
            raise DataTemplateInvalid(
                f"非法操作，idType {item.id_type} 已在模板中（索引{previous.id_index}）；修改请传idIndex"
            )
        seen_types.add(key)
        seen_indexes.add(item.id_index)
        items.append(item)
    if highest > MAX_INDEX:
        raise DataTemplateInvalid(f"模板索引不能超过{MAX_INDEX}")
    return tuple(items)
