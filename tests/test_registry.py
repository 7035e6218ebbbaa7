"""The core write and read path without a server: onboarding, credentials, records, permissions,
audit, concurrency, resolution and statistics, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

import idnode.registry as registry_module
from idnode.commit import Committer
from idnode.config import Settings, load_settings
from idnode.core import Core
from idnode.keys import KeyStore, NodeKeys
from idnode.metadata import MetadataRules
from idnode.model.channel import Channel
from idnode.model.enterprise import Enterprise, EnterpriseDraft, EnterpriseStatus
from idnode.model.errors import (
    AuthenticationNeeded,
    EnterpriseExists,
    EnterpriseSuspended,
    HandleAlreadyExists,
    HandleNotFound,
    InsufficientPermissions,
    InvalidValue,
    PrefixNotHere,
    ValueAlreadyExists,
    ValuesNotFound,
)
from idnode.model.identifier import Identifier, prefix_handle
from idnode.model.permissions import ALL_PERMISSIONS, DEFAULT_ADMIN_PERMISSIONS, Principal
from idnode.model.record import Record
from idnode.model.values import HandleValue
from idnode.registry import Registry
from idnode.sample import make_uscc
from idnode.storage.engine import Engines, migrate
from idnode.storage.repository import Repository, today
from idnode.storage.tables import audit
from idnode.templates import TemplateCatalog

# -- helpers ---------------------------------------------------------------------------------------

LOCAL = Channel("127.0.0.1", encrypted=False)  # the command line's and the tests' own machine


def h(text: str) -> Identifier:
    return Identifier.parse(text)


def val(index: int, vtype: str, data: Any, **extra: Any) -> HandleValue:
    """A value as a client sends it (parsed and validated like the HTTP layer does)."""
    return HandleValue.from_json({"index": index, "type": vtype, "data": data, **extra})


def url(index: int, target: str) -> HandleValue:
    return val(index, "URL", target)


def admin_ref(index: int, handle: str, permissions: str = DEFAULT_ADMIN_PERMISSIONS) -> HandleValue:
    data = {"format": "admin", "value": {"handle": handle, "index": 300, "permissions": permissions}}
    return val(index, "HS_ADMIN", data)


def seckey(secret: str, index: int = 300) -> HandleValue:
    return val(index, "HS_SECKEY", secret)


def draft(serial: int, **changes: Any) -> EnterpriseDraft:
    fields: dict[str, Any] = {
        "name": f"盐城测试企业{serial}有限公司",
        "uscc": make_uscc(serial),
        "district": "盐都区",
        "industry": "通用设备制造业",
        "contact_name": "王工",
        **changes,
    }
    return EnterpriseDraft.from_json(fields, ())


@dataclass
class Firm:
    enterprise: Enterprise
    secret: str
    admin: Principal

    @property
    def prefix(self) -> str:
        return self.enterprise.prefix

    def handle(self, suffix: str) -> Identifier:
        return h(f"{self.prefix}/{suffix}")


async def onboard(core: Core, serial: int) -> Firm:
    enterprise, secret = await core.registry.add_enterprise(core.local_operator, draft(serial))
    return Firm(enterprise, secret, Principal(f"{enterprise.prefix}/ADMIN", 300))


async def audit_rows(repository: Repository) -> list[dict[str, Any]]:
    """Every audit row, oldest first, with the raw JSON text kept alongside."""
    async with repository.engines.reader.connect() as conn:
        rows = (await conn.execute(select(audit).order_by(audit.c.id))).all()
    return [
        {
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "old": orjson.loads(r.old) if r.old else None,
            "new": orjson.loads(r.new) if r.new else None,
            "raw": f"{r.old} {r.new}",
        }
        for r in rows
    ]


async def stored(core: Core, handle: Identifier) -> Record | None:
    return await core.repository.get_record(handle)


def assert_signed(record: Record | None) -> HandleValue:
    """The record carries exactly one signature: an HS_SIGNATURE (a compact JWS) at index 400."""
    assert record is not None
    signatures = [v for v in record.values if v.index == 400 or v.type == "HS_SIGNATURE"]
    assert len(signatures) == 1, signatures
    signature = signatures[0]
    assert (signature.index, signature.type, signature.format) == (400, "HS_SIGNATURE", "string")
    assert isinstance(signature.data, str) and len(signature.data.split(".")) == 3
    return signature


async def log_size(repository: Repository) -> int:
    """Entries in the transparency log."""
    async with repository.log_reader() as (size, _):
        return size


async def latest_log_entry(repository: Repository, handle: Identifier) -> dict[str, Any]:
    latest = await repository.latest_log_entry(str(handle))
    assert latest is not None
    seq, entry, _ = latest
    parsed = orjson.loads(entry)
    assert parsed["seq"] == seq
    return parsed


@pytest.fixture
def op(core: Core) -> Principal:
    return core.local_operator


@pytest.fixture
async def firm(core: Core) -> Firm:
    return await onboard(core, 1)


@pytest.fixture
async def other(core: Core, firm: Firm) -> Firm:
    return await onboard(core, 2)


def _postgres(settings: Settings) -> bool:
    return settings.db.startswith("postgresql")


# -- onboarding ------------------------------------------------------------------------------------


async def test_onboarding_allocates_sequential_prefixes(core: Core) -> None:
    firms = [await onboard(core, serial) for serial in (11, 12, 13)]
    assert [f.prefix for f in firms] == ["88.999.1001", "88.999.1002", "88.999.1003"]
    assert [f.enterprise.number for f in firms] == [1001, 1002, 1003]
    first = firms[0].enterprise
    assert first.uscc == make_uscc(11)
    assert first.status is EnterpriseStatus.ACTIVE
    assert first.registered_on == today()
    assert await core.repository.get_enterprise("88.999.1001") == first
    assert len({f.secret for f in firms}) == 3


async def test_onboarding_keeps_a_given_registration_date(core: Core) -> None:
    enterprise, _ = await core.registry.add_enterprise(
        core.local_operator, draft(5, registered_on="2025-12-31")
    )
    assert enterprise.registered_on == date(2025, 12, 31)
    fetched = await core.repository.get_enterprise(enterprise.prefix)
    assert fetched is not None and fetched.registered_on == date(2025, 12, 31)


async def test_onboarding_creates_prefix_handle_with_vlist(core: Core, firm: Firm) -> None:
    record = await stored(core, h("0.NA/88.999.1001"))
    assert record is not None
    values = record.by_index()
    assert sorted(values) == [100, 200, 400]
    assert_signed(record)
    assert values[100].type == "HS_ADMIN"
    assert values[100].data == {"handle": "0.NA/88.999", "index": 300, "permissions": ALL_PERMISSIONS}
    assert values[200].type == "HS_VLIST"
    assert values[200].data == [{"handle": "88.999.1001/ADMIN", "index": 300}]
    assert record.vlist(200) == [("88.999.1001/ADMIN", 300)]


async def test_onboarding_creates_admin_handle_with_hashed_secret(core: Core, firm: Firm) -> None:
    record = await stored(core, h("88.999.1001/ADMIN"))
    assert record is not None
    key = record.by_index()[300]
    assert key.type == "HS_SECKEY"
    assert key.data.startswith("scrypt$")
    assert firm.secret not in key.data
    assert key.permissions == "1100"  # not publicly readable
    assert not key.public_read and not key.admin_read
    admin = record.by_index()[100]
    assert admin.type == "HS_ADMIN" and admin.data["handle"] == "88.999.1001/ADMIN"
    principal = await core.registry.authenticate("88.999.1001/ADMIN", 300, firm.secret, channel=LOCAL)
    assert principal == Principal("88.999.1001/ADMIN", 300, is_operator=False)
    assert principal.is_enterprise_admin


async def test_duplicate_uscc_is_refused_and_stores_nothing(core: Core, firm: Firm) -> None:
    rows_before = len(await audit_rows(core.repository))
    with pytest.raises(EnterpriseExists):
        await core.registry.add_enterprise(core.local_operator, draft(1, name="另一家公司"))
    total, enterprises = await core.repository.list_enterprises()
    assert total == 1 and enterprises[0].name == firm.enterprise.name
    assert await stored(core, h("0.NA/88.999.1002")) is None
    assert await stored(core, h("88.999.1002/ADMIN")) is None
    assert len(await audit_rows(core.repository)) == rows_before
    # The refused attempt burnt no prefix number.
    assert (await onboard(core, 2)).prefix == "88.999.1002"


async def test_only_the_operator_onboards(core: Core, firm: Firm) -> None:
    with pytest.raises(InsufficientPermissions):
        await core.registry.add_enterprise(firm.admin, draft(2))
    with pytest.raises(AuthenticationNeeded):
        await core.registry.add_enterprise(None, draft(3))
    assert (await core.repository.list_enterprises())[0] == 1
    assert await core.repository.get_enterprise_by_uscc(make_uscc(2)) is None


async def test_onboarding_audit(core: Core, firm: Firm) -> None:
    rows = await audit_rows(core.repository)
    # The node record, created (and audited) when the node was initialised.
    assert (rows[0]["actor"], rows[0]["action"], rows[0]["target"]) == ("operator", "create", "0.NA/88.999")
    rows = rows[1:]
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("300:0.NA/88.999", "enterprise-add", "88.999.1001"),
        ("300:0.NA/88.999", "create", "0.NA/88.999.1001"),
        ("300:0.NA/88.999", "create", "88.999.1001/ADMIN"),
    ]
    assert rows[0]["new"]["uscc"] == make_uscc(1)
    assert {"index": 300, "type": "HS_SECKEY"} in rows[2]["new"]
    assert all("scrypt$" not in r["raw"] and firm.secret not in r["raw"] for r in rows)


# -- authentication --------------------------------------------------------------------------------


async def test_authenticate(core: Core, firm: Firm) -> None:
    assert (
        await core.registry.authenticate(f"{firm.prefix}/ADMIN", 300, firm.secret, channel=LOCAL)
        == firm.admin
    )
    assert core.operator_secret is not None
    operator = await core.registry.authenticate("0.NA/88.999", 300, core.operator_secret, channel=LOCAL)
    assert operator.is_operator
    assert str(operator) == core.registry.operator_username


async def test_authenticate_refuses(core: Core, firm: Firm) -> None:
    refused = [
        ("88.999.1001/ADMIN", 300, "wrong"),
        ("88.999.1001/ADMIN", 300, ""),
        ("88.999.1001/nobody", 300, firm.secret),  # unknown handle
        ("88.999.1001/ADMIN", 100, firm.secret),  # HS_ADMIN, not HS_SECKEY
        ("88.999.1001/ADMIN", 301, firm.secret),  # no value there
        ("0.NA/88.999.1001", 200, firm.secret),  # HS_VLIST
        ("88.999.1002/ADMIN", 300, firm.secret),  # another (absent) enterprise
        ("not a handle", 300, firm.secret),
    ]
    for handle, index, secret in refused:
        with pytest.raises(AuthenticationNeeded):
            await core.registry.authenticate(handle, index, secret, channel=LOCAL)
    assert (
        await core.registry.authenticate("88.999.1001/ADMIN", 300, firm.secret, channel=LOCAL) == firm.admin
    )


async def test_authenticate_a_value_that_is_not_a_seckey_even_with_matching_text(
    core: Core, firm: Firm
) -> None:
    await core.registry.put_record(firm.admin, firm.handle("note"), [val(1, "NOTE", "plain-text")])
    with pytest.raises(AuthenticationNeeded):
        await core.registry.authenticate(f"{firm.prefix}/note", 1, "plain-text", channel=LOCAL)


# -- put_record ------------------------------------------------------------------------------------


async def test_create_adds_default_admin(core: Core, firm: Firm) -> None:
    result = await core.registry.put_record(firm.admin, firm.handle("pump-1"), [url(1, "https://a.example")])
    assert result.created
    assert result.record is not None and result.record.version == 1
    record = await stored(core, firm.handle("pump-1"))
    assert record == result.record
    values = record.by_index()
    assert sorted(values) == [1, 100, 400]
    assert_signed(record)
    assert values[100].type == "HS_ADMIN"
    assert values[100].data == {
        "handle": "88.999.1001/ADMIN",
        "index": 300,
        "permissions": DEFAULT_ADMIN_PERMISSIONS,
    }
    assert values[1].data == "https://a.example" and values[1].timestamp > 0


async def test_default_admin_skips_a_taken_index_and_respects_a_given_admin(core: Core, firm: Firm) -> None:
    await core.registry.put_record(firm.admin, firm.handle("busy"), [url(100, "https://x.example")])
    values = (await stored(core, firm.handle("busy"))).by_index()
    assert values[100].type == "URL"
    assert values[101].type == "HS_ADMIN"
    given = admin_ref(7, f"{firm.prefix}/ADMIN", "111111111111")
    await core.registry.put_record(firm.admin, firm.handle("own-admin"), [url(1, "https://y"), given])
    record = await stored(core, firm.handle("own-admin"))
    assert sorted(record.by_index()) == [1, 7, 400]
    assert_signed(record)
    assert record.admins() == [((f"{firm.prefix}/ADMIN", 300), "111111111111")]


async def test_create_without_overwrite(core: Core, firm: Firm) -> None:
    created = await core.registry.put_record(
        firm.admin, firm.handle("once"), [url(1, "https://1")], overwrite=False
    )
    assert created.created
    with pytest.raises(HandleAlreadyExists):
        await core.registry.put_record(
            firm.admin, firm.handle("once"), [url(1, "https://2")], overwrite=False
        )
    assert await stored(core, firm.handle("once")) == created.record


async def test_whole_record_replace(core: Core, firm: Firm) -> None:
    handle = firm.handle("r")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1"), val(2, "EMAIL", "a@b.c")])
    result = await core.registry.put_record(firm.admin, handle, [url(3, "https://3")])
    assert not result.created
    record = await stored(core, handle)
    assert record == result.record
    assert record.version == 2
    # Values the body does not mention go; the HS_ADMIN stays because the body names none.
    assert [(v.index, v.type) for v in record.values] == [
        (3, "URL"),
        (100, "HS_ADMIN"),
        (400, "HS_SIGNATURE"),
    ]
    assert_signed(record)
    assert record.by_index()[3].data == "https://3"


async def test_whole_record_replace_with_admins_replaces_them(core: Core, firm: Firm) -> None:
    handle = firm.handle("r")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    await core.registry.put_record(
        firm.admin, handle, [url(1, "https://1"), admin_ref(110, f"{firm.prefix}/ADMIN", ALL_PERMISSIONS)]
    )
    record = await stored(core, handle)
    assert sorted(record.by_index()) == [1, 110, 400]
    assert_signed(record)
    assert record.admins() == [((f"{firm.prefix}/ADMIN", 300), ALL_PERMISSIONS)]


async def test_whole_record_replace_keeps_secret_keys(core: Core, firm: Firm) -> None:
    alice = firm.handle("alice")
    await core.registry.put_record(firm.admin, alice, [seckey("alice-pw")])
    await core.registry.put_record(firm.admin, alice, [url(1, "https://alice.example")])
    record = await stored(core, alice)
    values = record.by_index()
    assert sorted(values) == [1, 100, 300, 400]
    assert_signed(record)
    assert values[300].type == "HS_SECKEY" and values[300].data.startswith("scrypt$")
    assert await core.registry.authenticate(str(alice), 300, "alice-pw", channel=LOCAL)
    # The enterprise admin handle too: its key survives a replace that does not mention it.
    admin = firm.handle("ADMIN")
    await core.registry.put_record(firm.admin, admin, [val(2, "EMAIL", "ops@example.com")])
    admin_record = await stored(core, admin)
    assert sorted(admin_record.by_index()) == [2, 100, 300, 400]
    assert_signed(admin_record)
    assert await core.registry.authenticate(str(admin), 300, firm.secret, channel=LOCAL) == firm.admin
    # Mentioning the index replaces the key.
    await core.registry.put_record(firm.admin, alice, [seckey("new-pw")])
    assert await core.registry.authenticate(str(alice), 300, "new-pw", channel=LOCAL)
    with pytest.raises(AuthenticationNeeded):
        await core.registry.authenticate(str(alice), 300, "alice-pw", channel=LOCAL)


async def test_secret_keys_are_hashed_and_must_be_strings(core: Core, firm: Firm) -> None:
    bob = firm.handle("bob")
    await core.registry.put_record(firm.admin, bob, [seckey("bob-pw")])
    key = (await stored(core, bob)).by_index()[300]
    assert key.data != "bob-pw" and key.data.startswith("scrypt$")
    assert key.permissions == "1100"
    with pytest.raises(InvalidValue):
        await core.registry.put_record(
            firm.admin, firm.handle("carol"), [val(300, "HS_SECKEY", {"format": "hex", "value": "0a0b"})]
        )
    assert await stored(core, firm.handle("carol")) is None


async def test_index_scoped_add_and_replace(core: Core, firm: Firm) -> None:
    handle = firm.handle("scoped")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    await core.registry.put_record(firm.admin, handle, [val(2, "EMAIL", "x@y.z")], indexes=[2])
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1b")], indexes=[1])
    record = await stored(core, handle)
    assert [(v.index, v.data) for v in record.values if v.index not in (100, 400)] == [
        (1, "https://1b"),
        (2, "x@y.z"),
    ]
    assert 100 in record.by_index()  # untouched by index-scoped writes
    assert_signed(record)
    assert record.version == 3
    await core.registry.put_record(firm.admin, handle, [url(5, "https://5")], indexes=[5], overwrite=False)
    assert 5 in (await stored(core, handle)).by_index()


async def test_index_scoped_without_overwrite_refuses_existing_index(core: Core, firm: Firm) -> None:
    handle = firm.handle("scoped")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    before = await stored(core, handle)
    with pytest.raises(ValueAlreadyExists):
        await core.registry.put_record(
            firm.admin,
            handle,
            [url(1, "https://other"), url(2, "https://2")],
            indexes=[1, 2],
            overwrite=False,
        )
    assert await stored(core, handle) == before  # neither value was written


async def test_index_scoped_on_missing_handle(core: Core, firm: Firm) -> None:
    with pytest.raises(HandleNotFound):
        await core.registry.put_record(firm.admin, firm.handle("absent"), [url(1, "https://1")], indexes=[1])
    assert await stored(core, firm.handle("absent")) is None


async def test_value_outside_the_indexes_is_invalid(core: Core, firm: Firm) -> None:
    handle = firm.handle("stray")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    before = await stored(core, handle)
    with pytest.raises(InvalidValue):
        await core.registry.put_record(
            firm.admin, handle, [url(1, "https://x"), url(9, "https://9")], indexes=[1]
        )
    assert await stored(core, handle) == before


async def test_duplicate_indexes_in_one_request_are_invalid(core: Core, firm: Firm) -> None:
    with pytest.raises(InvalidValue):
        await core.registry.put_record(
            firm.admin, firm.handle("dup"), [url(1, "https://1"), url(1, "https://2")]
        )
    assert await stored(core, firm.handle("dup")) is None


async def test_unchanged_values_keep_their_timestamp(
    core: Core, firm: Firm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Value timestamps follow the registry's clock; the signature (made on every write) is left out."""
    handle = firm.handle("clock")

    async def stamps() -> dict[int, int]:
        record = await stored(core, handle)
        assert_signed(record)
        return {v.index: v.timestamp for v in record.values if v.index != 400}

    monkeypatch.setattr(registry_module, "epoch", lambda: 1_700_000_000)
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1"), url(2, "https://2")])
    monkeypatch.setattr(registry_module, "epoch", lambda: 1_800_000_000)
    await core.registry.put_record(
        firm.admin, handle, [url(1, "https://1"), url(2, "https://2-new")], indexes=[1, 2]
    )
    assert await stamps() == {1: 1_700_000_000, 2: 1_800_000_000, 100: 1_700_000_000}
    monkeypatch.setattr(registry_module, "epoch", lambda: 1_900_000_000)
    admin = (await stored(core, handle)).by_index()[100]
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1"), url(2, "https://2-new"), admin])
    assert await stamps() == {1: 1_700_000_000, 2: 1_800_000_000, 100: 1_700_000_000}


