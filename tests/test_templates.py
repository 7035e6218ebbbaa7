"""Metadata templates: the shipped JSON Schema documents, the catalog (versions, seeding, deletion),
and metadata validation on every write path, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from idnode.bulk import BulkRegistrar
from idnode.core import Core, open_core
from idnode.metadata import MetadataRules
from idnode.model.errors import (
    AuthenticationNeeded,
    InsufficientPermissions,
    InvalidTemplate,
    InvalidValue,
    TemplateExists,
    TemplateInUse,
    TemplateNotFound,
)
from idnode.model.identifier import Identifier
from idnode.model.record import Record
from idnode.model.template import FORMATS, Template
from idnode.model.values import HandleValue
from idnode.storage.tables import search_entries
from idnode.templates import TemplateCatalog, shipped_documents
from tests.test_registry import Firm, audit_rows, onboard, stored

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schema" / "templates"
SHIPPED = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMA_DIR.glob("*.json"))
}
KINDS = [
    "auto-part",
    "generic-product",
    "part",
    "production-equipment",
    "solar-module",
    "wind-turbine-component",
]


def example(name: str, **changes: Any) -> dict[str, Any]:
    """The example instance of a shipped template, with ``changes`` (None removes a field)."""
    instance = copy.deepcopy(SHIPPED[name]["examples"][0])
    for key, value in changes.items():
        if value is None:
            instance.pop(key)
        else:
            instance[key] = value
    return instance


def template_value(ref: str, index: int = 2) -> HandleValue:
    return HandleValue.from_json({"index": index, "type": "TEMPLATE", "data": ref})


def metadata_value(content: Any, index: int = 3, **extra: Any) -> HandleValue:
    text = content if isinstance(content, str) else orjson.dumps(content).decode()
    return HandleValue.from_json({"index": index, "type": "METADATA", "data": text, **extra})


def url_value(target: str = "https://example.com/m/1") -> HandleValue:
    return HandleValue.from_json({"index": 1, "type": "URL", "data": target})


def described(ref: str, content: Any) -> list[HandleValue]:
    """A record's values: a URL, the template it names and its metadata."""
    return [url_value(), template_value(ref), metadata_value(content)]


async def entries(core: Core, handle: Identifier | str) -> set[tuple[str, str, int]]:
    """(key, value, public) of a record's search entries."""
    query = select(search_entries.c.key, search_entries.c.value, search_entries.c.public).where(
        search_entries.c.handle == str(handle)
    )
    async with core.repository.engines.reader.connect() as conn:
        return {tuple(row) for row in (await conn.execute(query)).all()}


async def users_of(core: Core, ref: str) -> set[str]:
    """Handles of the records using template version ``ref`` (the derived ``template`` entries)."""
    query = select(search_entries.c.handle).where(
        search_entries.c.key == "template", search_entries.c.value == ref
    )
    async with core.repository.engines.reader.connect() as conn:
        return set((await conn.execute(query)).scalars())


def next_version(name: str, **changes: Any) -> dict[str, Any]:
    """A shipped template as a new version: no version stated (the node numbers it), with ``changes``."""
    document = copy.deepcopy(SHIPPED[name])
    document["$id"] = f"urn:idnode:template:{name}"
    del document["x-version"]
    document.update(changes)
    return document


@pytest.fixture
async def firm(core: Core) -> Firm:
    return await onboard(core, 1)


# -- the shipped documents -------------------------------------------------------------------------


def test_the_six_templates_are_shipped_and_installed() -> None:
    assert sorted(SHIPPED) == KINDS
    # What the node seeds (package data, idnode/schema) is exactly the repository's schema/ folder.
    assert shipped_documents() == [SHIPPED[name] for name in KINDS]


