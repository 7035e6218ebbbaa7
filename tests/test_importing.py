"""Importing files through the core (idnode.importing) on SQLite and PostgreSQL: mixed valid and
invalid rows with their error reports, re-runs, updates, dry runs, templates and permissions."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from idnode.bulk import BulkResult
from idnode.core import Core
from idnode.importfile import ImportFile
from idnode.importing import ErrorReport, Importer, summary
from idnode.model.errors import (
    AuthenticationNeeded,
    EnterpriseSuspended,
    IdnodeError,
    InsufficientPermissions,
    PrefixNotHere,
)
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.values import HandleValue
from idnode.storage.tables import audit, handles, log_entries
from idnode.verify import verify_record
from tests.test_bulk import count, onboard, table_rows
from tests.test_coercion import SCHEMA
from tests.test_verify import fetcher


@dataclass
class Imported:
    result: BulkResult
    report: list[list[str]]  # the error report's rows, header included ([] when not written)
    report_bytes: bytes


async def run(
    importer: Importer, principal: Principal, tmp_path: Path, content: bytes, fmt: str = "csv", **options: Any
) -> Imported:
    path, report_path = tmp_path / f"rows.{fmt}", tmp_path / "rows.errors.csv"
    path.write_bytes(content)
    with path.open("rb") as stream, ErrorReport(report_path) as report:
        source = ImportFile.open(stream, fmt)
        result = await importer.run(principal, source, prefix=principal.prefix, report=report, **options)
    raw = report_path.read_bytes() if report_path.exists() else b""
    return Imported(result, list(csv.reader(io.StringIO(raw.decode("utf-8-sig")))), raw)


def mixed_csv(prefix: str) -> str:
    """Valid and invalid rows; the comments give each row's number as a spreadsheet shows it."""
    return (
        "标识后缀,网址,GS1,型号,备注\n"  # 1
        "PUMP-001,https://example.com/p/1,(01)09506000134352(21)1,离心泵 IS80,\n"  # 2
        'PUMP-002,https://example.com/p/2,,管道泵,"含逗号,的备注"\n'  # 3
        ",https://example.com/p/x,,无后缀,\n"  # 4
        "PUMP-001,https://example.com/p/again,,,\n"  # 5
        "PUMP\t003,https://example.com/p/3,,,\n"  # 6
        "PUMP-004,https://example.com/p/4,,,,多余\n"  # 7
        "\n"  # 8
        'PUMP-005,https://example.com/p/5,,"两行\n备注",\n'  # 9, on two lines
        f"{'长' * 90},https://example.com/p/6,,,\n"  # 10
        "PUMP-007,,,,\n"  # 11
    )


def expected_report(prefix: str) -> list[list[str]]:
    return [
        ["row", "handle", "responseCode", "message"],
        ["4", "", "102", "The row has no suffix."],
        [
            "5",
            f"{prefix}/PUMP-001",
            "101",
            f"Handle {prefix}/PUMP-001 appears more than once in the file (first in row 2).",
        ],
        [
            "6",
            f"{prefix}/PUMP\t003",
            "102",
            "The suffix contains a non-printable character U+0009 at position 4.",
        ],
        ["7", "", "4", "Row 7 has 6 cells; the header names 5."],
        ["10", f"{prefix}/{'长' * 90}", "102", "The suffix is longer than 255 bytes in UTF-8."],
    ]