async def test_put_needs_a_principal(core: Core, firm: Firm) -> None:
    with pytest.raises(AuthenticationNeeded):
        await core.registry.put_record(None, firm.handle("anon"), [url(1, "https://1")])
    assert await stored(core, firm.handle("anon")) is None


# -- delete ----------------------------------------------------------------------------------------


async def test_delete_whole_handle(core: Core, firm: Firm) -> None:
    handle = firm.handle("gone")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    result = await core.registry.delete(firm.admin, handle)
    assert result.record is None
    assert await stored(core, handle) is None
    with pytest.raises(HandleNotFound):
        await core.resolver.resolve(handle)
    with pytest.raises(HandleNotFound):
        await core.registry.delete(firm.admin, handle)


async def test_delete_by_index(core: Core, firm: Firm) -> None:
    handle = firm.handle("trim")
    await core.registry.put_record(
        firm.admin, handle, [url(1, "https://1"), url(2, "https://2"), url(3, "3")]
    )
    result = await core.registry.delete(firm.admin, handle, indexes=[1, 3])
    record = await stored(core, handle)
    assert record == result.record
    assert sorted(record.by_index()) == [2, 100, 400]
    assert_signed(record)
    assert record.version == 2


async def test_delete_missing_index(core: Core, firm: Firm) -> None:
    handle = firm.handle("trim")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    before = await stored(core, handle)
    with pytest.raises(ValuesNotFound):
        await core.registry.delete(firm.admin, handle, indexes=[1, 42])
    assert await stored(core, handle) == before