def _fields(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every property of a schema, nested objects included, with its pointer."""
    found = []
    for name, spec in schema.get("properties", {}).items():
        found.append((f"{path}/{name}", spec))
        found.extend(_fields(spec, f"{path}/{name}"))
    return found


@pytest.mark.parametrize("name", KINDS)
def test_shipped_template_is_a_complete_bilingual_2020_12_schema(name: str) -> None:
    document = SHIPPED[name]
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"urn:idnode:template:{name}:1" and document["x-version"] == 1
    assert document["type"] == "object" and document["additionalProperties"] is False
    fields = _fields(document)
    assert len(fields) >= 10
    for pointer, spec in [("", document), *fields]:
        for key in ("title", "x-title-en", "description", "x-description-en"):
            assert isinstance(spec.get(key), str) and spec[key].strip(), (pointer, key)
        assert any("\u4e00" <= c <= "\u9fff" for c in spec["title"] + spec["description"]), pointer
        assert spec["x-title-en"].isascii(), pointer
    assert set(document["required"]) <= set(document["properties"])
    assert {"manufacturer", "manufactureDate"} <= set(document["required"])
    assert document["properties"]["manufactureDate"]["format"] == "date"
    units = {spec["x-unit"] for _, spec in fields if "x-unit" in spec}
    assert units and all(spec["type"] in ("number", "integer") for _, spec in fields if "x-unit" in spec)
    searchable = [n for n, spec in document["properties"].items() if spec.get("x-searchable")]
    assert "serialNumber" in searchable or "partNumber" in searchable
    assert all(document["properties"][n]["type"] == "string" for n in searchable)


@pytest.mark.parametrize("name", KINDS)
def test_shipped_example_matches_its_template_and_a_broken_one_does_not(name: str) -> None:
    template = Template(name, 1, SHIPPED[name])
    assert template.problems(example(name)) == []
    first_required = SHIPPED[name]["required"][0]
    broken = example(name, manufactureDate="2026-02-30", **{first_required: None})
    assert template.problems(broken) == sorted(
        [
            (f"/{first_required}", "required field is missing"),
            ("/manufactureDate", "'2026-02-30' is not a 'date'"),
        ]
    )


def test_domain_fields_of_the_seed_templates() -> None:
    solar = SHIPPED["solar-module"]["properties"]
    assert solar["ratedPower"]["x-unit"] == "Wp" and solar["weight"]["x-unit"] == "kg"
    assert {spec["x-unit"] for spec in solar["dimensions"]["properties"].values()} == {"mm"}
    assert "TOPCon" in solar["cellType"]["enum"]
    assert example("solar-module")["manufacturer"] == "阿特斯阳光电力集团股份有限公司"
    wind = SHIPPED["wind-turbine-component"]["properties"]
    assert {"blade", "gearbox", "generator"} <= set(wind["componentType"]["enum"])
    assert wind["ratedCapacity"]["x-unit"] == "kW" and wind["turbineModel"]["x-searchable"] is True
    assert example("wind-turbine-component")["turbineModel"] == "GW 165-6.0MW"
    part = SHIPPED["part"]
    assert {"batchNumber", "serialNumber"} <= set(part["required"])


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        (
            "date",
            ["2026-03-18", "2024-02-29"],
            ["2026-02-30", "2026-3-18", "18.03.2026", "2026-03-18T00:00:00Z"],
        ),
        (
            "date-time",
            ["2026-03-18T08:30:00+08:00", "2026-03-18T00:30:00.25Z", "2026-03-18t00:30:00z"],
            ["2026-03-18 08:30:00", "2026-03-18T08:30:00", "2026-03-18T25:00:00Z", "2026-03-18"],
        ),
        (
            "email",
            ["service@example.com", "王工@例子.中国"],
            ["service", "a@b", "a b@example.com", "a@@example.com"],
        ),
        (
            "uri",
            ["https://example.com/p?q=1#f", "urn:idnode:template:part:1", "mailto:a@example.com"],
            ["example.com/p", "https://example.com/a b", "https://例子.中国/", "https://example.com/%zz"],
        ),
    ],
)
def test_formats_are_checked(fmt: str, good: list[str], bad: list[str]) -> None:
    assert [FORMATS.conforms(text, fmt) for text in good] == [True] * len(good)
    assert [FORMATS.conforms(text, fmt) for text in bad] == [False] * len(bad)


# -- the catalog -----------------------------------------------------------------------------------


async def test_a_new_node_holds_the_shipped_templates(core: Core) -> None:
    assert [t.ref for t in await core.templates.versions()] == [f"{name}@1" for name in KINDS]
    solar = await core.templates.get("solar-module@1")
    assert (solar.name, solar.version, solar.ref) == ("solar-module", 1, "solar-module@1")
    assert solar.document == SHIPPED["solar-module"]
    assert solar.searchable == ("model", "serialNumber", "batchNumber")
    listing = await core.templates.listing()
    assert listing[4] == {
        "name": "solar-module",
        "version": 1,
        "ref": "solar-module@1",
        "title": "光伏组件",
        "titleEn": "Photovoltaic module",
        "versions": [1],
    }
    with pytest.raises(TemplateNotFound):
        await core.templates.get("solar-module@2")
    with pytest.raises(TemplateNotFound):
        await core.templates.get("not a reference")


async def test_the_node_numbers_new_versions_and_stamps_them(core: Core) -> None:
    op = core.local_operator
    second = await core.templates.add(op, next_version("part"))
    assert second.ref == "part@2"
    assert second.document["$id"] == "urn:idnode:template:part:2" and second.document["x-version"] == 2
    assert (await core.templates.read("part")).ref == "part@2"
    assert (await core.templates.read("part", 1)).document == SHIPPED["part"]
    third = await core.templates.add(op, {**next_version("part"), "x-version": 3})
    assert third.ref == "part@3"
    # A document stating a version must state the one it gets: sending it twice is refused.
    with pytest.raises(TemplateExists, match="next version is 4"):
        await core.templates.add(op, {**next_version("part"), "x-version": 3})
    with pytest.raises(InvalidTemplate, match="the next is 4"):
        await core.templates.add(op, {**next_version("part"), "$id": "urn:idnode:template:part:7"})
    with pytest.raises(InvalidTemplate, match="different versions"):
        await core.templates.add(
            op, {**next_version("part"), "$id": "urn:idnode:template:part:4", "x-version": 5}
        )
    brand_new = await core.templates.add(op, next_version("part", **{"$id": "urn:idnode:template:valve:1"}))
    assert brand_new.ref == "valve@1"
    assert [row["versions"] for row in await core.templates.listing() if row["name"] == "part"] == [[1, 2, 3]]
    trail = [r for r in await audit_rows(core.repository) if r["action"] == "template-add"]
    assert [(r["actor"], r["target"]) for r in trail] == [
        ("300:0.NA/88.999", "template:part@2"),
        ("300:0.NA/88.999", "template:part@3"),
        ("300:0.NA/88.999", "template:valve@1"),
    ]
    assert trail[0]["new"] == second.document


async def test_only_the_operator_adds_and_deletes_templates(core: Core, firm: Firm) -> None:
    for principal, error in ((None, AuthenticationNeeded), (firm.admin, InsufficientPermissions)):
        with pytest.raises(error):
            await core.templates.add(principal, next_version("part"))
        with pytest.raises(error):
            await core.templates.delete(principal, "part@1")
    assert [t.ref for t in await core.templates.versions("part")] == ["part@1"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, r"\$schema must be"),
        ({"$id": "https://example.com/part.json"}, r"\$id must be urn:idnode:template:<name>"),
        ({"$id": "urn:idnode:template:Part_2"}, r"\$id must be"),
        ({"x-version": "2"}, "x-version must be a positive whole number"),
        ({"type": "array"}, 'needs "type": "object"'),
        ({"required": "serialNumber"}, "Not a valid JSON Schema 2020-12 document at /required:"),
        ({"properties": {"weight": {"type": "kilograms"}}}, "at /properties/weight/type:"),
        ({"properties": {"p": {"type": "string", "pattern": "(["}}}, "at /properties/p/pattern:"),
        ({"x-title-en": ""}, "needs a x-title-en"),
        (
            {"properties": {"p": {"$ref": "https://example.com/s.json"}}},
            "/properties/p/\\$ref: .* self-contained",
        ),
        (
            {"properties": {"d": {"type": "object", "x-searchable": True}}},
            "/properties/d: only fields of a scalar",
        ),
        (
            {"properties": {"d": {"type": "string", "x-searchable": "yes"}}},
            "x-searchable must be true or false",
        ),
    ],
)
async def test_invalid_template_documents_are_refused(
    core: Core, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTemplate, match=message):
        await core.templates.add(core.local_operator, next_version("part", **change))
    assert [t.ref for t in await core.templates.versions("part")] == ["part@1"]
    with pytest.raises(InvalidTemplate, match="a JSON object"):
        await core.templates.add(core.local_operator, ["not", "a", "schema"])


# -- validation on write ---------------------------------------------------------------------------


async def test_valid_metadata_is_stored_and_made_searchable(core: Core, firm: Firm) -> None:
    handle = firm.handle("CS7N-0001")
    result = await core.registry.put_record(
        firm.admin, handle, described("solar-module@1", example("solar-module"))
    )
    assert result.created
    record = await stored(core, handle)
    assert record is not None and record.by_index()[2].data == "solar-module@1"
    assert orjson.loads(record.by_index()[3].data) == example("solar-module")
    assert await entries(core, handle) == {
        ("URL", "https://example.com/m/1", 1),
        ("template", "solar-module@1", 1),
        ("meta:model", "CS7N-700TB-AG", 1),
        ("meta:serialNumber", "CS7N2603180001234", 1),
        ("meta:batchNumber", "YC-L2-260318-07", 1),
    }
    # Changing the metadata changes its entries; metadata readable only by admins gives private ones.
    changed = example("solar-module", serialNumber="CS7N2603180009999", batchNumber=None)
    await core.registry.put_record(
        firm.admin, handle, [metadata_value(changed, permissions="1100")], indexes=[3]
    )
    assert await entries(core, handle) == {
        ("URL", "https://example.com/m/1", 1),
        ("template", "solar-module@1", 1),
        ("meta:model", "CS7N-700TB-AG", 0),
        ("meta:serialNumber", "CS7N2603180009999", 0),
    }


async def test_numbers_and_booleans_are_searchable_in_json_spelling(core: Core, firm: Firm) -> None:
    document = next_version("generic-product", **{"$id": "urn:idnode:template:rated-thing"})
    document["properties"]["netWeight"]["x-searchable"] = True
    document["properties"]["certified"] = {
        "title": "已认证",
        "x-title-en": "Certified",
        "type": "boolean",
        "x-searchable": True,
    }
    await core.templates.add(core.local_operator, document)
    content = example("generic-product", netWeight=98.5, certified=True)
    handle = firm.handle("THING-1")
    await core.registry.put_record(firm.admin, handle, described("rated-thing@1", content))
    found = {(key, value) for key, value, _ in await entries(core, handle)}
    assert {("meta:netWeight", "98.5"), ("meta:certified", "true"), ("meta:model", "IS80-65-160")} <= found


INVALID_METADATA = [
    (example("solar-module", serialNumber=None), "METADATA /serialNumber: required field is missing"),
    (example("solar-module", ratedPower="700 W"), "METADATA /ratedPower: '700 W' is not of type 'number'"),
    (
        example("solar-module", manufactureDate="2026-02-30"),
        "METADATA /manufactureDate: '2026-02-30' is not a 'date'",
    ),
    (example("solar-module", ratedPower=-5), "METADATA /ratedPower: -5 is less than the minimum of 0"),
    (example("solar-module", colour="black"), "METADATA /colour: field not allowed by the template"),
    (
        example("solar-module", dimensions={"length": 2384, "width": 1303, "thickness": 0}),
        "METADATA /dimensions/thickness: 0 is less than or equal to the minimum of 0",
    ),
    (example("solar-module", cellType="perovskite"), "METADATA /cellType: 'perovskite' is not one of"),
    ('{"model": "CS7N-700TB-AG",', "METADATA is not valid JSON"),
    ("[1, 2]", "METADATA must be a JSON object"),
]


@pytest.mark.parametrize(("content", "message"), INVALID_METADATA)
async def test_invalid_metadata_is_refused_and_nothing_stored(
    core: Core, firm: Firm, content: Any, message: str
) -> None:
    handle = firm.handle("CS7N-BAD")
    audits = len(await audit_rows(core.repository))
    with pytest.raises(InvalidValue) as raised:
        await core.registry.put_record(firm.admin, handle, described("solar-module@1", content))
    assert raised.value.response_code == 202
    assert raised.value.message.startswith(message)
    assert await stored(core, handle) is None
    assert await entries(core, handle) == set()
    assert len(await audit_rows(core.repository)) == audits


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (described("solar-module@9", {}), "TEMPLATE solar-module@9: no such template version on this node."),
        (described("nonexistent@1", {}), "TEMPLATE nonexistent@1: no such template version"),
        (described("solar-module", {}), "TEMPLATE must be a string <name>@<version>"),
        (described("Solar-Module@1", {}), "TEMPLATE must be a string <name>@<version>"),
        ([template_value("solar-module@1")], "TEMPLATE solar-module@1 needs a METADATA value"),
        ([metadata_value({}), metadata_value({}, index=4)], "A record carries at most one TEMPLATE and one"),
        (
            [template_value("part@1"), template_value("solar-module@1", index=4), metadata_value({})],
            "A record carries at most one TEMPLATE",
        ),
        (
            [
                template_value("solar-module@1"),
                HandleValue.from_json(
                    {"index": 3, "type": "METADATA", "data": {"format": "hex", "value": "7b7d"}}
                ),
            ],
            "METADATA must be a string value",
        ),
    ],
)
async def test_broken_template_references_are_refused(
    core: Core, firm: Firm, values: list[HandleValue], message: str
) -> None:
    handle = firm.handle("REF-BAD")
    with pytest.raises(InvalidValue, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        await core.registry.put_record(firm.admin, handle, values)
    assert await stored(core, handle) is None


async def test_many_problems_are_reported_sorted_and_counted(core: Core, firm: Firm) -> None:
    content = {"ratedPower": -1, "weight": 0, "cellType": "x", "manufactureDate": "soon", "extra": 1}
    with pytest.raises(InvalidValue) as raised:
        await core.registry.put_record(firm.admin, firm.handle("MANY"), described("solar-module@1", content))
    assert raised.value.message == (
        "METADATA /cellType: 'x' is not one of ['TOPCon', 'PERC', 'HJT', 'BC', 'poly-Si', 'other']; "
        "/dimensions: required field is missing; "
        "/extra: field not allowed by the template; "
        "/manufactureDate: 'soon' is not a 'date'; "
        "/manufacturer: required field is missing; and 4 more (template solar-module@1)."
    )


async def test_metadata_without_a_template_is_free_json_but_an_object(core: Core, firm: Firm) -> None:
    handle = firm.handle("FREE-1")
    await core.registry.put_record(firm.admin, handle, [url_value(), metadata_value({"颜色": "黑", "n": 1})])
    assert await entries(core, handle) == {("URL", "https://example.com/m/1", 1)}
    with pytest.raises(InvalidValue, match="METADATA must be a JSON object"):
        await core.registry.put_record(firm.admin, firm.handle("FREE-2"), [metadata_value('"text"')])


async def test_partial_writes_are_checked_as_the_record_would_be_stored(core: Core, firm: Firm) -> None:
    handle = firm.handle("PARTIAL")
    await core.registry.put_record(firm.admin, handle, described("part@1", example("part")))
    before = await stored(core, handle)
    with pytest.raises(InvalidValue, match="METADATA /serialNumber: required field is missing"):
        await core.registry.put_record(
            firm.admin, handle, [metadata_value(example("part", serialNumber=None))], indexes=[3]
        )
    with pytest.raises(InvalidValue, match="TEMPLATE part@1 needs a METADATA value"):
        await core.registry.delete(firm.admin, handle, indexes=[3])
    # Naming another template without metadata for it: checked against the new template.
    with pytest.raises(
        InvalidValue, match=r"/componentType: required field is missing.*wind-turbine-component@1"
    ):
        await core.registry.put_record(
            firm.admin, handle, [template_value("wind-turbine-component@1")], indexes=[2]
        )
    assert await stored(core, handle) == before
    # Adding a TEMPLATE to a record whose metadata matches it, and dropping it again, are fine.
    free = firm.handle("PARTIAL-FREE")
    await core.registry.put_record(firm.admin, free, [url_value(), metadata_value(example("part"))])
    await core.registry.put_record(firm.admin, free, [template_value("part@1")], indexes=[2])
    assert ("template", "part@1", 1) in await entries(core, free)
    await core.registry.delete(firm.admin, free, indexes=[2])
    assert await entries(core, free) == {("URL", "https://example.com/m/1", 1)}


async def test_records_keep_the_version_they_were_made_with(core: Core, firm: Firm) -> None:
    old = firm.handle("PUMP-V1")
    await core.registry.put_record(
        firm.admin, old, described("generic-product@1", example("generic-product"))
    )
    document = next_version("generic-product")
    document["properties"]["energyClass"] = {
        "title": "能效等级",
        "x-title-en": "Energy efficiency class",
        "type": "string",
        "enum": ["1", "2", "3"],
    }
    document["required"] = [*document["required"], "energyClass"]
    assert (await core.templates.add(core.local_operator, document)).ref == "generic-product@2"

    record = await stored(core, old)
    assert record is not None and record.by_index()[2].data == "generic-product@1"
    assert (await core.resolver.resolve(old)).to_json()["values"][1]["data"]["value"] == "generic-product@1"
    # Updating the v1 record's metadata keeps checking it against v1, where energyClass is unknown.
    updated = example("generic-product", batchNumber="B20260401-01")
    await core.registry.put_record(firm.admin, old, [metadata_value(updated)], indexes=[3])
    with pytest.raises(InvalidValue, match="/energyClass: field not allowed"):
        await core.registry.put_record(
            firm.admin, old, [metadata_value({**updated, "energyClass": "1"})], indexes=[3]
        )
    # New records naming v2 need the new field; the old record moves to v2 by naming it, with it.
    with pytest.raises(InvalidValue, match="/energyClass: required field is missing"):
        await core.registry.put_record(
            firm.admin, firm.handle("PUMP-V2"), described("generic-product@2", example("generic-product"))
        )
    await core.registry.put_record(
        firm.admin, old, described("generic-product@2", {**updated, "energyClass": "2"})
    )
    assert await users_of(core, "generic-product@2") == {str(old)}
    assert await users_of(core, "generic-product@1") == set()


async def test_a_used_version_cannot_be_deleted_and_a_deleted_number_is_not_reused(
    core: Core, firm: Firm
) -> None:
    op = core.local_operator
    first, second = firm.handle("AP-1"), firm.handle("AP-2")
    for handle in (first, second):
        await core.registry.put_record(firm.admin, handle, described("auto-part@1", example("auto-part")))
    assert await users_of(core, "auto-part@1") == {str(first), str(second)}
    with pytest.raises(TemplateInUse, match="auto-part@1 is used by stored records"):
        await core.templates.delete(op, "auto-part@1")
    await core.registry.delete(firm.admin, first)
    # A record keeping its metadata but no longer naming the template does not use it.
    await core.registry.delete(firm.admin, second, indexes=[2])
    await core.templates.delete(op, "auto-part@1")
    assert await core.templates.versions("auto-part") == []
    for missing in (core.templates.read("auto-part"), core.templates.read("auto-part", 1)):
        with pytest.raises(TemplateNotFound):
            await missing
    with pytest.raises(TemplateNotFound):
        await core.templates.delete(op, "auto-part@1")
    with pytest.raises(InvalidValue, match="TEMPLATE auto-part@1: no such template version"):
        await core.registry.put_record(firm.admin, first, described("auto-part@1", example("auto-part")))
    deleted = [r for r in await audit_rows(core.repository) if r["action"] == "template-delete"]
    assert [(r["target"], r["old"], r["new"]) for r in deleted] == [
        ("template:auto-part@1", SHIPPED["auto-part"], None)
    ]
    with pytest.raises(TemplateExists, match="the next version is 2"):
        await core.templates.add(op, SHIPPED["auto-part"])
    assert (await core.templates.add(op, next_version("auto-part"))).ref == "auto-part@2"


async def test_a_deleted_shipped_version_is_not_seeded_again(core: Core) -> None:
    await core.templates.delete(core.local_operator, "part@1")
    async with open_core(core.settings) as reopened:
        assert "part" not in {t.name for t in await reopened.templates.versions()}
        assert await reopened.templates.seed() == []


async def test_seeding_adds_only_what_is_missing(core: Core) -> None:
    assert await core.templates.seed() == []
    assert len(await core.templates.versions()) == len(KINDS)


async def test_a_version_deleted_by_another_process_is_refused_though_cached(core: Core, firm: Firm) -> None:
    elsewhere = MetadataRules(TemplateCatalog(core.repository))  # another process's catalog and cache
    record = Record(
        firm.handle("CACHED"), tuple(described("production-equipment@1", example("production-equipment")))
    )
    assert await elsewhere.check([record]) == [None]  # now cached there
    await core.templates.delete(core.local_operator, "production-equipment@1")
    assert await elsewhere.check([record]) == [None]  # the cache does not see deletions ...
    async with core.repository.transaction() as tx:
        with pytest.raises(InvalidValue, match="no such template version"):
            await elsewhere.require(tx, record)  # ... but a write asks the database
        with pytest.raises(InvalidValue, match=r"production-equipment@1 deleted meanwhile"):
            await elsewhere.hold(tx, [record])


async def test_a_delete_waits_for_a_write_using_the_version(core: Core, firm: Firm) -> None:
    record = Record(firm.handle("RACE"), tuple(described("part@1", example("part"))), version=1)
    async with core.repository.transaction() as tx:  # a write naming part@1, checked, not yet stored
        await core.registry.metadata.require(tx, record)
        deleting = asyncio.create_task(core.templates.delete(core.local_operator, "part@1"))
        await asyncio.sleep(0.5)
        assert not deleting.done()  # held: the delete waits for the write to end ...
        await core.registry.committer.create(tx, str(firm.admin), record)
    with pytest.raises(TemplateInUse):  # ... and then sees the record using the version
        await deleting
    assert (await core.templates.read("part", 1)).ref == "part@1"


async def test_client_values_cannot_pass_for_derived_entries(core: Core, firm: Firm) -> None:
    handle = firm.handle("LOOKALIKE")
    values = [
        HandleValue.from_json({"index": 1, "type": "template", "data": "part@1"}),
        HandleValue.from_json({"index": 2, "type": "meta:serialNumber", "data": "X"}),
        HandleValue.from_json({"index": 3, "type": "MODEL", "data": "IS80"}),
    ]
    await core.registry.put_record(firm.admin, handle, values)
    found = await entries(core, handle)
    assert ("MODEL", "IS80", 1) in found  # value types are keyed in upper case ...
    assert not any(key == "template" or key.startswith("meta:") for key, _, _ in found)  # ... never these
    await core.templates.delete(core.local_operator, "part@1")


async def test_bulk_registration_checks_each_item(core: Core, firm: Firm) -> None:
    def item(n: int, content: Any) -> tuple[str, list[dict[str, Any]]]:
        values = [v.to_json() for v in described("wind-turbine-component@1", content)]
        return f"{firm.prefix}/BLADE-{n}", values

    good = example("wind-turbine-component")
    items = [
        item(0, good),
        item(1, example("wind-turbine-component", componentType="propeller")),
        item(2, {**good, "serialNumber": "GWB-260318-0022"}),
        (
            f"{firm.prefix}/BLADE-3",
            [template_value("wind-turbine-component@5").to_json(), metadata_value(good).to_json()],
        ),
        item(4, "not json"),
    ]
    result = await BulkRegistrar(core.registry).register(firm.admin, items, batch_size=3)
    assert (result.created, result.failed) == (2, 3)
    assert [(f.index, f.response_code) for f in result.failures] == [(1, 202), (3, 202), (4, 202)]
    assert result.failures[0].message.startswith("METADATA /componentType: 'propeller' is not one of")
    assert (
        result.failures[1].message
        == "TEMPLATE wind-turbine-component@5: no such template version on this node."
    )
    assert result.failures[2].message.startswith("METADATA is not valid JSON")
    assert await users_of(core, "wind-turbine-component@1") == {
        f"{firm.prefix}/BLADE-0",
        f"{firm.prefix}/BLADE-2",
    }
    assert ("meta:serialNumber", "GWB-260318-0022", 1) in await entries(core, f"{firm.prefix}/BLADE-2")
    assert await stored(core, Identifier.parse(f"{firm.prefix}/BLADE-1")) is None
    with pytest.raises(TemplateInUse):
        await core.templates.delete(core.local_operator, "wind-turbine-component@1")