async def typed_data(core: Core, identifier: Identifier) -> dict[int, tuple[str, Any]]:
    """A stored record's (type, data) by index."""
    record = await core.repository.get_record(identifier)
    assert record is not None
    return {v.index: (v.type, v.data) for v in record.values}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_a_mixed_csv_file_imports_its_valid_rows_and_reports_the_others(
    core: Core, tmp_path: Path, encoding: str
) -> None:
    admin = await onboard(core, 21)
    prefix = admin.prefix
    done = await run(core.importer, admin, tmp_path, mixed_csv(prefix).encode(encoding), batch_size=3)
    assert (done.result.created, done.result.failed, done.result.processed) == (4, 5, 9)
    assert done.report_bytes.startswith(b"\xef\xbb\xbf")  # spreadsheet programs then read UTF-8
    assert done.report == expected_report(prefix)
    stored = {
        suffix: await typed_data(core, Identifier(prefix, suffix))
        for suffix in ("PUMP-001", "PUMP-002", "PUMP-005", "PUMP-007")
    }
    assert stored["PUMP-001"][1] == ("URL", "https://example.com/p/1")
    assert stored["PUMP-001"][3] == ("METADATA", '{"型号":"离心泵 IS80"}')
    assert stored["PUMP-001"][4] == ("GS1", "(01)09506000134352(21)1")
    assert stored["PUMP-002"][3] == ("METADATA", '{"型号":"管道泵","备注":"含逗号,的备注"}')
    assert stored["PUMP-005"][3] == ("METADATA", '{"型号":"两行\\n备注"}')
    assert sorted(stored["PUMP-007"]) == [100, 400]  # a suffix alone registers the identifier
    fetch = fetcher(core)
    for suffix in stored:
        handle = f"{prefix}/{suffix}"
        resolved = await fetch(handle)
        assert resolved is not None and (await verify_record(resolved, fetch)).ok
        assert [r["action"] for r in await core.repository.audit_trail(handle)] == ["create"]
        assert await core.repository.latest_log_entry(handle) is not None
    assert summary(done.result)["failures"][0] == {
        "row": 4,
        "handle": "",
        "responseCode": 102,
        "message": "The row has no suffix.",
    }


async def test_a_mixed_json_lines_file(core: Core, tmp_path: Path) -> None:
    admin = await onboard(core, 22)
    prefix = admin.prefix
    lines = [
        {"suffix": "J-1", "url": "https://example.com/j/1", "型号": "离心泵", "metadata": {"级数": 2}},
        {
            "handle": f"{prefix}/J-2",
            "values": [{"index": 1, "type": "URL", "data": "https://example.com/j/2"}],
        },
        {"handle": "88.999.9999/J-3", "url": "https://example.com/j/3"},
        {"suffix": "J-4", "values": [{"index": "one", "type": "URL", "data": "x"}]},
        {"suffix": "J-5", "values": [], "url": "https://example.com/j/5"},
        {"suffix": 5},
        {"suffix": "J-6", "url": ["https://example.com/j/6"]},
        {"suffix": "J-1"},
    ]
    text = "\n".join(orjson.dumps(line).decode() for line in lines) + "\n{broken\n"
    done = await run(core.importer, admin, tmp_path, text.encode(), "jsonl")
    assert (done.result.created, done.result.failed) == (2, 7)
    assert done.report[1:-1] == [
        ["3", "88.999.9999/J-3", "102", f"Handle 88.999.9999/J-3 is not under prefix {prefix}."],
        ["4", f"{prefix}/J-4", "202", "The index must be an integer, got 'one'."],
        ["5", f"{prefix}/J-5", "202", "A row with 'values' is the whole record: leave out url."],
        ["6", "", "202", "'suffix' must be a string."],
        ["7", f"{prefix}/J-6", "202", "'url' must be a string."],
        [
            "8",
            f"{prefix}/J-1",
            "101",
            f"Handle {prefix}/J-1 appears more than once in the file (first in row 1).",
        ],
    ]
    assert done.report[-1][:3] == ["9", "", "4"] and done.report[-1][3].startswith("Line 9 is not valid JSON")
    first = await core.repository.get_record(Identifier(prefix, "J-1"))
    assert first is not None and first.by_index()[3].data == '{"型号":"离心泵","级数":2}'  # JSON types kept
    second = await core.repository.get_record(Identifier(prefix, "J-2"))
    assert second is not None and sorted(second.by_index()) == [1, 100, 400]