async def test_enterprise_admin_cannot_delete_its_own_admin_handle(core: Core, firm: Firm) -> None:
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(firm.admin, firm.handle("ADMIN"))
    assert (
        await core.registry.authenticate(f"{firm.prefix}/ADMIN", 300, firm.secret, channel=LOCAL)
        == firm.admin
    )
    # The operator can.
    await core.registry.delete(core.local_operator, firm.handle("ADMIN"))
    assert await stored(core, firm.handle("ADMIN")) is None


# -- tenant isolation ------------------------------------------------------------------------------


async def test_enterprise_cannot_write_under_another_prefix(core: Core, firm: Firm, other: Firm) -> None:
    await core.registry.put_record(other.admin, other.handle("theirs"), [url(1, "https://b")])
    before = await stored(core, other.handle("theirs"))
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(firm.admin, other.handle("theirs"), [url(1, "https://evil")])
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(firm.admin, other.handle("new"), [url(1, "https://evil")])
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(firm.admin, other.handle("theirs"))
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(firm.admin, other.handle("ADMIN"), [seckey("takeover")])
    assert await stored(core, other.handle("theirs")) == before
    assert await stored(core, other.handle("new")) is None
    assert (
        await core.registry.authenticate(f"{other.prefix}/ADMIN", 300, other.secret, channel=LOCAL)
        == other.admin
    )


