"""SNMS data templates: the v5 form and the JSON Schema document (both ways), the catalog holding them,
who may change them, and the one set of rules for records holding a template's fields, whether
registered through the SNMS check or written through the registry (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.core import Core
from idnode.metadata import RecordMetadata
from idnode.model.data_template import (
    INDUSTRY_DIVISIONS,
    TEMPLATE_INDEX,
    DataTemplate,
    Industry,
    Item,
    catalog_name,
    from_document,
    items_of,
    parse_request,
)
from idnode.model.errors import (
    AuthenticationNeeded,
    DataTemplateExists,
    DataTemplateInvalid,
    DataTemplateNotFound,
    InsufficientPermissions,
    InvalidTemplate,
    InvalidValue,
    TemplateInUse,
    TemplateMismatch,
)
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.template import Template, check_document, document_identity, stamped
from idnode.model.template_values import metadata_from_values, require_known, schema_problems
from idnode.model.values import HandleValue
from tests.test_registry import Firm, onboard, stored
from tests.test_templates import SHIPPED, metadata_value, template_value, url_value


def request(prefix: str, version: str = "1.0.0", **changes: Any) -> dict[str, Any]:
    """A v5 POST body like the documented example, for ``prefix``."""
    body: dict[str, Any] = {
        "prefix": prefix,
        "version": version,
        "industryCategory": "C",
        "industrySpecific": "38",
        "industryTrade": "382",
        "industrySubclass": "3825",
        "type": 1,
        "description": "光伏组件数据模板",
        "items": [
            {
                "name": "型号",
                "idType": "model",
                "idIndex": "2000",
                "required": True,
                "metadata": {"type": "string", "minLength": 1, "maxLength": 20},
            },
            {"name": "颜色", "idType": "color", "metadata": {"minLength": 0, "maxLength": 5}},
        ],
    }
    body.update(changes)
    return body


def attribute(index: int, kind: str, text: str) -> HandleValue:
    return HandleValue(index=index, type=kind, format="string", data=text)


@pytest.fixture
async def firm(core: Core) -> Firm:
    return await onboard(core, 1)


# -- the v5 form and the document -------------------------------------------------------------------

_codes = st.sampled_from(sorted(INDUSTRY_DIVISIONS)).flatmap(
    lambda c: st.sampled_from(list(INDUSTRY_DIVISIONS[c])).flatmap(
        lambda d: st.tuples(st.just(c), st.just(f"{d:02d}"), st.integers(0, 9), st.integers(0, 9))
    )
)
_industries = _codes.map(lambda t: Industry(t[0], t[1], f"{t[1]}{t[2]}", f"{t[1]}{t[2]}{t[3]}"))
_words = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
_types = st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=10)


@st.composite
def _items(draw: st.DrawFn) -> tuple[Item, ...]:
    kinds = draw(st.lists(_types, min_size=1, max_size=6, unique_by=str.upper))
    indexes = draw(
        st.lists(
            st.integers(1002, 2**31 - 1).filter(lambda i: i != 1999),
            min_size=len(kinds),
            max_size=len(kinds),
            unique=True,
        )
    )
    items = []
    for kind, index in zip(kinds, indexes, strict=True):
        low = draw(st.integers(0, 50))
        items.append(
            Item(
                draw(_words),
                kind,
                index,
                draw(st.booleans()),
                draw(st.sampled_from([0, 1])),
                "string",
                low,
                low + draw(st.integers(0, 300)),
            )
        )
    return tuple(items)


_templates = st.builds(
    DataTemplate,
    prefix=st.from_regex(r"88\.[0-9]{1,4}\.[0-9]{1,6}", fullmatch=True),
    version=_words.filter(lambda v: "@" not in v and v.strip() != "" and v.isprintable()),
    items=_items(),
    industry=_industries,
    type=st.sampled_from([1, 2]),
    description=st.none() | _words,
)


@settings(max_examples=150, deadline=None)
@given(_templates)
def test_v5_to_document_and_back_is_lossless(template: DataTemplate) -> None:
    document = template.document()
    check_document(document)  # a good catalog template
    name, stated = document_identity(document)
    assert name == catalog_name(template.prefix or "", template.version) and stated is None
    stored_document = orjson.loads(orjson.dumps(stamped(document, name, 3)))
    assert from_document(stored_document, f"{name}@3") == template
    # And as a v5 request, answered back (what GET shows is what PUT may send).
    assert parse_request(template.to_json()) == template


@settings(max_examples=150, deadline=None)
@given(_templates, st.data())
def test_fields_as_values_or_as_metadata_get_the_v5_verdict(
    template: DataTemplate, data: st.DataObject
) -> None:
    stored = Template("t", 1, stamped(template.document(), "t", 1))
    chosen = data.draw(st.lists(st.sampled_from(template.items), unique_by=lambda i: i.id_index))
    fields = {}
    for item in chosen:
        low, high = item.min_length or 0, item.max_length or 0
        fields[item.id_type] = "字" * data.draw(st.integers(max(0, low - 1), high + 1))
    expected = all(
        item.enabled and (item.min_length or 0) <= len(fields[item.id_type]) <= (item.max_length or 0)
        for item in chosen
    ) and all(item in chosen for item in template.items if item.required and item.enabled)
    attributes = [
        HandleValue(index=i.id_index, type=i.id_type, format="string", data=fields[i.id_type]) for i in chosen
    ]
    # The SNMS check's rules, then the write path's, with the fields as values and as METADATA.
    require_known(template.items, attributes)
    content, problems = metadata_from_values(stored.items, attributes)
    problems += schema_problems(stored.items, stored.validator.iter_errors(content))
    assert (not problems) == expected
    handle = Identifier.parse("88.999.1001/p")
    as_values = Record(handle, (template_value("t@1", TEMPLATE_INDEX), *attributes))
    as_metadata = Record(handle, (template_value("t@1"), metadata_value(fields)))
    for record in (as_values, as_metadata):
        assert (RecordMetadata.of(record).problem({"t@1": stored}) is None) == expected


def test_the_document_says_what_the_template_checks() -> None:
    template = parse_request(request("88.999.1001"))
    document = template.document()
    assert document["x-snms"] == {
        "prefix": "88.999.1001",
        "version": "1.0.0",
        "industryCategory": "C",
        "industrySpecific": "38",
        "industryTrade": "382",
        "industrySubclass": "3825",
        "type": 1,
    }
    assert document["properties"]["model"] == {
        "title": "型号",
        "type": "string",
        "minLength": 1,
        "maxLength": 20,
        "x-id-index": 2000,
        "x-state": 1,
    }
    assert document["properties"]["color"]["x-id-index"] == 2001  # the next index above the others
    assert document["required"] == ["model"] and document["additionalProperties"] is False


def test_a_json_schema_template_shows_in_v5_form_with_indexes_from_2000() -> None:
    document = SHIPPED["solar-module"]
    shown = from_document(document, "solar-module@1")
    assert shown.prefix is None and shown.version == "solar-module@1"
    assert [i.id_type for i in shown.items] == list(document["properties"])
    assert [i.id_index for i in shown.items] == list(range(2000, 2000 + len(document["properties"])))
    model = next(i for i in shown.items if i.id_type == "model")
    assert model.name == document["properties"]["model"]["title"] and model.required
    assert next(i for i in shown.items if i.id_type == "ratedPower").type == "number"
    # A field that states its index keeps it; the others fill the free ones in order.
    document = copy.deepcopy(document)
    document["properties"]["model"]["x-id-index"] = 2001
    indexes = {i.id_type: i.id_index for i in items_of(document)}
    assert (
        indexes["manufacturer"] == 2000 and indexes["model"] == 2001 and indexes["manufacturerUscc"] == 2002
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"industryCategory": "Z"}, "行业门类Z不存在"),
        ({"industrySpecific": "01"}, "行业大类01不属于门类C"),
        ({"industryTrade": "391"}, "行业中类391不属于大类38"),
        ({"industrySubclass": "3831"}, "行业小类3831不属于中类382"),
        ({"type": 3}, "参数type必须为1"),
        ({"version": "a@1"}, "不能包含@"),
        ({"items": []}, "缺少必要的请求参数: items"),
        ({"version": ""}, "缺少必要的请求参数: version"),
    ],
)
def test_bad_template_requests_are_refused_in_chinese(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DataTemplateInvalid, match=message) as raised:
        parse_request(request("88.999.1001", **changes))
    assert raised.value.response_code == 202


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"idIndex": 1000}, "非法操作，索引1000为预留字段，不可使用"),
        ({"idIndex": 1999}, "索引1999为预留字段"),
        ({"idIndex": 5}, "idIndex须在1000至"),
        ({"idType": "HS_ADMIN"}, "idType不能为HS_ADMIN"),
        ({"idType": "Model"}, "idType Model 重复"),
        ({"metadata": {"type": "String", "minLength": 1, "maxLength": 2}}, "必须为小写string"),
        ({"metadata": {"minLength": 3, "maxLength": 2}}, "minLength不能大于maxLength"),
        ({"metadata": {"minLength": 3}}, "缺少必要的请求参数: items\\[2\\].metadata.minLength/maxLength"),
        ({"state": 2}, "state必须为0（禁用）或1（启用）"),
        ({"required": "yes"}, "required必须是true或false"),
    ],
)
def test_bad_items_are_refused_in_chinese(item: dict[str, Any], message: str) -> None:
    extra = {"name": "x", "idType": "extra", "metadata": {"minLength": 0, "maxLength": 3}, **item}
    body = request("88.999.1001")
    body["items"].append(extra)
    with pytest.raises(DataTemplateInvalid, match=message):
        parse_request(body)


def test_a_change_keeps_items_by_index_and_numbers_new_ones() -> None:
    current = parse_request(request("88.999.1001"))
    body = request("88.999.1001")
    body["items"] = [
        {"name": "型号", "idType": "model", "idIndex": 2000, "metadata": {"minLength": 2, "maxLength": 9}},
        {
            "name": "颜色",
            "idType": "color",
            "idIndex": 2001,
            "state": 0,
            "metadata": {"minLength": 0, "maxLength": 5},
        },
        {"name": "批次", "idType": "batch", "required": True, "metadata": {"minLength": 1, "maxLength": 9}},
    ]
    changed = parse_request(body, current)
    assert [(i.id_type, i.id_index, i.state) for i in changed.items] == [
        ("model", 2000, 1),
        ("color", 2001, 0),
        ("batch", 2002, 1),
    ]
    body["items"][0]["idType"] = "kind"
    with pytest.raises(DataTemplateInvalid, match="索引2000与类型kind不匹配"):
        parse_request(body, current)
    body["items"][0].update(idType="model", idIndex=2009)
    with pytest.raises(DataTemplateInvalid, match="索引2009在模板中不存在"):
        parse_request(body, current)
    body["items"][0].pop("idIndex")
    with pytest.raises(DataTemplateInvalid, match="idType model 已在模板中（索引2000）"):
        parse_request(body, current)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["x-snms"].pop("industryTrade"), "x-snms must hold strings"),
        (lambda d: d["x-snms"].update(type="1"), "x-snms must hold strings"),
        (
            lambda d: d["properties"]["color"].update({"x-id-index": 2000}),
            "x-id-index 2000 is reserved or used",
        ),
        (lambda d: d["properties"]["color"].update({"x-id-index": 1001}), "x-id-index 1001 is reserved"),
        (lambda d: d["properties"]["color"].update({"x-id-index": 300}), "x-id-index must be a whole number"),
        (lambda d: d["properties"]["color"].update({"x-state": 2}), "x-state must be 0"),
        (lambda d: d["properties"]["color"].update({"x-required": "yes"}), "x-required must be true"),
    ],
)
def test_documents_with_broken_v5_keywords_are_not_templates(change: Any, message: str) -> None:
    document = parse_request(request("88.999.1001")).document()
    change(document)
    with pytest.raises(InvalidTemplate, match=message):
        check_document(document)


def test_catalog_names_are_valid_and_tell_versions_apart() -> None:
    first, second = catalog_name("88.999.1001", "1.0.0"), catalog_name("88.999.1001", "1-0-0")
    assert first.startswith("snms-88-999-1001-1-0-0-") and first != second
    assert len(catalog_name("88.999.1001", "版本" * 64)) <= 64
    document_identity({"$id": f"urn:idnode:template:{catalog_name('88.1', '测试')}"})


# -- the catalog and who may change it -------------------------------------------------------------


async def test_the_owner_creates_changes_and_deletes_one_stored_model(core: Core, firm: Firm) -> None:
    data = core.data_templates
    created = await data.create(firm.admin, request(firm.prefix))
    assert created.version == 1 and created.document["x-snms"]["prefix"] == firm.prefix
    # The same document is the catalog's JSON Schema template.
    assert (await core.templates.read(created.name)).document == created.document
    shown = await data.show({"prefix": firm.prefix, "version": "1.0.0"})
    assert shown["ref"] == created.ref and shown["items"][0]["idIndex"] == 2000
    with pytest.raises(DataTemplateExists):
        await data.create(firm.admin, request(firm.prefix))
    body = request(firm.prefix, description="第二版")
    body["items"][1]["idIndex"] = 2001
    changed = await data.change(firm.admin, body)
    assert changed.ref == f"{created.name}@2"
    assert (await data.show({"prefix": firm.prefix, "version": "1.0.0"}))["description"] == "第二版"
    assert (await core.templates.read(created.name, 1)).document == created.document  # unchanged
    await data.delete(firm.admin, {"prefix": firm.prefix, "version": "1.0.0"})
    assert await core.templates.versions(created.name) == []
    with pytest.raises(DataTemplateNotFound):
        await data.show({"prefix": firm.prefix, "version": "1.0.0"})
    again = await data.create(firm.admin, request(firm.prefix))
    assert again.version == 3  # deleted numbers are not given again


async def test_only_the_owner_and_the_operator_may_change_templates(core: Core, firm: Firm) -> None:
    other = await onboard(core, 2)
    data = core.data_templates
    with pytest.raises(InsufficientPermissions):
        await data.create(other.admin, request(firm.prefix))
    with pytest.raises(AuthenticationNeeded):
        await data.create(None, request(firm.prefix))
    await data.create(core.local_operator, request(firm.prefix))
    for change in (data.change, data.delete):
        with pytest.raises(InsufficientPermissions):
            await change(other.admin, request(firm.prefix))
    await data.create(other.admin, request(other.prefix))  # its own prefix


# -- records: one set of rules through both APIs ---------------------------------------------------

CASES: list[tuple[list[HandleValue], str | None]] = [
    ([attribute(2000, "model", "CS7N"), attribute(2001, "color", "黑")], None),
    ([attribute(2000, "model", "CS7N")], None),
    ([attribute(2001, "color", "黑")], "缺少必填的模板属性型号（索引2000，类型model）"),
    ([attribute(2000, "model", "")], "型号（索引2000，类型model）的长度不能小于1"),
    ([attribute(2000, "model", "X" * 21)], "的长度不能大于20"),
    ([attribute(2000, "model", "CS7N"), attribute(2001, "colour", "黑")], "索引2001的类型应为color"),
    ([attribute(2000, "model", "CS7N"), attribute(1000, "x", "y")], "非法操作，索引1000在模板中不存在"),
]


@pytest.mark.parametrize(("values", "message"), CASES)
async def test_snms_values_and_handle_writes_obey_the_same_rules(
    core: Core, firm: Firm, values: list[HandleValue], message: str | None
) -> None:
    created = await core.data_templates.create(firm.admin, request(firm.prefix))
    handle = firm.handle("V-1")
    as_values = [url_value(), *values, template_value(created.ref, TEMPLATE_INDEX)]
    content = {v.type: v.data for v in values}
    as_metadata = [url_value(), template_value(created.ref), metadata_value(content)]
    if message is None:
        bound = await core.data_templates.check_values(firm.prefix, "1.0.0", values)
        assert bound == template_value(created.ref, TEMPLATE_INDEX)
        await core.registry.put_record(firm.admin, handle, as_values)
        await core.registry.put_record(firm.admin, firm.handle("M-1"), as_metadata)
        assert (await stored(core, handle)) is not None
        return
    with pytest.raises(TemplateMismatch, match=message) as raised:
        await core.data_templates.check_values(firm.prefix, "1.0.0", values)
    assert isinstance(raised.value, InvalidValue) and raised.value.response_code == 202
    if any(v.index == 1000 for v in values):
        return  # an attribute outside the template is an SNMS request's fault, not a record's
    for written in (as_values, as_metadata):
        with pytest.raises(InvalidValue):
            await core.registry.put_record(firm.admin, handle, written)
    assert await stored(core, handle) is None


async def test_a_record_holding_fields_as_values_is_checked_on_every_write(core: Core, firm: Firm) -> None:
    created = await core.data_templates.create(firm.admin, request(firm.prefix))
    handle = firm.handle("V-2")
    bound = await core.data_templates.check_values(firm.prefix, "1.0.0", [attribute(2000, "model", "CS7N")])
    await core.registry.put_record(firm.admin, handle, [attribute(2000, "model", "CS7N"), bound])
    with pytest.raises(InvalidValue, match=r"^Values /model \(index 2000\): '' should be non-empty"):
        await core.registry.put_record(firm.admin, handle, [attribute(2000, "model", "")], indexes=[2000])
    with pytest.raises(InvalidValue, match="/model \\(index 2000\\): required field is missing"):
        await core.registry.delete(firm.admin, handle, indexes=[2000])
    # The template is in use: deleting it is refused, and nothing is deleted.
    with pytest.raises(TemplateInUse):
        await core.data_templates.delete(firm.admin, {"prefix": firm.prefix, "version": "1.0.0"})
    assert [t.ref for t in await core.templates.versions(created.name)] == [created.ref]


async def test_records_keep_their_version_and_disabled_items_take_no_value(core: Core, firm: Firm) -> None:
    data = core.data_templates
    await data.create(firm.admin, request(firm.prefix))
    old = [attribute(2000, "model", "CS7N"), attribute(2001, "color", "黑")]
    old.append(await data.check_values(firm.prefix, "1.0.0", old))
    await core.registry.put_record(firm.admin, firm.handle("OLD"), old)
    body = request(firm.prefix)
    body["items"][1].update(idIndex=2001, state=0)
    await data.change(firm.admin, body)
    with pytest.raises(TemplateMismatch, match="非法操作，模板属性颜色（索引2001，类型color）已禁用"):
        await data.check_values(firm.prefix, "1.0.0", old[:2])
    # The old record names version 1 and is still good; a change to it is checked against version 1.
    await core.registry.put_record(
        firm.admin, firm.handle("OLD"), [attribute(2001, "color", "白")], indexes=[2001]
    )
    record = await stored(core, Identifier.parse(f"{firm.prefix}/OLD"))
    assert record is not None and record.by_index()[TEMPLATE_INDEX].data.endswith("@1")


async def test_templates_with_other_than_strings_are_not_for_values(core: Core, firm: Firm) -> None:
    with pytest.raises(TemplateMismatch, match="含非字符串属性"):
        await core.data_templates.check_values(firm.prefix, "solar-module@1", [attribute(2000, "x", "y")])
    with pytest.raises(DataTemplateNotFound):
        await core.data_templates.check_values(firm.prefix, "2.0", [])
    with pytest.raises(InvalidValue, match="TEMPLATE solar-module@1 needs a METADATA value"):
        await core.registry.put_record(firm.admin, firm.handle("S"), [template_value("solar-module@1")])


async def test_another_prefixs_template_is_not_found_by_reference(core: Core, firm: Firm) -> None:
    other = await onboard(core, 2)
    created = await core.data_templates.create(other.admin, request(other.prefix))
    with pytest.raises(DataTemplateNotFound):
        await core.data_templates.lookup(firm.prefix, created.ref)
    assert (await core.data_templates.lookup(other.prefix, created.ref)).ref == created.ref
