"""The bulk write path (idnode.bulk) and the batch pieces under it (Committer.create_many,
LogAppender.append_many, Transaction batch inserts), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from idnode import merkle
from idnode.bulk import BulkItem, BulkRegistrar, BulkResult
from idnode.core import Core
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import (
    AuthenticationNeeded,
    EnterpriseSuspended,
    HandleNotFound,
    InsufficientPermissions,
    PrefixNotHere,
)
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal
from idnode.model.values import HandleValue
from idnode.sample import make_uscc
from idnode.storage.engine import create_engines, migrate, sqlite_url
from idnode.storage.repository import Repository, Transaction
from idnode.storage.tables import audit, handles, log_entries, log_nodes
from idnode.translog import LogAppender
from idnode.verify import verify_record
from tests.test_registry import LOCAL
from tests.test_verify import fetcher

# -- helpers ---------------------------------------------------------------------------------------


def values(n: int) -> list[HandleValue]:
    return [
        HandleValue.from_json({"index": 1, "type": "URL", "data": f"https://example.com/p/{n}"}),
        HandleValue.from_json({"index": 2, "type": "MODEL", "data": "离心泵 IS80-65-160"}),
    ]


async def onboard(core: Core, serial: int) -> Principal:
    """A new enterprise; its admin principal."""
    draft = EnterpriseDraft.from_json(
        {
            "name": f"批量企业{serial}",
            "uscc": make_uscc(serial),
            "district": "盐都区",
            "industry": "通用设备制造业",
        },
        (),
    )
    enterprise, _ = await core.registry.add_enterprise(core.local_operator, draft)
    return Principal(f"{enterprise.prefix}/ADMIN", 300)


def items(principal: Principal, count: int, start: int = 0) -> list[tuple[Identifier, list[HandleValue]]]:
    return [(Identifier(principal.prefix, f"BULK-{n:04d}"), values(n)) for n in range(start, start + count)]


async def count(core: Core, table: Any) -> int:
    async with core.repository.engines.reader.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def table_rows(core: Core, table: Any) -> set[tuple[Any, ...]]:
    async with core.repository.engines.reader.connect() as conn:
        return {
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
            for row in await conn.execute(select(table))
        }


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH computed from the leaf hashes alone, independently of the stored subtrees."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


async def assert_log_consistent(core: Core) -> None:
    """The signed tree head's root is the MTH of the stored leaves, in sequence order."""
    async with core.repository.engines.reader.connect() as conn:
        leaves = [
            bytes(h)
            for h in (
                await conn.execute(select(log_entries.c.leaf_hash).order_by(log_entries.c.seq))
            ).scalars()
        ]
    head = await core.log.signed_tree_head()
    assert head["tree_size"] == len(leaves)
    assert base64.b64decode(head["sha256_root_hash"]) == reference_root(leaves)


@pytest.fixture
def bulk(core: Core) -> BulkRegistrar:
    return BulkRegistrar(core.registry)


# -- the bulk path ---------------------------------------------------------------------------------


async def test_bulk_records_are_stored_signed_audited_and_logged(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 1)
    before = await count(core, log_entries)
    seen: list[int] = []

    async def stream() -> AsyncIterator[tuple[Identifier, list[HandleValue]]]:
        for item in items(admin, 7):
            yield item

    result = await bulk.register(admin, stream(), batch_size=3, progress=lambda r: seen.append(r.processed))
    assert (result.created, result.failed, result.failures) == (7, 0, [])
    assert seen == [3, 6, 7]
    assert await count(core, log_entries) == before + 7
    fetch = fetcher(core)
    for n in (0, 3, 6):
        handle = f"{admin.prefix}/BULK-{n:04d}"
        resolved = await fetch(handle)
        assert resolved is not None
        report = await verify_record(resolved, fetch)
        assert report.ok, report.to_json()
        trail = await core.repository.audit_trail(handle)
        assert [(row["actor"], row["action"], row["old"]) for row in trail] == [(str(admin), "create", None)]
        assert [v["index"] for v in trail[0]["new"]] == [1, 2, 100, 400]
        assert await core.repository.latest_log_entry(handle) is not None
    await assert_log_consistent(core)