async def test_enterprise_cannot_write_prefix_handles(core: Core, firm: Firm) -> None:
    own_prefix_handle = h(f"0.NA/{firm.prefix}")
    before = await stored(core, own_prefix_handle)
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(firm.admin, own_prefix_handle, [url(1, "https://x")], indexes=[1])
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(firm.admin, h("0.NA/88.999.1001.7"), [url(1, "https://x")])
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(firm.admin, own_prefix_handle)
    assert await stored(core, own_prefix_handle) == before
    assert await stored(core, h("0.NA/88.999.1001.7")) is None


async def test_prefix_not_on_this_node(core: Core, firm: Firm) -> None:
    for foreign in ("77.1/x", "88.999.4444/x", "0.NA/77.1"):
        with pytest.raises(PrefixNotHere):
            await core.registry.put_record(core.local_operator, h(foreign), [url(1, "https://x")])
        assert await stored(core, h(foreign)) is None
    with pytest.raises(PrefixNotHere):
        await core.registry.delete(core.local_operator, h("77.1/x"))
    # An enterprise is refused too (it may only ever write under its own prefix).
    with pytest.raises((PrefixNotHere, InsufficientPermissions)):
        await core.registry.put_record(firm.admin, h("77.1/x"), [url(1, "https://x")])
    # The operator may write under the node prefix and enterprise prefixes it holds.
    assert (
        await core.registry.put_record(core.local_operator, h("88.999/info"), [url(1, "https://n")])
    ).created
    assert (
        await core.registry.put_record(core.local_operator, firm.handle("by-op"), [url(1, "https://o")])
    ).created


# -- suspension ------------------------------------------------------------------------------------


async def test_suspended_enterprise_cannot_write(core: Core, firm: Firm, other: Firm) -> None:
    handle = firm.handle("s")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    before = await stored(core, handle)
    updated = await core.registry.update_enterprise(core.local_operator, firm.prefix, {"status": "suspended"})
    assert updated.status is EnterpriseStatus.SUSPENDED
    rows_before = len(await audit_rows(core.repository))
    with pytest.raises(EnterpriseSuspended):
        await core.registry.put_record(firm.admin, handle, [url(1, "https://2")])
    with pytest.raises(EnterpriseSuspended):
        await core.registry.put_record(firm.admin, firm.handle("new"), [url(1, "https://2")])
    with pytest.raises(EnterpriseSuspended):
        await core.registry.delete(firm.admin, handle)
    assert await stored(core, handle) == before
    assert await stored(core, firm.handle("new")) is None
    assert len(await audit_rows(core.repository)) == rows_before
    # Reads still work, and other enterprises are unaffected.
    assert (await core.resolver.resolve(handle)).values
    assert (await core.registry.put_record(other.admin, other.handle("ok"), [url(1, "https://b")])).created
    # Reactivation restores writes.
    await core.registry.update_enterprise(core.local_operator, firm.prefix, {"status": "active"})
    await core.registry.put_record(firm.admin, handle, [url(1, "https://3")])
    assert (await stored(core, handle)).by_index()[1].data == "https://3"


async def test_only_the_operator_suspends(core: Core, firm: Firm) -> None:
    with pytest.raises(InsufficientPermissions):
        await core.registry.update_enterprise(firm.admin, firm.prefix, {"status": "suspended"})
    enterprise = await core.repository.get_enterprise(firm.prefix)
    assert enterprise is not None and enterprise.status is EnterpriseStatus.ACTIVE


# -- a second key holder ---------------------------------------------------------------------------


@pytest.fixture
async def alice(core: Core, firm: Firm) -> Principal:
    """``300:<prefix>/alice``: a key holder that is not the enterprise admin."""
    await core.registry.put_record(firm.admin, firm.handle("alice"), [seckey("alice-pw")])
    return await core.registry.authenticate(f"{firm.prefix}/alice", 300, "alice-pw", channel=LOCAL)