def products(prefix: str, count: int, changed: Mapping[int, str] | None = None) -> bytes:
    changed = changed or {}
    lines = ["suffix,url,gs1,model"]
    for n in range(count):
        gs1 = f"(01)09506000134352(21){n}" if n not in changed or changed[n] != "no gs1" else ""
        url = changed[n] if changed.get(n, "").startswith("https") else f"https://example.com/p/{n}"
        lines.append(f"P-{n:03d},{url},{gs1},型号{n}")
    return ("\n".join(lines) + "\n").encode()


async def snapshot(core: Core) -> list[set[tuple[Any, ...]]]:
    return [await table_rows(core, t) for t in (handles, audit, log_entries)]


async def test_importing_a_file_again_changes_nothing(core: Core, tmp_path: Path) -> None:
    admin = await onboard(core, 23)
    first = await run(core.importer, admin, tmp_path, products(admin.prefix, 30), batch_size=7)
    assert (first.result.created, first.result.failed) == (30, 0) and first.report == []
    before = await snapshot(core)
    again = await run(core.importer, admin, tmp_path, products(admin.prefix, 30), batch_size=4)
    assert (again.result.created, again.result.updated, again.result.unchanged) == (0, 0, 30)
    assert await snapshot(core) == before  # same versions and signatures, no audit rows, no log entries


async def test_changed_rows_are_updated_and_audited_and_other_values_kept(core: Core, tmp_path: Path) -> None:
    admin = await onboard(core, 24)
    prefix = admin.prefix
    await run(core.importer, admin, tmp_path, products(prefix, 10))
    link = HandleValue.from_json({"index": 10, "type": "URL", "data": "https://example.com/manual"})
    await core.registry.put_record(admin, Identifier(prefix, "P-004"), [link], indexes=[10])
    before = {n: await core.repository.get_record(Identifier(prefix, f"P-{n:03d}")) for n in range(12)}
    audits, logged = await count(core, audit), await count(core, log_entries)
    edited = products(prefix, 12, {2: "https://example.com/moved", 3: "no gs1"})
    done = await run(core.importer, admin, tmp_path, edited)
    assert (done.result.created, done.result.updated, done.result.unchanged, done.result.failed) == (
        2,
        2,
        8,
        0,
    )
    after = {n: await core.repository.get_record(Identifier(prefix, f"P-{n:03d}")) for n in range(12)}
    assert all(after[n] == before[n] for n in (0, 1, 4, 5, 6, 7, 8, 9))
    assert after[2] is not None and after[2].by_index()[1].data == "https://example.com/moved"
    assert after[3] is not None and sorted(after[3].by_index()) == [1, 3, 100, 400]  # the GS1 value removed
    assert before[4] is not None and 10 in before[4].by_index()  # a value no row owns stays
    for n in (2, 3):
        old, new = before[n], after[n]
        assert old is not None and new is not None and new.version == old.version + 1
        trail = await core.repository.audit_trail(f"{prefix}/P-{n:03d}")
        assert [(r["actor"], r["action"]) for r in trail] == [(str(admin), "create"), (str(admin), "modify")]
        entry = await core.repository.latest_log_entry(f"{prefix}/P-{n:03d}")
        assert entry is not None and '"action":"modify"' in entry[1]
    assert await count(core, audit) == audits + 4 and await count(core, log_entries) == logged + 4


async def test_a_dry_run_checks_everything_and_writes_nothing(core: Core, tmp_path: Path) -> None:
    admin = await onboard(core, 25)
    await run(core.importer, admin, tmp_path, products(admin.prefix, 5))
    content = products(admin.prefix, 8, {1: "https://example.com/moved"}) + b"P-001,https://x,,\n"
    before = await snapshot(core)
    dry = await run(core.importer, admin, tmp_path, content, dry_run=True)
    assert await snapshot(core) == before
    assert (dry.result.created, dry.result.updated, dry.result.unchanged, dry.result.failed) == (3, 1, 4, 1)
    assert dry.report[1][:3] == ["10", f"{admin.prefix}/P-001", "101"]
    real = await run(core.importer, admin, tmp_path, content)
    assert real.result.to_json() == dry.result.to_json() and real.report == dry.report