async def test_a_bulk_record_is_the_record_a_single_create_makes(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 2)
    single, many = Identifier(admin.prefix, "single"), Identifier(admin.prefix, "many")
    await core.registry.put_record(admin, single, values(1), overwrite=False)
    await bulk.register(admin, [(many, values(1))])

    one, other = await core.repository.get_record(single), await core.repository.get_record(many)
    assert one is not None and other is not None and other.version == one.version == 1

    def comparable(v: HandleValue) -> tuple[Any, ...]:
        return (v.index, v.type, v.format, v.ttl, v.permissions, v.data if v.index != 400 else None)

    assert [comparable(v) for v in one.values] == [comparable(v) for v in other.values]


async def test_invalid_existing_and_repeated_items_are_reported_and_the_rest_written(
    core: Core, bulk: BulkRegistrar
) -> None:
    admin = await onboard(core, 3)
    await core.registry.put_record(admin, Identifier(admin.prefix, "taken"), values(0))
    signature = HandleValue.from_json({"index": 400, "type": "HS_SIGNATURE", "data": "forged"})
    batch: list[Any] = [
        (f"{admin.prefix}/ok-1", values(1)),
        (f"{admin.prefix}/taken", values(2)),
        ("no-slash-here", values(3)),
        (f"{admin.prefix}/ok-1", values(4)),  # repeated within its batch
        (f"{admin.prefix}/bad-values", [*values(5), signature]),
        (f"{admin.prefix}/json", [{"index": 1, "type": "URL", "data": "https://example.com/j"}]),
        (f"{admin.prefix}/bad-json", [{"index": "x", "type": "URL", "data": "y"}]),
        (Identifier(admin.prefix, "ok-2"), values(6)),
        (f"{admin.prefix}/ok-1", values(7)),  # repeated in a later batch: by then it exists
    ]
    result = await bulk.register(admin, batch, batch_size=4)
    assert (result.created, result.failed) == (3, 6)
    assert [(f.index, f.handle, f.response_code) for f in result.failures] == [
        (1, f"{admin.prefix}/taken", 101),
        (2, "no-slash-here", 102),
        (3, f"{admin.prefix}/ok-1", 101),
        (4, f"{admin.prefix}/bad-values", 202),
        (6, f"{admin.prefix}/bad-json", 202),
        (8, f"{admin.prefix}/ok-1", 101),
    ]
    messages = {f.index: f.message for f in result.failures}
    assert "more than once" in messages[3] and "already exists" in messages[8]
    assert result.to_json()["failures"][0] == {
        "index": 1,
        "handle": f"{admin.prefix}/taken",
        "responseCode": 101,
        "message": f"Handle {admin.prefix}/taken already exists.",
    }
    for name in ("ok-1", "json", "ok-2"):
        assert await core.repository.get_record(Identifier(admin.prefix, name)) is not None
    for name in ("bad-values", "bad-json"):
        assert await core.repository.get_record(Identifier(admin.prefix, name)) is None
    taken = await core.repository.get_record(Identifier(admin.prefix, "taken"))
    assert taken is not None and taken.values[0].data == "https://example.com/p/0"  # not overwritten