async def test_second_key_holder_modifies_records_naming_it(core: Core, firm: Firm, alice: Principal) -> None:
    assert alice == Principal(f"{firm.prefix}/alice", 300) and not alice.is_enterprise_admin
    shared, private = firm.handle("shared"), firm.handle("private")
    await core.registry.put_record(
        firm.admin,
        shared,
        [url(1, "https://1"), admin_ref(100, f"{firm.prefix}/ADMIN"), admin_ref(101, f"{firm.prefix}/alice")],
    )
    await core.registry.put_record(firm.admin, private, [url(1, "https://p")])
    await core.registry.put_record(alice, shared, [url(2, "https://by-alice")], indexes=[2])
    await core.registry.put_record(alice, shared, [url(1, "https://1-by-alice")], indexes=[1])
    await core.registry.delete(alice, shared, indexes=[2])
    record = await stored(core, shared)
    assert record.by_index()[1].data == "https://1-by-alice" and 2 not in record.by_index()
    actions = [(r["actor"], r["action"]) for r in await core.repository.audit_trail(str(shared))]
    assert actions[-3:] == [(str(alice), "modify"), (str(alice), "modify"), (str(alice), "remove-values")]
    before = await stored(core, private)
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(alice, private, [url(2, "https://x")], indexes=[2])
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(alice, private)
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(alice, firm.handle("fresh"), [url(1, "https://x")])
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(alice, firm.handle("ADMIN"), [seckey("mine")], indexes=[300])
    assert await stored(core, private) == before
    assert await stored(core, firm.handle("fresh")) is None
    assert (
        await core.registry.authenticate(f"{firm.prefix}/ADMIN", 300, firm.secret, channel=LOCAL)
        == firm.admin
    )


async def test_second_key_holder_gets_only_the_granted_bits(core: Core, firm: Firm, alice: Principal) -> None:
    add_value_only = "000001000000"  # bit 6: ADD_VALUE
    handle = firm.handle("narrow")
    await core.registry.put_record(
        firm.admin, handle, [url(1, "https://1"), admin_ref(100, f"{firm.prefix}/alice", add_value_only)]
    )
    await core.registry.put_record(alice, handle, [url(2, "https://2")], indexes=[2])
    assert 2 in (await stored(core, handle)).by_index()
    before = await stored(core, handle)
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(
            alice, handle, [url(1, "https://changed")], indexes=[1]
        )  # MODIFY_VALUE
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(alice, handle, indexes=[2])  # REMOVE_VALUE
    with pytest.raises(InsufficientPermissions):
        await core.registry.delete(alice, handle)  # DELETE_HANDLE
    with pytest.raises(InsufficientPermissions):  # ADD_ADMIN
        await core.registry.put_record(alice, handle, [admin_ref(101, f"{firm.prefix}/alice")], indexes=[101])
    assert await stored(core, handle) == before


async def test_key_holder_of_another_enterprise_is_refused(
    core: Core, firm: Firm, other: Firm, alice: Principal
) -> None:
    theirs = other.handle("names-alice")
    # Even an HS_ADMIN naming alice cannot open another enterprise's prefix to her.
    await core.registry.put_record(other.admin, theirs, [url(1, "https://b"), admin_ref(100, alice.handle)])
    with pytest.raises(InsufficientPermissions):
        await core.registry.put_record(alice, theirs, [url(2, "https://x")], indexes=[2])
    assert 2 not in (await stored(core, theirs)).by_index()


# -- audit -----------------------------------------------------------------------------------------


async def test_every_write_leaves_exactly_one_audit_row(core: Core, firm: Firm) -> None:
    handle = firm.handle("audited")
    target, actor = str(handle), str(firm.admin)
    registry = core.registry

    async def write(action: str, step: Any) -> dict[str, Any]:
        rows_before = await audit_rows(core.repository)
        result = await step
        rows = await audit_rows(core.repository)
        assert len(rows) == len(rows_before) + 1, action
        row = rows[-1]
        assert (row["actor"], row["action"], row["target"]) == (actor, action, target)
        expected = None if result.record is None else [v.to_json() for v in result.record.values]
        assert row["new"] == expected
        return row

    created = await write("create", registry.put_record(firm.admin, handle, [url(1, "https://1")]))
    assert created["old"] is None
    added = await write("modify", registry.put_record(firm.admin, handle, [url(2, "https://2")], indexes=[2]))
    assert added["old"] == created["new"]
    replaced = await write("modify", registry.put_record(firm.admin, handle, [url(3, "https://3")]))
    assert replaced["old"] == added["new"]
    trimmed = await write("remove-values", registry.delete(firm.admin, handle, indexes=[3]))
    assert trimmed["old"] == replaced["new"]
    deleted = await write("delete", registry.delete(firm.admin, handle))
    assert deleted["old"] == trimmed["new"] and [v["index"] for v in deleted["old"]] == [100, 400]
    trail = await core.repository.audit_trail(target)
    assert [r["action"] for r in trail] == ["create", "modify", "modify", "remove-values", "delete"]
    assert all(r["at"] is not None for r in trail)


async def test_enterprise_update_is_audited(core: Core, firm: Firm) -> None:
    rows_before = await audit_rows(core.repository)
    await core.registry.update_enterprise(core.local_operator, firm.prefix, {"contact_name": "赵六"})
    rows = await audit_rows(core.repository)
    assert len(rows) == len(rows_before) + 1
    row = rows[-1]
    assert (row["actor"], row["action"], row["target"]) == (
        "300:0.NA/88.999",
        "enterprise-update",
        firm.prefix,
    )
    assert row["old"]["contact_name"] == "王工" and row["new"]["contact_name"] == "赵六"


async def test_failed_writes_leave_no_audit_rows(core: Core, firm: Firm, other: Firm) -> None:
    await core.registry.put_record(firm.admin, firm.handle("x"), [url(1, "https://1")])
    rows_before = await audit_rows(core.repository)
    log_before = await log_size(core.repository)
    registry = core.registry
    failures: list[tuple[type[Exception], Any]] = [
        (
            HandleAlreadyExists,
            lambda: registry.put_record(firm.admin, firm.handle("x"), [url(1, "https://2")], overwrite=False),
        ),
        (
            ValueAlreadyExists,
            lambda: registry.put_record(
                firm.admin, firm.handle("x"), [url(1, "https://2")], indexes=[1], overwrite=False
            ),
        ),
        (
            HandleNotFound,
            lambda: registry.put_record(firm.admin, firm.handle("y"), [url(1, "https://2")], indexes=[1]),
        ),
        (
            InsufficientPermissions,
            lambda: registry.put_record(firm.admin, other.handle("x"), [url(1, "https://2")]),
        ),
        (ValuesNotFound, lambda: registry.delete(firm.admin, firm.handle("x"), indexes=[9])),
        (InsufficientPermissions, lambda: registry.delete(firm.admin, firm.handle("ADMIN"))),
        (EnterpriseExists, lambda: registry.add_enterprise(core.local_operator, draft(1))),
    ]
    for expected, attempt in failures:
        with pytest.raises(expected):
            await attempt()
    assert await audit_rows(core.repository) == rows_before
    assert await log_size(core.repository) == log_before  # nor transparency-log entries


