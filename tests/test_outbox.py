"""The outbox of upstream reports (idnode.outbox, Transaction.add_reports, the Committer and the
registry's enterprise writes) and the node lock the sender holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from idnode.bulk import BulkRegistrar
from idnode.core import Core
from idnode.delivery import backoff
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import EnterpriseExists, HandleAlreadyExists
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.outbox import batch_message
from idnode.sample import make_uscc
from idnode.storage.repository import StoredReport
from idnode.upstream import LOCK_NAME

SCHEMA = Path(__file__).parent.parent / "schema" / "upstream"


def url(target: str) -> list[HandleValue]:
    return [HandleValue.from_json({"index": 1, "type": "URL", "data": target})]


def draft(serial: int) -> EnterpriseDraft:
    fields = {
        "name": f"上报测试企业{serial}",
        "uscc": make_uscc(serial),
        "district": "亭湖区",
        "industry": "通用设备制造业",
        "contact_name": "李工",
        "contact_phone": "13800000000",
    }
    return EnterpriseDraft.from_json(fields, ())


async def onboard(core: Core, serial: int) -> Principal:
    enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft(serial))
    return Principal(f"{enterprise.prefix}/ADMIN", 300)


async def queued(core: Core) -> list[StoredReport]:
    return await core.repository.pending_reports(100_000)


def brief(reports: list[StoredReport]) -> list[tuple[str, str]]:
    return [(r.kind, r.subject) for r in reports]


def validate(document: Any, name: str) -> None:
    schema = json.loads((SCHEMA / name).read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)


async def test_onboarding_and_enterprise_changes_are_reported(core: Core) -> None:
    admin = await onboard(core, 1)
    await core.registry.update_enterprise(core.local_operator, admin.prefix, {"status": "suspended"})
    reports = await queued(core)
    # The prefix handle and the admin handle made at onboarding are not reported, only the enterprise.
    assert brief(reports) == [("enterprise.create", admin.prefix), ("enterprise.update", admin.prefix)]
    created, updated = (orjson.loads(r.payload) for r in reports)
    assert created == {
        "prefix": admin.prefix,
        "name": "上报测试企业1",
        "uscc": make_uscc(1),
        "district": "亭湖区",
        "industry": "通用设备制造业",
        "status": "active",
        "registered_on": created["registered_on"],
    }
    assert updated == {**created, "status": "suspended"}  # contacts are never reported
    assert reports[0].seq < reports[1].seq


async def test_identifier_changes_are_reported_with_their_log_entries(core: Core) -> None:
    admin = await onboard(core, 2)
    handle = Identifier(admin.prefix, "PUMP-1")
    await core.registry.put_record(admin, handle, url("https://example.com/1"), overwrite=False)
    await core.registry.put_record(admin, handle, url("https://example.com/2"))
    logged_change = await core.repository.latest_log_entry(str(handle))
    await core.registry.delete(admin, handle)
    await core.registry.reset_enterprise_secret(core.local_operator, admin.prefix)  # an ADMIN handle
    reports = await queued(core)
    assert brief(reports)[1:] == [
        ("identifier.create", str(handle)),
        ("identifier.modify", str(handle)),
        ("identifier.delete", str(handle)),
    ]
    payloads = [orjson.loads(r.payload) for r in reports[1:]]
    assert logged_change is not None
    seq, entry, _ = logged_change
    assert payloads[1] == {"handle": str(handle), "record": orjson.loads(entry)["record"], "log": seq}
    assert payloads[0]["log"] == seq - 1 and payloads[2]["log"] == seq + 1
    assert payloads[2]["record"] is None
    assert [r.seq for r in reports] == sorted(r.seq for r in reports)


async def test_a_failed_write_queues_no_report(core: Core) -> None:
    admin = await onboard(core, 3)
    handle = Identifier(admin.prefix, "ROLLED-BACK")
    before = await queued(core)
    with pytest.raises(RuntimeError):
        async with core.repository.transaction() as tx:
            await core.registry.committer.create(tx, str(admin), Record(handle, tuple(url("https://x")), 1))
            rows = (await tx.conn.exec_driver_sql("SELECT seq FROM outbox")).all()
            assert len(rows) == len(before) + 1
            raise RuntimeError("the write fails after its report was queued")
    with pytest.raises(EnterpriseExists):
        await core.registry.add_enterprise(core.local_operator, draft(3))
    await core.registry.put_record(admin, handle, url("https://example.com"), overwrite=False)
    with pytest.raises(HandleAlreadyExists):
        await core.registry.put_record(admin, handle, url("https://example.com/again"), overwrite=False)
    assert brief(await queued(core)) == [*brief(before), ("identifier.create", str(handle))]


async def test_bulk_registration_reports_each_identifier_once(core: Core) -> None:
    admin = await onboard(core, 4)
    await core.registry.put_record(admin, Identifier(admin.prefix, "B-0003"), url("https://taken"))
    items = [(Identifier(admin.prefix, f"B-{n:04d}"), url(f"https://example.com/{n}")) for n in range(12)]
    result = await BulkRegistrar(core.registry).register(admin, items, batch_size=5)
    assert (result.created, result.failed) == (11, 1)
    reports = await queued(core)
    bulk = reports[2:]  # after the onboarding and the single create
    assert brief(bulk) == [("identifier.create", f"{admin.prefix}/B-{n:04d}") for n in range(12) if n != 3]
    logs = [orjson.loads(r.payload)["log"] for r in bulk]
    for report in bulk:
        latest = await core.repository.latest_log_entry(report.subject)
        assert latest is not None and orjson.loads(report.payload)["log"] == latest[0]
    assert logs == sorted(logs)


async def test_delivery_marks_only_what_it_is_told_and_counts_attempts(core: Core) -> None:
    admin = await onboard(core, 5)
    for n in range(3):
        await core.registry.put_record(admin, Identifier(admin.prefix, f"D-{n}"), url("https://d"))
    first, *rest = await queued(core)
    await core.repository.record_attempt([r.seq for r in rest], delivered=False)
    await core.repository.record_attempt([first.seq], delivered=True)
    assert await queued(core) == rest
    pending, oldest = await core.repository.report_backlog()
    assert pending == 3 and oldest == rest[0].created_at
    await core.repository.record_attempt([first.seq, rest[0].seq], delivered=True)
    assert await queued(core) == rest[1:]
    async with core.repository.engines.reader.connect() as conn:
        attempts = dict((await conn.exec_driver_sql("SELECT seq, attempts FROM outbox")).all())
    # An attempt on a report delivered already changes nothing.
    assert [attempts[r.seq] for r in [first, *rest]] == [1, 2, 1, 1]
    backlog = await core.stats.backlog()
    assert backlog["pending"] == 2 and 0 <= backlog["oldest_age_seconds"] < 60


async def test_batch_message_matches_the_published_schema(core: Core) -> None:
    admin = await onboard(core, 6)
    handle = Identifier(admin.prefix, "产品/001")
    await core.registry.put_record(admin, handle, url("https://example.com"), overwrite=False)
    await core.registry.delete(admin, handle)
    message = batch_message("88.999", await queued(core))
    validate(message, "report-batch-v1.json")
    assert [r["id"] for r in message["reports"]] == [f"88.999:{r['seq']}" for r in message["reports"]]
    bad = {**message, "reports": [{**message["reports"][1], "payload": {"handle": str(handle)}}]}
    with pytest.raises(jsonschema.ValidationError):
        validate(bad, "report-batch-v1.json")
    validate({"version": 1, "accepted": [r["id"] for r in message["reports"]]}, "report-ack-v1.json")


async def test_one_process_at_a_time_holds_the_node_lock(core: Core) -> None:
    first, second = core.repository.node_lock(LOCK_NAME), core.repository.node_lock(LOCK_NAME)
    other = core.repository.node_lock("another-lock")
    try:
        assert await first.try_acquire()
        assert await first.try_acquire()  # still held
        assert not await second.try_acquire()
        assert await other.try_acquire()
        await first.release()
        assert await second.try_acquire()
        assert not await first.try_acquire()
    finally:
        for lock in (first, second, other):
            await lock.release()


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    for failures, delay in ((1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0)):
        waits = [backoff(failures, 300.0) for _ in range(50)]
        assert all(delay / 2 <= w <= delay for w in waits)
        assert len(set(waits)) > 1
    assert all(2.5 <= backoff(60, 5.0) <= 5.0 for _ in range(50))