async def test_a_template_names_the_rows_and_types_their_fields(core: Core, tmp_path: Path) -> None:
    admin = await onboard(core, 26)
    module = {
        **SCHEMA,
        "$id": "urn:idnode:template:test-module",
        "title": "测试组件",
        "x-title-en": "Test module",
        "required": ["model"],
    }
    template = await core.templates.add(core.local_operator, module)
    content = (
        "后缀,型号,额定功率,双面,cells\n"
        'M-1,JAM72S30,550,是,"[""mono"",144]"\n'
        "M-2,JAM72S30,五百五,否,\n"
        "M-3,,,,\n"
    )
    done = await run(core.importer, admin, tmp_path, content.encode("gbk"), template=template.ref)
    assert (done.result.created, done.result.failed) == (1, 2)
    assert done.report[1] == [
        "3",
        f"{admin.prefix}/M-2",
        "202",
        "Field 'power_w': '五百五' is not a valid integer.",
    ]
    assert done.report[2][:3] == ["4", f"{admin.prefix}/M-3", "202"]  # the template requires a model
    assert "/model" in done.report[2][3] or "model" in done.report[2][3]
    record = await core.repository.get_record(Identifier(admin.prefix, "M-1"))
    assert record is not None
    assert record.by_index()[2].type == "TEMPLATE" and record.by_index()[2].data == template.ref
    assert orjson.loads(record.by_index()[3].data) == {
        "bifacial": True,
        "cells": ["mono", 144],
        "model": "JAM72S30",
        "power_w": 550,
    }
    assert await core.repository.get_record(Identifier(admin.prefix, "M-3")) is None
    jsonl = b'{"suffix": "M-4", "model": "X", "power_w": "550"}\n'  # JSON values are kept as sent
    bad = await run(core.importer, admin, tmp_path, jsonl, "jsonl", template=template.ref)
    assert bad.result.failed == 1 and "/power_w" in bad.report[1][3]  # ... and checked as sent
    with pytest.raises(IdnodeError, match="No template test-module@2"):
        await run(core.importer, admin, tmp_path, b"suffix\nM-9\n", template="test-module@2")
    assert await core.repository.get_record(Identifier(admin.prefix, "M-9")) is None


async def test_who_may_import_where(core: Core, tmp_path: Path) -> None:
    first, second = await onboard(core, 27), await onboard(core, 28)
    untouched = await snapshot(core)
    content = b"suffix,url\nX-1,https://example.com/x\n"
    refusals: list[tuple[Principal | None, str, type[Exception]]] = [
        (None, first.prefix, AuthenticationNeeded),
        (second, first.prefix, InsufficientPermissions),
        (core.local_operator, "88.999.4242", PrefixNotHere),
    ]
    for principal, prefix, error in refusals:
        with pytest.raises(error):
            await core.importer.check(principal, prefix)
    with pytest.raises(InsufficientPermissions):
        await core.importer.run(second, ImportFile.open(io.BytesIO(content), "csv"), prefix=first.prefix)
    assert await snapshot(core) == untouched
    await core.registry.update_enterprise(core.local_operator, first.prefix, {"status": "suspended"})
    before = await snapshot(core)
    with pytest.raises(EnterpriseSuspended):
        await run(core.importer, first, tmp_path, content)
    assert not (tmp_path / "rows.errors.csv").exists()
    assert await snapshot(core) == before
    assert await core.importer.check(core.local_operator, second.prefix.upper()) == second.prefix
    done = await run(core.importer, second, tmp_path, content)
    assert done.result.created == 1