async def test_audit_never_holds_secrets(core: Core, firm: Firm) -> None:
    await core.registry.put_record(
        firm.admin, firm.handle("alice"), [seckey("alice-pw"), url(1, "https://a")]
    )
    await core.registry.put_record(
        firm.admin, firm.handle("alice"), [seckey("alice-pw2", 301)], indexes=[301]
    )
    await core.registry.put_record(firm.admin, firm.handle("alice"), [seckey("alice-pw3")])
    await core.registry.delete(firm.admin, firm.handle("alice"), indexes=[301])
    await core.registry.put_record(firm.admin, firm.handle("ADMIN"), [val(2, "EMAIL", "ops@example.com")])
    new_secret = await core.registry.reset_enterprise_secret(core.local_operator, firm.prefix)
    await core.registry.update_enterprise(core.local_operator, firm.prefix, {"contact_name": "赵六"})
    await core.registry.delete(core.local_operator, firm.handle("alice"))
    rows = await audit_rows(core.repository)
    assert len(rows) >= 10
    hashes = {
        v.data
        for rec in [await stored(core, firm.handle("ADMIN"))]
        for v in rec.values
        if v.type == "HS_SECKEY"
    }
    for row in rows:
        assert "scrypt$" not in row["raw"]
        for secret in ("alice-pw", "alice-pw2", "alice-pw3", firm.secret, new_secret, *hashes):
            assert secret not in row["raw"]
    seckeys = [
        v
        for r in rows
        for side in ("old", "new")
        if isinstance(r[side], list)
        for v in r[side]
        if v.get("type") == "HS_SECKEY"
    ]
    assert seckeys and all(set(v) == {"index", "type"} for v in seckeys)
    assert (
        await core.registry.authenticate(f"{firm.prefix}/ADMIN", 300, new_secret, channel=LOCAL) == firm.admin
    )


# -- signatures and the transparency log -----------------------------------------------------------

FORGED_TOKEN = "eyJhbGciOiJFZERTQSIsImtpZCI6IjMwMTowLk5BLzg4Ljk5OSJ9.e30.AAAA"


async def test_clients_cannot_write_the_signature(core: Core, firm: Firm) -> None:
    handle, fresh = firm.handle("signed"), firm.handle("fresh")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    before = await stored(core, handle)
    assert_signed(before)
    rows_before, log_before = await audit_rows(core.repository), await log_size(core.repository)

    async def refused(principal: Principal, target: Identifier, values: list[HandleValue], **kw: Any) -> None:
        with pytest.raises(InvalidValue):
            await core.registry.put_record(principal, target, values, **kw)

    forged = [
        url(400, "https://not-a-signature"),  # any value at index 400
        val(400, "HS_SIGNATURE", FORGED_TOKEN),
        val(7, "HS_SIGNATURE", FORGED_TOKEN),  # an HS_SIGNATURE at any index
    ]
    for principal in (firm.admin, core.local_operator):
        for value in forged:
            await refused(principal, handle, [url(1, "https://1"), value])
            await refused(principal, handle, [url(1, "https://changed"), value])
            await refused(principal, handle, [value], indexes=[value.index])
            await refused(principal, handle, [value], indexes=[value.index], overwrite=False)
            await refused(principal, fresh, [url(1, "https://1"), value])
            await refused(principal, fresh, [value], overwrite=False)
    assert await stored(core, handle) == before
    assert await stored(core, fresh) is None
    assert await audit_rows(core.repository) == rows_before
    assert await log_size(core.repository) == log_before


async def test_the_signature_cannot_be_deleted(core: Core, firm: Firm) -> None:
    handle = firm.handle("keep-signed")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1"), url(2, "https://2")])
    before = await stored(core, handle)
    assert_signed(before)
    rows_before, log_before = await audit_rows(core.repository), await log_size(core.repository)
    for principal in (firm.admin, core.local_operator):
        for indexes in ([400], [1, 400]):
            with pytest.raises(InvalidValue):
                await core.registry.delete(principal, handle, indexes=indexes)
    assert await stored(core, handle) == before  # not even value 1 went
    assert await audit_rows(core.repository) == rows_before
    assert await log_size(core.repository) == log_before
    # Removing other values keeps (and renews) the signature.
    result = await core.registry.delete(firm.admin, handle, indexes=[1])
    assert sorted(result.record.by_index()) == [2, 100, 400]
    assert_signed(result.record)


async def test_node_record_is_changed_only_by_the_node(core: Core, firm: Firm) -> None:
    node = h("0.NA/88.999")
    before = await stored(core, node)
    assert before is not None
    values = before.by_index()
    assert sorted(values) == [100, 300, 301, 400]
    assert values[301].type == "HS_PUBKEY"
    assert_signed(before)
    rows_before, log_before = await audit_rows(core.repository), await log_size(core.repository)
    registry = core.registry
    for principal in (core.local_operator, firm.admin):
        with pytest.raises(InsufficientPermissions):
            await registry.put_record(principal, node, [url(1, "https://x")])
        with pytest.raises(InsufficientPermissions):
            await registry.put_record(principal, node, [url(1, "https://x")], indexes=[1])
        with pytest.raises(InsufficientPermissions):
            await registry.put_record(principal, node, [url(1, "https://x")], overwrite=False)
        with pytest.raises(InsufficientPermissions):
            await registry.put_record(principal, node, [seckey("takeover")], indexes=[300])
        with pytest.raises(InsufficientPermissions):
            await registry.put_record(
                principal, node, [admin_ref(100, f"{firm.prefix}/ADMIN", ALL_PERMISSIONS)], indexes=[100]
            )
        with pytest.raises(InsufficientPermissions):
            await registry.delete(principal, node, indexes=[301])
        with pytest.raises(InsufficientPermissions):
            await registry.delete(principal, node)
    assert await stored(core, node) == before
    assert await audit_rows(core.repository) == rows_before
    assert await log_size(core.repository) == log_before
    assert core.operator_secret is not None
    assert (await registry.authenticate("0.NA/88.999", 300, core.operator_secret, channel=LOCAL)).is_operator


