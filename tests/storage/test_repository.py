"""The async repository on SQLite and PostgreSQL: records, enterprises, audit, listing and counts."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from idnode.core import Core
from idnode.model.enterprise import Enterprise, EnterpriseStatus
from idnode.model.identifier import Identifier, admin_handle, prefix_handle
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.sample import make_uscc
from idnode.storage.repository import DuplicateKey, Repository
from idnode.storage.tables import audit, handles

PREFIX = "88.999.1001"


def url(index: int, target: str, timestamp: int = 1_700_000_000) -> HandleValue:
    return HandleValue(index=index, type="URL", format="string", data=target, timestamp=timestamp)


def record(handle: str, *values: HandleValue, version: int = 1) -> Record:
    return Record(Identifier.parse(handle), values or (url(1, f"https://example.com/{handle}"),), version)


def enterprise(number: int, status: EnterpriseStatus = EnterpriseStatus.ACTIVE) -> Enterprise:
    moment = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    return Enterprise(
        prefix=f"88.999.{number}",
        number=number,
        name=f"盐城测试企业{number}有限公司",
        uscc=make_uscc(number),
        district="盐都区",
        industry="通用设备制造业",
        contact_name="张三",
        contact_phone="0515-88888888",
        contact_email=f"ops{number}@example.com",
        status=status,
        registered_on=date(2026, 3, 1),
        created_at=moment,
        updated_at=moment,
    )


@pytest.fixture
def repo(core: Core) -> Repository:
    return core.repository


async def _audit_rows(repo: Repository) -> int:
    async with repo.engines.reader.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(audit))).scalar_one()


# -- records ---------------------------------------------------------------------------------------


async def test_insert_then_get_round_trips(repo: Repository) -> None:
    stored = record(
        f"{PREFIX}/pump-001",
        url(1, "https://example.com/a"),
        HandleValue(
            index=2,
            type="HS_ADMIN",
            format="admin",
            data={"handle": f"{PREFIX}/ADMIN", "index": 300, "permissions": "011111110011"},
            ttl=0,
            timestamp=5,
            permissions="1100",
            references=[{"handle": f"{PREFIX}/other", "index": 1}],
        ),
        HandleValue(index=3, type="DESC", format="string", data="离心泵 ✓", timestamp=6),
    )
    async with repo.transaction() as tx:
        await tx.insert_record(stored)
        assert await tx.get_record(stored.identifier) == stored  # visible inside the transaction
    assert await repo.get_record(stored.identifier) == stored
    assert await repo.get_record(Identifier.parse(f"{PREFIX}/pump-002")) is None


async def test_handle_lookup_is_by_canonical_prefix_and_exact_suffix(repo: Repository) -> None:
    async with repo.transaction() as tx:
        await tx.insert_record(record(f"{PREFIX}/Case"))
    assert await repo.get_record(Identifier.parse("88.999.1001/Case")) is not None
    assert await repo.get_record(Identifier.parse("88.999.1001/case")) is None


async def test_replace_record_with_expected_version(repo: Repository) -> None:
    original = record(f"{PREFIX}/r", url(1, "https://example.com/v1"))
    async with repo.transaction() as tx:
        await tx.insert_record(original)
    second = replace(original, values=(url(1, "https://example.com/v2"),), version=2)
    async with repo.transaction() as tx:
        assert await tx.replace_record(second, expected_version=1) is True
    assert await repo.get_record(original.identifier) == second


async def test_replace_record_with_stale_version_changes_nothing(repo: Repository) -> None:
    original = record(f"{PREFIX}/r", url(1, "https://example.com/v1"))
    async with repo.transaction() as tx:
        await tx.insert_record(original)
    stale = replace(original, values=(url(1, "https://example.com/lost"),), version=8)
    async with repo.transaction() as tx:
        assert await tx.replace_record(stale, expected_version=7) is False
        assert await tx.replace_record(stale, expected_version=2) is False
    assert await repo.get_record(original.identifier) == original


async def test_replace_missing_record_returns_false(repo: Repository) -> None:
    async with repo.transaction() as tx:
        assert await tx.replace_record(record(f"{PREFIX}/ghost", version=2), expected_version=1) is False
    assert await repo.get_record(Identifier.parse(f"{PREFIX}/ghost")) is None


async def test_replace_records_stores_all_or_none(repo: Repository) -> None:
    originals = [record(f"{PREFIX}/m{n}", url(1, f"https://example.com/{n}/v1")) for n in range(3)]
    async with repo.transaction() as tx:
        await tx.insert_records(originals)
        assert await tx.get_records([f"{PREFIX}/m2", f"{PREFIX}/m0", f"{PREFIX}/none"]) == {
            f"{PREFIX}/m0": originals[0],
            f"{PREFIX}/m2": originals[2],
        }
    newer = [
        replace(r, values=(url(1, f"https://example.com/{n}/v2"),), version=2)
        for n, r in enumerate(originals)
    ]
    async with repo.transaction() as tx:
        one_stale = [*newer[:2], replace(newer[2], version=5)]
        assert await tx.replace_records(one_stale) is False
        assert await tx.get_records([str(r.identifier) for r in originals], lock=True) == {
            str(r.identifier): r for r in originals
        }  # the two that matched were undone, inside the still usable transaction
        assert await tx.replace_records(newer) is True
    for stored in newer:
        assert await repo.get_record(stored.identifier) == stored


async def test_delete_record_checks_the_version(repo: Repository) -> None:
    stored = record(f"{PREFIX}/d", version=3)
    async with repo.transaction() as tx:
        await tx.insert_record(stored)
    async with repo.transaction() as tx:
        assert await tx.delete_record(stored.identifier, expected_version=2) is False
    assert await repo.get_record(stored.identifier) == stored
    async with repo.transaction() as tx:
        assert await tx.delete_record(stored.identifier, expected_version=3) is True
        assert await tx.get_record(stored.identifier) is None
    assert await repo.get_record(stored.identifier) is None
    async with repo.transaction() as tx:
        assert await tx.delete_record(stored.identifier, expected_version=3) is False


async def test_duplicate_insert_raises_and_transaction_stays_usable(repo: Repository) -> None:
    first = record(f"{PREFIX}/dup", url(1, "https://example.com/first"))
    async with repo.transaction() as tx:
        await tx.insert_record(first)
    async with repo.transaction() as tx:
        with pytest.raises(DuplicateKey, match=r"88\.999\.1001/dup"):
            await tx.insert_record(record(f"{PREFIX}/dup", url(1, "https://example.com/second")))
        # The failed insert rolled back only its savepoint: the transaction carries on and commits.
        await tx.insert_record(record(f"{PREFIX}/after-dup"))
        await tx.add_audit("tester", "create", f"{PREFIX}/after-dup", None, {"ok": True})
    assert await repo.get_record(first.identifier) == first
    assert await repo.get_record(Identifier.parse(f"{PREFIX}/after-dup")) is not None
    assert [row["action"] for row in await repo.audit_trail(f"{PREFIX}/after-dup")] == ["create"]


async def test_duplicate_within_one_transaction(repo: Repository) -> None:
    async with repo.transaction() as tx:
        await tx.insert_record(record(f"{PREFIX}/twice"))
        with pytest.raises(DuplicateKey):
            await tx.insert_record(record(f"{PREFIX}/twice"))
        assert await tx.get_record(Identifier.parse(f"{PREFIX}/twice")) is not None
    assert await repo.get_record(Identifier.parse(f"{PREFIX}/twice")) is not None


async def test_rollback_when_block_raises_leaves_nothing(repo: Repository) -> None:
    before = await _audit_rows(repo)
    target = f"{PREFIX}/doomed"

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with repo.transaction() as tx:
            await tx.insert_record(record(target))
            await tx.add_audit("tester", "create", target, None, [{"index": 1}])
            assert await tx.get_record(Identifier.parse(target)) is not None
            raise Boom
    assert await repo.get_record(Identifier.parse(target)) is None
    assert await repo.audit_trail(target) == []
    assert await _audit_rows(repo) == before
    # The writer is free again afterwards.
    async with repo.transaction() as tx:
        await tx.insert_record(record(target))
    assert await repo.get_record(Identifier.parse(target)) is not None


async def test_rollback_undoes_a_replace(repo: Repository) -> None:
    original = record(f"{PREFIX}/keep", url(1, "https://example.com/v1"))
    async with repo.transaction() as tx:
        await tx.insert_record(original)
    with pytest.raises(RuntimeError):
        async with repo.transaction() as tx:
            assert await tx.replace_record(replace(original, values=(url(1, "https://x"),), version=2), 1)
            raise RuntimeError("abort")
    assert await repo.get_record(original.identifier) == original


# -- listing and counting --------------------------------------------------------------------------


async def test_list_handles_pages_in_handle_order(repo: Repository) -> None:
    names = [f"{PREFIX}/item-{i:03d}" for i in range(25)]
    shuffled = names[:]
    random.Random(7).shuffle(shuffled)
    async with repo.transaction() as tx:
        for name in shuffled:
            await tx.insert_record(record(name))
        await tx.insert_record(record("88.999.1002/item-000"))  # another prefix, never listed
        await tx.insert_record(record("88.999.10010/item-000"))  # a longer prefix sharing the start
    total, first = await repo.list_handles(PREFIX, 0, 10)
    assert total == 25
    assert first == names[:10]
    _, middle = await repo.list_handles(PREFIX, 10, 10)
    assert middle == names[10:20]
    _, last = await repo.list_handles(PREFIX, 20, 10)
    assert last == names[20:]
    _, beyond = await repo.list_handles(PREFIX, 30, 10)
    assert beyond == []
    assert first + middle + last == names


async def test_list_handles_count_only(repo: Repository) -> None:
    async with repo.transaction() as tx:
        for i in range(4):
            await tx.insert_record(record(f"{PREFIX}/n{i}"))
    assert await repo.list_handles(PREFIX, 0, 0) == (4, [])
    assert await repo.list_handles("88.999.4242", 0, 10) == (0, [])


async def test_list_handles_of_the_prefix_namespace(repo: Repository) -> None:
    async with repo.transaction() as tx:
        await tx.insert_record(record(str(prefix_handle(PREFIX))))
    total, names = await repo.list_handles("0.NA", 0, 10)
    assert total == 2  # the node's own 0.NA/88.999 (created by initialise) and 0.NA/88.999.1001
    assert names == ["0.NA/88.999", "0.NA/88.999.1001"]


async def test_count_identifiers_excludes_prefix_and_admin_handles(repo: Repository) -> None:
    assert await repo.count_identifiers() == 0  # only the node's 0.NA/88.999 exists so far
    async with repo.transaction() as tx:
        for number in (1001, 1002):
            await tx.insert_enterprise(enterprise(number))
            await tx.insert_record(record(str(prefix_handle(f"88.999.{number}"))))
            await tx.insert_record(record(str(admin_handle(f"88.999.{number}"))))
        for i in range(3):
            await tx.insert_record(record(f"88.999.1001/p{i}"))
        await tx.insert_record(record("88.999.1002/p0"))
        await tx.insert_record(record("88.999.1002/admin"))  # suffixes are case-sensitive: an identifier
    assert await repo.count_identifiers() == 5


# -- enterprises -----------------------------------------------------------------------------------


async def test_enterprise_insert_get_round_trips(repo: Repository) -> None:
    firm = enterprise(1001)
    async with repo.transaction() as tx:
        assert await tx.next_enterprise_number() == 1001
        await tx.insert_enterprise(firm)
        assert await tx.get_enterprise(firm.prefix) == firm
        assert await tx.next_enterprise_number() == 1002
    assert await repo.get_enterprise(firm.prefix) == firm
    assert await repo.get_enterprise_by_uscc(firm.uscc) == firm
    assert await repo.get_enterprise("88.999.1002") is None
    assert await repo.get_enterprise_by_uscc(make_uscc(999)) is None
    fetched = await repo.get_enterprise(firm.prefix)
    assert fetched is not None and fetched.created_at.tzinfo is not None


async def test_enterprise_duplicates_raise(repo: Repository) -> None:
    firm = enterprise(1001)
    async with repo.transaction() as tx:
        await tx.insert_enterprise(firm)
    async with repo.transaction() as tx:
        with pytest.raises(DuplicateKey):
            await tx.insert_enterprise(replace(enterprise(1002), uscc=firm.uscc))
        with pytest.raises(DuplicateKey):
            await tx.insert_enterprise(replace(enterprise(1003), prefix=firm.prefix))
        with pytest.raises(DuplicateKey):
            await tx.insert_enterprise(replace(enterprise(1004), number=firm.number))
        await tx.insert_enterprise(enterprise(1005))  # still usable after the failures
    total, listed = await repo.list_enterprises()
    assert total == 2
    assert [e.prefix for e in listed] == ["88.999.1001", "88.999.1005"]


async def test_enterprise_update(repo: Repository) -> None:
    firm = enterprise(1001)
    async with repo.transaction() as tx:
        await tx.insert_enterprise(firm)
    async with repo.transaction() as tx:
        await tx.update_enterprise(firm.prefix, {"status": "suspended", "contact_name": "李四"})
        moment = tx.now
    updated = await repo.get_enterprise(firm.prefix)
    assert updated is not None
    assert updated.status is EnterpriseStatus.SUSPENDED
    assert updated.contact_name == "李四"
    assert updated.updated_at == moment
    assert updated.created_at == firm.created_at
    restored = replace(
        updated, status=firm.status, contact_name=firm.contact_name, updated_at=firm.updated_at
    )
    assert restored == firm


async def test_list_enterprises_pages_by_number(repo: Repository) -> None:
    async with repo.transaction() as tx:
        for number in (1003, 1001, 1002):
            await tx.insert_enterprise(enterprise(number))
    total, page = await repo.list_enterprises(offset=1, limit=1)
    assert total == 3
    assert [e.number for e in page] == [1002]
    _, everything = await repo.list_enterprises()
    assert [e.number for e in everything] == [1001, 1002, 1003]


async def test_enterprise_counts_by_status(repo: Repository) -> None:
    assert await repo.enterprise_counts() == {}
    async with repo.transaction() as tx:
        await tx.insert_enterprise(enterprise(1001))
        await tx.insert_enterprise(enterprise(1002))
        await tx.insert_enterprise(enterprise(1003, EnterpriseStatus.SUSPENDED))
    assert await repo.enterprise_counts() == {"active": 2, "suspended": 1}


# -- audit and meta --------------------------------------------------------------------------------


async def test_audit_trail_oldest_first_per_target(repo: Repository) -> None:
    target = f"{PREFIX}/audited"
    async with repo.transaction() as tx:
        await tx.add_audit("300:88.999.1001/ADMIN", "create", target, None, [{"index": 1, "v": "a"}])
        await tx.add_audit("300:88.999.1001/ADMIN", "create", f"{PREFIX}/other", None, [])
        first_at = tx.now
    async with repo.transaction() as tx:
        await tx.add_audit("operator", "modify", target, [{"index": 1, "v": "a"}], {"中文": "值"})
    async with repo.transaction() as tx:
        await tx.add_audit("operator", "delete", target, {"k": 1}, None)
    trail = await repo.audit_trail(target)
    assert [(r["actor"], r["action"], r["old"], r["new"]) for r in trail] == [
        ("300:88.999.1001/ADMIN", "create", None, [{"index": 1, "v": "a"}]),
        ("operator", "modify", [{"index": 1, "v": "a"}], {"中文": "值"}),
        ("operator", "delete", {"k": 1}, None),
    ]
    at = trail[0]["at"]
    assert (at if at.tzinfo else at.replace(tzinfo=UTC)) == first_at  # SQLite returns naive UTC
    assert [r["action"] for r in await repo.audit_trail(f"{PREFIX}/other")] == ["create"]
    assert await repo.audit_trail(f"{PREFIX}/never") == []


async def test_node_meta_written_by_initialise(repo: Repository) -> None:
    assert await repo.get_meta("node_prefix") == "88.999"
    assert await repo.get_meta("missing") is None


async def test_stored_rows_carry_prefix_and_version(repo: Repository) -> None:
    async with repo.transaction() as tx:
        await tx.insert_record(record("88.999.1001/Mixed/Path", version=4))
    async with repo.engines.reader.connect() as conn:
        row = (
            await conn.execute(
                select(handles.c.prefix, handles.c.version).where(
                    handles.c.handle == "88.999.1001/Mixed/Path"
                )
            )
        ).one()
    assert (row.prefix, row.version) == ("88.999.1001", 4)