async def test_permission_refusals_write_nothing(core: Core, bulk: BulkRegistrar) -> None:
    first, second = await onboard(core, 4), await onboard(core, 5)
    records, logged = await count(core, handles), await count(core, log_entries)
    mixed = items(first, 3) + items(second, 1)
    with pytest.raises(InsufficientPermissions) as refused:
        await bulk.register(first, mixed)
    assert refused.value.details == {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
    await core.registry.update_enterprise(core.local_operator, first.prefix, {"status": "suspended"})
    with pytest.raises(EnterpriseSuspended):
        await bulk.register(first, items(first, 3))
    with pytest.raises(PrefixNotHere):
        await bulk.register(core.local_operator, [(Identifier("88.999.77", "x"), values(1))])
    with pytest.raises(AuthenticationNeeded):
        await bulk.register(None, items(second, 1))
    assert (await count(core, handles), await count(core, log_entries)) == (records, logged)


async def test_a_refusal_in_a_later_batch_keeps_the_earlier_batches(core: Core, bulk: BulkRegistrar) -> None:
    first, second = await onboard(core, 6), await onboard(core, 7)
    with pytest.raises(InsufficientPermissions) as refused:
        await bulk.register(first, items(first, 2) + items(second, 2), batch_size=2)
    assert refused.value.details == {"created": 2, "updated": 0, "unchanged": 0, "failed": 0}
    assert await core.repository.get_record(Identifier(first.prefix, "BULK-0001")) is not None


async def test_a_failure_inside_a_batch_leaves_nothing_of_that_batch(
    core: Core, bulk: BulkRegistrar, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await onboard(core, 8)
    records, audits, logged = (
        await count(core, handles),
        await count(core, audit),
        await count(core, log_entries),
    )
    real = Transaction.append_log
    calls = 0

    async def failing_second_time(self: Transaction, *args: Any) -> None:
        nonlocal calls
        calls += 1
        await real(self, *args)  # records, audit rows and log rows of the batch are in the transaction
        if calls == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(Transaction, "append_log", failing_second_time)
    with pytest.raises(RuntimeError, match="disk full"):
        await bulk.register(admin, items(admin, 5), batch_size=2)
    assert await count(core, handles) == records + 2
    assert await count(core, audit) == audits + 2
    assert await count(core, log_entries) == logged + 2
    assert await core.repository.get_record(Identifier(admin.prefix, "BULK-0002")) is None
    assert await core.repository.latest_log_entry(f"{admin.prefix}/BULK-0002") is None
    # The log appender forgot the rolled-back appends: the next writes continue the stored tree.
    result = await bulk.register(admin, items(admin, 5), batch_size=2)
    assert (result.created, result.failed) == (3, 2)
    await assert_log_consistent(core)


async def test_bulk_result_lists_at_most_max_failures(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 9)
    result = await bulk.register(admin, [("bad", [])] * 5, max_failures=2)
    assert (result.created, result.failed, len(result.failures)) == (0, 5, 2)
    assert isinstance(result, BulkResult) and result.processed == 5


async def test_batch_size_is_checked(core: Core, bulk: BulkRegistrar) -> None:
    with pytest.raises(ValueError):
        await bulk.register(core.local_operator, [], batch_size=0)


# -- updating existing records --------------------------------------------------------------------


def url(n: int, text: str) -> HandleValue:
    return HandleValue.from_json({"index": n, "type": "URL", "data": text})


async def test_update_existing_creates_changes_and_leaves_the_rest_alone(
    core: Core, bulk: BulkRegistrar
) -> None:
    admin = await onboard(core, 10)
    assert (await bulk.register(admin, items(admin, 4), update_existing=True)).created == 4
    handle = [Identifier(admin.prefix, f"BULK-{n:04d}") for n in range(5)]
    before = [await core.repository.get_record(h) for h in handle]
    audits, logged = await count(core, audit), await count(core, log_entries)
    batch: list[Any] = [
        (handle[0], values(0)),  # as stored
        (handle[1], values(101)),  # the whole record: the URL differs
        BulkItem(7, handle[2], [url(1, "https://example.com/new")], frozenset({1})),  # only the URL
        BulkItem(8, str(handle[3]), [url(1, "https://example.com/p/3")], frozenset({1, 2})),  # drops index 2
        (handle[4], values(4)),  # new
    ]
    result = await bulk.register(admin, batch, update_existing=True, batch_size=3)
    assert (result.created, result.updated, result.unchanged, result.failed) == (1, 3, 1, 0)
    after = [await core.repository.get_record(h) for h in handle]
    assert after[0] == before[0]  # not re-signed, same version
    for n in (1, 2, 3):
        old, new = before[n], after[n]
        assert old is not None and new is not None and new.version == old.version + 1
        assert new.by_index()[100] == old.by_index()[100]  # HS_ADMIN kept, untouched
    assert after[1].by_index()[1].data == "https://example.com/p/101"
    assert after[1].by_index()[2] == before[1].by_index()[2]  # resent unchanged: keeps its timestamp
    assert after[2].by_index()[1].data == "https://example.com/new"
    assert after[2].by_index()[2] == before[2].by_index()[2]  # outside the item's indexes
    assert sorted(after[3].by_index()) == [1, 100, 400]
    assert await count(core, audit) == audits + 4
    assert await count(core, log_entries) == logged + 4
    fetch = fetcher(core)
    for n in (1, 2, 3):
        resolved = await fetch(str(handle[n]))
        assert resolved is not None and (await verify_record(resolved, fetch)).ok
        trail = await core.repository.audit_trail(str(handle[n]))
        assert [(row["actor"], row["action"]) for row in trail] == [
            (str(admin), "create"),
            (str(admin), "modify"),
        ]
        assert trail[1]["old"] == trail[0]["new"] and [v["index"] for v in trail[1]["new"]] == sorted(
            after[n].by_index()
        )
        entry = await core.repository.latest_log_entry(str(handle[n]))
        assert entry is not None and '"action":"modify"' in entry[1]
    assert [row["action"] for row in await core.repository.audit_trail(str(handle[0]))] == ["create"]
    await assert_log_consistent(core)


async def test_a_bulk_update_is_the_change_a_single_put_makes(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 11)
    single, many = Identifier(admin.prefix, "single"), Identifier(admin.prefix, "many")
    await bulk.register(admin, [(single, values(1)), (many, values(1))])
    await core.registry.put_record(admin, single, values(2))
    await bulk.register(admin, [(many, values(2))], update_existing=True)
    one, other = await core.repository.get_record(single), await core.repository.get_record(many)
    assert one is not None and other is not None and one.version == other.version == 2

    def comparable(v: HandleValue) -> tuple[Any, ...]:
        return (v.index, v.type, v.format, v.ttl, v.permissions, v.data if v.index != 400 else None)

    assert [comparable(v) for v in one.values] == [comparable(v) for v in other.values]


async def test_an_update_the_record_does_not_allow_fails_that_item_only(
    core: Core, bulk: BulkRegistrar
) -> None:
    admin = await onboard(core, 12)
    alice_handle = Identifier(admin.prefix, "alice")
    await core.registry.put_record(
        admin, alice_handle, [HandleValue.from_json({"index": 300, "type": "HS_SECKEY", "data": "pw"})]
    )
    alice = await core.registry.authenticate(str(alice_handle), 300, "pw", channel=LOCAL)
    grant = {
        "format": "admin",
        "value": {"handle": str(alice_handle), "index": 300, "permissions": "011111110011"},
    }
    shared, private = Identifier(admin.prefix, "shared"), Identifier(admin.prefix, "private")
    await core.registry.put_record(
        admin, shared, [*values(1), HandleValue.from_json({"index": 101, "type": "HS_ADMIN", "data": grant})]
    )
    await core.registry.put_record(admin, private, values(1))
    before = await core.repository.get_record(private)
    batch: list[Any] = [
        (shared, values(2)),
        (private, values(2)),
        BulkItem(5, private, values(1), frozenset({1, 2})),
    ]
    result = await bulk.register(alice, batch[:2], update_existing=True)
    assert (result.updated, result.failed) == (1, 1)
    assert [(f.index, f.handle, f.response_code) for f in result.failures] == [(1, str(private), 401)]
    assert await core.repository.get_record(private) == before
    unchanged = await bulk.register(
        alice, batch[2:], update_existing=True
    )  # nothing to change, nothing to check
    assert (unchanged.unchanged, unchanged.failed) == (1, 0)


async def test_a_dry_run_counts_what_a_run_does_and_writes_nothing(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 13)
    await bulk.register(admin, items(admin, 3))
    batch = [
        *items(admin, 1),
        (Identifier(admin.prefix, "BULK-0001"), values(9)),
        *items(admin, 2, start=3),
        ("bad", []),
    ]
    tables = [await table_rows(core, t) for t in (handles, audit, log_entries)]
    dry = await bulk.register(admin, batch, update_existing=True, dry_run=True, batch_size=2)
    assert [await table_rows(core, t) for t in (handles, audit, log_entries)] == tables
    real = await bulk.register(admin, batch, update_existing=True, batch_size=2)
    assert dry.to_json() == real.to_json()
    assert (real.created, real.updated, real.unchanged, real.failed) == (2, 1, 1, 1)


async def test_an_update_only_run_creates_nothing(core: Core, bulk: BulkRegistrar) -> None:
    admin = await onboard(core, 14)
    await bulk.register(admin, items(admin, 1))
    batch = [*items(admin, 1), (Identifier(admin.prefix, "BULK-0001"), values(1))]
    result = await bulk.register(admin, batch, update_existing=True, create_missing=False)
    assert (result.created, result.unchanged, result.failed) == (0, 1, 1)
    assert [(f.index, f.response_code) for f in result.failures] == [(1, 100)]
    assert isinstance(result.failures[0].error, HandleNotFound)
    assert await core.repository.get_record(Identifier(admin.prefix, "BULK-0001")) is None


async def test_bulk_deletes_are_audited_logged_and_reported_like_single_ones(
    core: Core, bulk: BulkRegistrar
) -> None:
    admin = await onboard(core, 15)
    await bulk.register(admin, items(admin, 3))
    doomed = [Identifier(admin.prefix, f"BULK-{n:04d}") for n in range(3)]
    await core.registry.delete(admin, doomed[0])
    audits, logged = await count(core, audit), await count(core, log_entries)
    failures = await bulk.delete(
        admin,
        [
            (0, doomed[0]),  # deleted already
            (1, doomed[1]),
            (2, doomed[2]),
            (3, doomed[1]),  # repeated
            (4, Identifier(admin.prefix, "ADMIN")),  # holds the credential
        ],
    )
    assert [(f.index, f.response_code) for f in failures] == [(0, 100), (3, 100), (4, 401)]
    for handle in doomed:
        assert await core.repository.get_record(handle) is None
        trail = await core.repository.audit_trail(str(handle))
        assert [(row["actor"], row["action"], row["new"]) for row in trail][-1] == (
            str(admin),
            "delete",
            None,
        )
        entry = await core.repository.latest_log_entry(str(handle))
        assert entry is not None and '"action":"delete"' in entry[1]
    assert await count(core, audit) == audits + 2
    assert await count(core, log_entries) == logged + 2
    await assert_log_consistent(core)
    other = await onboard(core, 16)
    with pytest.raises(InsufficientPermissions):
        await bulk.delete(other, [(0, Identifier(admin.prefix, "ADMIN"))])


# -- the transparency log: appending in batches stores the same tree -------------------------------


@pytest.mark.parametrize("chunks", [[1] * 23, [23], [3, 1, 8, 11], [7, 16]])
async def test_append_many_stores_exactly_the_tree_of_single_appends(
    tmp_path: Path, chunks: list[int]
) -> None:
    entries = [(f"88.999.1001/L-{n}", "create", f"digest-{n}", 1_795_000_000 + n) for n in range(sum(chunks))]
    stored = []
    for name, sizes in (("single", [1] * len(entries)), ("batched", chunks)):
        (tmp_path / name).mkdir()
        engines = create_engines(sqlite_url(tmp_path / name))
        try:
            await migrate(engines)
            repository, appender, position = Repository(engines), LogAppender(), 0
            for size in sizes:
                async with repository.transaction() as tx:
                    assert await appender.append_many(tx, entries[position : position + size]) == position
                position += size
            async with repository.log_reader() as (size, subtree):
                root = await merkle.range_hash(subtree, 0, size)
            async with engines.reader.connect() as conn:
                leaves = [
                    bytes(h)
                    for h in (
                        await conn.execute(select(log_entries.c.leaf_hash).order_by(log_entries.c.seq))
                    ).scalars()
                ]
                rows = [set((await conn.execute(select(t))).all()) for t in (log_entries, log_nodes)]
        finally:
            await engines.dispose()
        assert root == reference_root(leaves)
        stored.append((root, rows))
    assert stored[0] == stored[1]