async def test_every_write_appends_exactly_one_log_entry(core: Core, firm: Firm) -> None:
    handle = firm.handle("logged")
    registry = core.registry

    async def write(action: str, step: Any) -> dict[str, Any]:
        size_before = await log_size(core.repository)
        result = await step
        assert await log_size(core.repository) == size_before + 1, action
        entry = await latest_log_entry(core.repository, handle)
        assert (entry["seq"], entry["action"], entry["handle"]) == (size_before, action, str(handle))
        if result.record is None:
            assert entry["record"] is None
        else:
            assert isinstance(entry["record"], str) and entry["record"]
            assert_signed(result.record)
        return entry

    created = await write("create", registry.put_record(firm.admin, handle, [url(1, "https://1")]))
    added = await write("modify", registry.put_record(firm.admin, handle, [url(2, "https://2")], indexes=[2]))
    replaced = await write("modify", registry.put_record(firm.admin, handle, [url(3, "https://3")]))
    # Removing values is a modification as far as the log is concerned.
    trimmed = await write("modify", registry.delete(firm.admin, handle, indexes=[3]))
    await write("delete", registry.delete(firm.admin, handle))
    # Each entry records the content after its change, so four different contents give four digests.
    assert len({e["record"] for e in (created, added, replaced, trimmed)}) == 4


async def test_onboarding_and_secret_resets_are_logged(core: Core) -> None:
    size_before = await log_size(core.repository)
    firm = await onboard(core, 1)
    assert await log_size(core.repository) == size_before + 2
    for handle in (h(f"0.NA/{firm.prefix}"), firm.handle("ADMIN")):
        entry = await latest_log_entry(core.repository, handle)
        assert entry["action"] == "create" and size_before <= entry["seq"] < size_before + 2
        assert_signed(await stored(core, handle))
    await core.registry.reset_enterprise_secret(core.local_operator, firm.prefix)
    assert await log_size(core.repository) == size_before + 3
    entry = await latest_log_entry(core.repository, firm.handle("ADMIN"))
    assert (entry["seq"], entry["action"]) == (size_before + 2, "modify")
    # Enterprise details are not records: changing them is audited but not logged.
    await core.registry.update_enterprise(core.local_operator, firm.prefix, {"contact_name": "赵六"})
    assert await log_size(core.repository) == size_before + 3
    # A refused onboarding logs nothing.
    with pytest.raises(EnterpriseExists):
        await core.registry.add_enterprise(core.local_operator, draft(1))
    assert await log_size(core.repository) == size_before + 3


# -- concurrency -----------------------------------------------------------------------------------


async def test_concurrent_index_scoped_writes_all_land(
    core: Core, firm: Firm, settings: Settings, request: pytest.FixtureRequest
) -> None:
    handle = firm.handle("hot")
    await core.registry.put_record(firm.admin, handle, [url(1, "https://1")])
    indexes = range(2, 22)
    results = await asyncio.gather(
        *(
            core.registry.put_record(firm.admin, handle, [url(i, f"https://{i}")], indexes=[i])
            for i in indexes
        ),
        return_exceptions=True,
    )
    failures = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    record = await stored(core, handle)
    assert sorted(record.by_index()) == [1, *indexes, 100, 400]  # no lost update
    assert_signed(record)
    assert record.version == 21
    assert failures == []
    assert len([r for r in await core.repository.audit_trail(str(handle)) if r["action"] == "modify"]) == 20


async def test_concurrent_creates_of_one_handle(core: Core, firm: Firm) -> None:
    handle = firm.handle("race")
    log_before = await log_size(core.repository)
    results = await asyncio.gather(
        *(
            core.registry.put_record(firm.admin, handle, [url(1, f"https://{i}")], overwrite=False)
            for i in range(20)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and winners[0].created
    assert len(losers) == 19 and all(isinstance(r, HandleAlreadyExists) for r in losers)
    assert await stored(core, handle) == winners[0].record
    assert [r["action"] for r in await core.repository.audit_trail(str(handle))] == ["create"]
    assert await log_size(core.repository) == log_before + 1
    assert (await latest_log_entry(core.repository, handle))["action"] == "create"


async def test_concurrent_onboarding_allocates_distinct_prefixes(
    core: Core, settings: Settings, request: pytest.FixtureRequest
) -> None:
    results = await asyncio.gather(
        *(core.registry.add_enterprise(core.local_operator, draft(serial)) for serial in range(30, 40)),
        return_exceptions=True,
    )
    failures = [type(r).__name__ for r in results if isinstance(r, BaseException)]
    done = [r for r in results if not isinstance(r, BaseException)]
    prefixes = sorted(enterprise.prefix for enterprise, _ in done)
    assert len(set(prefixes)) == len(prefixes)  # never two enterprises on one prefix
    for prefix in prefixes:
        assert await stored(core, h(f"{prefix}/ADMIN")) is not None
    assert failures == []
    assert prefixes == [f"88.999.{n}" for n in range(1001, 1011)]


@pytest.fixture
async def small_pool_core(pg_database: str, tmp_path: Any) -> AsyncIterator[tuple[Registry, Repository]]:
    """The core on PostgreSQL with a two-connection pool, so pool exhaustion shows in seconds."""
    settings = load_settings(
        {"data_dir": tmp_path / "data", "db": pg_database, "keys_dir": tmp_path / "keys"}, environ={}
    )
    engine = create_async_engine(pg_database, pool_size=2, max_overflow=0, pool_timeout=2)
    engines = Engines(reader=engine, writer=engine)
    try:
        await migrate(engines)
        repository = Repository(engines)
        keys = NodeKeys(KeyStore(settings.keys_path), prefix_handle(settings.node_prefix_canonical))
        committer = Committer(keys, settings.signature_lifetime_days * 86400, settings.sign_records)
        registry = Registry(repository, settings, committer, MetadataRules(TemplateCatalog(repository)))
        assert await registry.initialise() is not None
        assert any(settings.keys_path.iterdir())  # the signing key went to this test's own keys dir
        yield registry, repository
    finally:
        await engines.dispose()


async def test_concurrent_key_holder_writes_do_not_exhaust_the_pool(
    small_pool_core: tuple[Registry, Repository],
) -> None:
    registry, repository = small_pool_core
    operator = Principal("0.NA/88.999", 300, is_operator=True)
    enterprise, _ = await registry.add_enterprise(operator, draft(1))
    admin = Principal(f"{enterprise.prefix}/ADMIN", 300)
    await registry.put_record(admin, h(f"{enterprise.prefix}/alice"), [seckey("alice-pw")])
    alice = await registry.authenticate(f"{enterprise.prefix}/alice", 300, "alice-pw", channel=LOCAL)
    handles = [h(f"{enterprise.prefix}/doc-{i}") for i in range(2)]
    for handle in handles:
        # The enterprise admin comes first, so checking alice's rights consults its HS_VLIST.
        await registry.put_record(
            admin,
            handle,
            [
                url(1, "https://1"),
                admin_ref(100, f"{enterprise.prefix}/ADMIN"),
                admin_ref(101, f"{enterprise.prefix}/alice"),
            ],
        )
    # Every task finishes (or fails) before the pool is disposed; the first failure is re-raised.
    results = await asyncio.wait_for(
        asyncio.gather(
            *(registry.put_record(alice, hd, [url(2, "https://2")], indexes=[2]) for hd in handles),
            return_exceptions=True,
        ),
        timeout=20,
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    for handle in handles:
        record = await repository.get_record(handle)
        assert record is not None and 2 in record.by_index()
        assert_signed(record)


# -- resolver --------------------------------------------------------------------------------------


@pytest.fixture
async def catalogue(core: Core, firm: Firm) -> Identifier:
    handle = firm.handle("catalogue")
    await core.registry.put_record(
        firm.admin,
        handle,
        [
            url(1, "https://main.example"),
            val(2, "URL.mirror", "https://mirror.example"),
            val(3, "EMAIL", "sales@example.com"),
            val(4, "URLX", "not a url subtype"),
            val(5, "INTERNAL", "admins only", permissions="1100"),
            admin_ref(100, f"{firm.prefix}/ADMIN"),
            seckey("catalogue-pw"),
        ],
    )
    return handle


def _indexes(values: list[HandleValue]) -> list[int]:
    return [v.index for v in values]


async def test_resolve_without_filters_returns_public_values(core: Core, catalogue: Identifier) -> None:
    resolution = await core.resolver.resolve(catalogue)
    assert resolution.handle == str(catalogue)
    assert _indexes(resolution.values) == [1, 2, 3, 4, 100, 400]
    assert [v.type for v in resolution.values if v.index == 400] == ["HS_SIGNATURE"]
    body = resolution.to_json()
    assert body["responseCode"] == 1 and body["handle"] == "88.999.1001/catalogue"
    assert body["values"][0]["data"] == {"format": "string", "value": "https://main.example"}


async def test_resolve_filters(core: Core, catalogue: Identifier) -> None:
    cases: list[tuple[list[int], list[str], list[int]]] = [
        ([1], [], [1]),
        ([3, 2], [], [2, 3]),
        ([], ["URL"], [1, 2]),  # a type matches its subtypes, not URLX
        ([], ["url"], [1, 2]),  # case-insensitively
        ([], ["URL."], [2]),  # 'X.' matches only subtypes
        ([], ["URL.mirror"], [2]),
        ([], ["EMAIL", "URLX"], [3, 4]),
        ([3], ["URL"], [1, 2, 3]),  # index and type selections add up
        ([], ["HS_ADMIN"], [100]),
    ]
    for indexes, types, expected in cases:
        resolution = await core.resolver.resolve(catalogue, indexes=indexes, types=types)
        assert _indexes(resolution.values) == expected, (indexes, types)
        assert resolution.to_json()["responseCode"] == 1


async def test_resolve_never_returns_secret_keys(core: Core, firm: Firm, catalogue: Identifier) -> None:
    for principal in (None, firm.admin, core.local_operator):
        everything = await core.resolver.resolve(catalogue, principal=principal)
        assert all(v.type != "HS_SECKEY" for v in everything.values)
        asked = await core.resolver.resolve(
            catalogue, principal=principal, indexes=[300], types=["HS_SECKEY"]
        )
        assert asked.values == []
    admin_record = await core.resolver.resolve(firm.handle("ADMIN"), principal=core.local_operator)
    assert "HS_SECKEY" not in {v.type for v in admin_record.values}
    assert "scrypt$" not in orjson.dumps(admin_record.to_json()).decode()


async def test_resolve_admin_readable_values(
    core: Core, firm: Firm, other: Firm, catalogue: Identifier
) -> None:
    assert 5 not in _indexes((await core.resolver.resolve(catalogue)).values)
    assert 5 in _indexes((await core.resolver.resolve(catalogue, principal=firm.admin)).values)
    assert 5 in _indexes((await core.resolver.resolve(catalogue, principal=core.local_operator)).values)
    assert 5 not in _indexes(
        (await core.resolver.resolve(catalogue, principal=firm.admin, public_only=True)).values
    )
    assert 5 not in _indexes((await core.resolver.resolve(catalogue, principal=other.admin)).values)


async def test_resolve_empty_selection_and_missing_handle(
    core: Core, firm: Firm, catalogue: Identifier
) -> None:
    resolution = await core.resolver.resolve(catalogue, indexes=[77], types=["NOPE"])
    assert resolution.values == []
    assert resolution.to_json() == {"responseCode": 200, "handle": str(catalogue), "values": []}
    assert (await core.resolver.resolve(catalogue, asked_as="hdl:88.999.1001/catalogue")).handle == (
        "hdl:88.999.1001/catalogue"
    )
    with pytest.raises(HandleNotFound):
        await core.resolver.resolve(firm.handle("missing"))


async def test_list_handles_through_the_resolver(core: Core, firm: Firm, other: Firm) -> None:
    for i in range(3):
        await core.registry.put_record(firm.admin, firm.handle(f"item-{i}"), [url(1, "https://x")])
    total, names = await core.resolver.list_handles(firm.admin, firm.prefix, page=0, page_size=2)
    assert total == 4  # ADMIN and the three items
    assert names == ["88.999.1001/ADMIN", "88.999.1001/item-0"]
    assert await core.resolver.list_handles(firm.admin, firm.prefix, page=0, page_size=0) == (4, [])
    with pytest.raises(InsufficientPermissions):
        await core.resolver.list_handles(other.admin, firm.prefix, page=0, page_size=10)
    with pytest.raises(AuthenticationNeeded):
        await core.resolver.list_handles(None, firm.prefix, page=0, page_size=10)


# -- stats -----------------------------------------------------------------------------------------


async def test_stats_summary(core: Core) -> None:
    empty = await core.stats.summary()
    assert empty["enterprises"] == {"total": 0, "active": 0, "suspended": 0}
    assert empty["identifiers"] == 0
    firms = [await onboard(core, serial) for serial in (1, 2, 3)]
    await core.registry.update_enterprise(core.local_operator, firms[2].prefix, {"status": "suspended"})
    for i in range(3):
        await core.registry.put_record(firms[0].admin, firms[0].handle(f"p{i}"), [url(1, "https://x")])
    await core.registry.put_record(firms[1].admin, firms[1].handle("q"), [url(1, "https://y")])
    await core.registry.put_record(firms[1].admin, firms[1].handle("alice"), [seckey("pw")])
    await core.registry.put_record(core.local_operator, h("88.999/node-info"), [url(1, "https://n")])
    summary = await core.stats.summary()
    assert summary == {
        "enterprises": {"total": 3, "active": 2, "suspended": 1},
        "identifiers": 6,  # p0..p2, q, alice, node-info: not 0.NA/* nor <prefix>/ADMIN
        "resolutions": {"total": 0, "today": 0},
        "target": {"enterprises": 3500, "registered": 3, "progress": round(3 / 3500, 4)},
        # onboarded by the operator, not applied for: no application in any state
        "applications": dict.fromkeys(("approved", "rejected", "submitted", "under_review", "withdrawn"), 0),
    }
    await core.registry.delete(firms[0].admin, firms[0].handle("p0"))
    assert (await core.stats.summary())["identifiers"] == 5
