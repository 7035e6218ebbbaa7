"""HS_ADMIN permissions, the `granted` rule (idnode/model/permissions.py) and Record helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.model.errors import InvalidValue
from idnode.model.identifier import Identifier
from idnode.model.permissions import (
    ALL_PERMISSIONS,
    DEFAULT_ADMIN_PERMISSIONS,
    PERMISSION_BITS,
    AdminRef,
    Permission,
    Principal,
    granted,
    has_permission,
    parse_admin_permissions,
    refers_to,
)
from idnode.model.record import Record
from idnode.model.values import HandleValue

PREFIX = "88.999.1001"
OTHER_PREFIX = "88.999.1002"
ENTERPRISE_ADMIN = Principal(f"{PREFIX}/ADMIN", 300)
OPERATOR = Principal("88.999/OPERATOR", 300, is_operator=True)
ALICE = Principal(f"{PREFIX}/alice", 300)
ALICE_REF: AdminRef = (ALICE.handle, ALICE.index)


class Vlists:
    """An in-memory HS_VLIST lookup that records every call."""

    def __init__(self, table: dict[AdminRef, list[AdminRef]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[AdminRef] = []

    async def __call__(self, handle: str, index: int) -> Iterable[AdminRef] | None:
        self.calls.append((handle, index))
        return self.table.get((handle, index))


def only(permission: Permission) -> str:
    """A twelve-bit string granting just ``permission``."""
    bits = ["0"] * PERMISSION_BITS
    bits[PERMISSION_BITS - 1 - permission] = "1"
    return "".join(bits)


def all_but(permission: Permission) -> str:
    return "".join("0" if c == "1" else "1" for c in only(permission))


# --- parse_admin_permissions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (None, DEFAULT_ADMIN_PERMISSIONS),
        ("", DEFAULT_ADMIN_PERMISSIONS),
        ("1", "000000000001"),
        ("10", "000000000010"),
        ("111111111111", ALL_PERMISSIONS),
        ("011111110011", "011111110011"),
        ("0", "000000000000"),
    ],
)
def test_parse_admin_permissions(raw: Any, normalised: str) -> None:
    assert parse_admin_permissions(raw) == normalised
    assert len(normalised) == PERMISSION_BITS


@pytest.mark.parametrize("raw", ["1" * 13, "2", "01a", " 1", "1 ", "*", 11, 0, True, ["1"], {"p": "1"}])
def test_parse_admin_permissions_rejects(raw: Any) -> None:
    with pytest.raises(InvalidValue, match="twelve 0/1"):
        parse_admin_permissions(raw)


@given(st.text(alphabet="01", min_size=1, max_size=12))
def test_parse_admin_permissions_pads_on_the_left(raw: str) -> None:
    normalised = parse_admin_permissions(raw)
    assert len(normalised) == PERMISSION_BITS
    assert normalised.endswith(raw)
    assert set(normalised[: PERMISSION_BITS - len(raw)]) <= {"0"}
    for permission in Permission:
        bit_from_right = raw[::-1][permission] if permission < len(raw) else "0"
        assert has_permission(normalised, permission) is (bit_from_right == "1")


# --- has_permission -----------------------------------------------------------------------------------


def test_permission_bit_positions() -> None:
    assert [p.name for p in sorted(Permission)] == [
        "ADD_HANDLE",
        "DELETE_HANDLE",
        "ADD_DERIVED_PREFIX",
        "DELETE_DERIVED_PREFIX",
        "MODIFY_VALUE",
        "REMOVE_VALUE",
        "ADD_VALUE",
        "MODIFY_ADMIN",
        "REMOVE_ADMIN",
        "ADD_ADMIN",
        "READ_VALUE",
        "LIST_HANDLES",
    ]
    assert has_permission("000000000001", Permission.ADD_HANDLE)
    assert not has_permission("000000000001", Permission.LIST_HANDLES)
    assert has_permission("100000000000", Permission.LIST_HANDLES)
    assert not has_permission("100000000000", Permission.ADD_HANDLE)


@pytest.mark.parametrize("permission", list(Permission))
def test_each_bit_grants_exactly_one_permission(permission: Permission) -> None:
    for other in Permission:
        assert has_permission(only(permission), other) is (other == permission)
        assert has_permission(all_but(permission), other) is (other != permission)
    assert has_permission(ALL_PERMISSIONS, permission)
    assert not has_permission("0" * PERMISSION_BITS, permission)


def test_pyhandle_default_permissions() -> None:
    assert DEFAULT_ADMIN_PERMISSIONS == "011111110011"
    granted_set = {p for p in Permission if has_permission(DEFAULT_ADMIN_PERMISSIONS, p)}
    assert granted_set == {
        Permission.ADD_HANDLE,
        Permission.DELETE_HANDLE,
        Permission.MODIFY_VALUE,
        Permission.REMOVE_VALUE,
        Permission.ADD_VALUE,
        Permission.MODIFY_ADMIN,
        Permission.REMOVE_ADMIN,
        Permission.ADD_ADMIN,
        Permission.READ_VALUE,
    }
    for denied in (Permission.ADD_DERIVED_PREFIX, Permission.DELETE_DERIVED_PREFIX, Permission.LIST_HANDLES):
        assert not has_permission(DEFAULT_ADMIN_PERMISSIONS, denied)


# --- Principal ----------------------------------------------------------------------------------------


def test_principal_properties() -> None:
    assert ENTERPRISE_ADMIN.prefix == PREFIX
    assert ENTERPRISE_ADMIN.is_enterprise_admin
    assert str(ENTERPRISE_ADMIN) == f"300:{PREFIX}/ADMIN"
    assert not ALICE.is_enterprise_admin
    assert not Principal(f"{PREFIX}/ADMIN", 301).is_enterprise_admin
    assert not Principal(f"{PREFIX}/admin", 300).is_enterprise_admin  # suffixes are case-sensitive
    assert not Principal(f"{PREFIX}/ADMIN/x", 300).is_enterprise_admin
    assert not Principal("88.999/ADMIN", 300, is_operator=True).is_enterprise_admin


# --- granted ------------------------------------------------------------------------------------------


async def test_no_principal_is_never_granted() -> None:
    for permission in Permission:
        assert not await granted(None, PREFIX, permission, [((ALICE.handle, 300), ALL_PERMISSIONS)], Vlists())


@pytest.mark.parametrize("permission", list(Permission))
async def test_operator_always_granted(permission: Permission) -> None:
    for prefix in (PREFIX, OTHER_PREFIX, "0.NA", "99.1"):
        assert await granted(OPERATOR, prefix, permission, [], Vlists())


@pytest.mark.parametrize("permission", list(Permission))
async def test_enterprise_admin_holds_everything_in_its_prefix(permission: Permission) -> None:
    vlists = Vlists()
    assert await granted(ENTERPRISE_ADMIN, PREFIX, permission, [], vlists)
    # ... whatever the record's own HS_ADMIN values say
    assert await granted(ENTERPRISE_ADMIN, PREFIX, permission, [((ALICE.handle, 300), "0" * 12)], vlists)
    assert vlists.calls == []


@pytest.mark.parametrize("owning", [OTHER_PREFIX, "88.999", "88.999.10010", "88.999.100", "0.NA"])
async def test_principal_of_another_prefix_never_granted(owning: str) -> None:
    named = [((ENTERPRISE_ADMIN.handle, 300), ALL_PERMISSIONS), ((ALICE.handle, 300), ALL_PERMISSIONS)]
    for principal in (ENTERPRISE_ADMIN, ALICE):
        for permission in Permission:
            assert not await granted(principal, owning, permission, named, Vlists())


async def test_key_holder_needs_a_direct_reference_with_the_bit() -> None:
    admins = [(ALICE_REF, DEFAULT_ADMIN_PERMISSIONS)]
    assert await granted(ALICE, PREFIX, Permission.MODIFY_VALUE, admins, Vlists())
    assert await granted(ALICE, PREFIX, Permission.ADD_HANDLE, admins, Vlists())
    assert not await granted(ALICE, PREFIX, Permission.LIST_HANDLES, admins, Vlists())
    assert not await granted(ALICE, PREFIX, Permission.ADD_DERIVED_PREFIX, admins, Vlists())
    assert not await granted(ALICE, PREFIX, Permission.MODIFY_VALUE, [], Vlists())


async def test_key_holder_reference_must_match_handle_and_index() -> None:
    wrong: list[AdminRef] = [
        (ALICE.handle, 301),
        (f"{PREFIX}/bob", 300),
        (f"{PREFIX}/Alice", 300),
        (f"{OTHER_PREFIX}/alice", 300),
    ]
    for ref in wrong:
        assert not await granted(ALICE, PREFIX, Permission.ADD_VALUE, [(ref, ALL_PERMISSIONS)], Vlists())


async def test_any_matching_admin_value_suffices() -> None:
    admins = [
        (ALICE_REF, all_but(Permission.REMOVE_VALUE)),  # names alice without the bit
        ((f"{PREFIX}/bob", 300), ALL_PERMISSIONS),  # has the bit, names someone else
    ]
    assert not await granted(ALICE, PREFIX, Permission.REMOVE_VALUE, admins, Vlists())
    admins.append((ALICE_REF, only(Permission.REMOVE_VALUE)))
    assert await granted(ALICE, PREFIX, Permission.REMOVE_VALUE, admins, Vlists())


async def test_key_holder_through_a_vlist() -> None:
    group: AdminRef = (f"{PREFIX}/group", 200)
    vlists = Vlists({group: [(f"{PREFIX}/bob", 300), ALICE_REF]})
    assert await granted(ALICE, PREFIX, Permission.ADD_VALUE, [(group, only(Permission.ADD_VALUE))], vlists)
    assert group in vlists.calls
    admins = [(group, only(Permission.ADD_VALUE))]
    assert not await granted(ALICE, PREFIX, Permission.REMOVE_VALUE, admins, vlists)
    carol = Principal(f"{PREFIX}/carol", 300)
    assert not await granted(carol, PREFIX, Permission.ADD_VALUE, [(group, ALL_PERMISSIONS)], vlists)


async def test_vlist_not_consulted_without_the_bit() -> None:
    group: AdminRef = (f"{PREFIX}/group", 200)
    vlists = Vlists({group: [ALICE_REF]})
    admins = [(group, DEFAULT_ADMIN_PERMISSIONS)]
    assert not await granted(ALICE, PREFIX, Permission.LIST_HANDLES, admins, vlists)
    assert vlists.calls == []


def _chain(length: int) -> tuple[AdminRef, Vlists]:
    """``length`` nested HS_VLISTs, the innermost listing alice; returns the outermost reference."""
    refs: list[AdminRef] = [(f"{PREFIX}/group{i}", 200) for i in range(length)]
    table = {refs[i]: [refs[i + 1]] for i in range(length - 1)}
    table[refs[-1]] = [ALICE_REF]
    return refs[0], Vlists(table)


@pytest.mark.parametrize(("depth", "expected"), [(1, True), (2, True), (3, True), (4, False), (5, False)])
async def test_nested_vlist_depth_limit(depth: int, expected: bool) -> None:
    outer, vlists = _chain(depth)
    assert await granted(ALICE, PREFIX, Permission.ADD_VALUE, [(outer, ALL_PERMISSIONS)], vlists) is expected
    assert len(vlists.calls) <= 3


async def test_vlist_cycle_terminates() -> None:
    a: AdminRef = (f"{PREFIX}/a", 200)
    b: AdminRef = (f"{PREFIX}/b", 200)
    vlists = Vlists({a: [b, a], b: [a]})
    assert not await granted(ALICE, PREFIX, Permission.ADD_VALUE, [(a, ALL_PERMISSIONS)], vlists)
    assert 0 < len(vlists.calls) < 20


async def test_refers_to_directly_and_missing_vlist() -> None:
    assert await refers_to(ALICE_REF, ALICE, Vlists())
    vlists = Vlists()
    assert not await refers_to((f"{PREFIX}/nothing", 1), ALICE, vlists)
    assert vlists.calls == [(f"{PREFIX}/nothing", 1)]
    assert not await refers_to((f"{PREFIX}/nothing", 1), ALICE, Vlists(), depth=0)


async def test_refers_to_with_empty_vlist() -> None:
    group: AdminRef = (f"{PREFIX}/group", 200)
    assert not await refers_to(group, ALICE, Vlists({group: []}))


# --- Record -------------------------------------------------------------------------------------------


def hv(index: int, vtype: str = "URL", data: Any = "x", **extra: Any) -> HandleValue:
    return HandleValue.from_json({"index": index, "type": vtype, "data": data, **extra})


def admin_value(index: int, handle: str, ref_index: int, permissions: str) -> HandleValue:
    data = {"format": "admin", "value": {"handle": handle, "index": ref_index, "permissions": permissions}}
    return hv(index, "HS_ADMIN", data)


def vlist_value(index: int, refs: list[AdminRef]) -> HandleValue:
    data = {"format": "vlist", "value": [{"handle": h, "index": i} for h, i in refs]}
    return hv(index, "HS_VLIST", data)


def test_sorted_values_sorts_by_index() -> None:
    values = Record.sorted_values([hv(100), hv(1), hv(5)])
    assert [v.index for v in values] == [1, 5, 100]
    assert isinstance(values, tuple)
    assert Record.sorted_values([]) == ()


def test_sorted_values_rejects_duplicate_index() -> None:
    with pytest.raises(InvalidValue, match="Index 5 appears more than once"):
        Record.sorted_values([hv(5), hv(1), hv(5, data="other")])


@given(st.lists(st.integers(min_value=1, max_value=1000), max_size=15))
def test_sorted_values_property(indexes: list[int]) -> None:
    values = [hv(i) for i in indexes]
    if len(set(indexes)) < len(indexes):
        with pytest.raises(InvalidValue):
            Record.sorted_values(values)
    else:
        assert [v.index for v in Record.sorted_values(values)] == sorted(indexes)


def test_record_admins_and_vlist() -> None:
    record = Record(
        Identifier.parse(f"{PREFIX}/x"),
        Record.sorted_values(
            [
                hv(1),
                admin_value(100, f"0.NA/{PREFIX}", 200, "011111110011"),
                admin_value(101, f"{PREFIX}/alice", 300, "1"),
                vlist_value(200, [(f"{PREFIX}/ADMIN", 300), ALICE_REF]),
            ]
        ),
    )
    assert record.admins() == [
        ((f"0.NA/{PREFIX}", 200), "011111110011"),
        ((f"{PREFIX}/alice", 300), "000000000001"),
    ]
    assert record.vlist(200) == [(f"{PREFIX}/ADMIN", 300), ALICE_REF]
    assert record.vlist(1) is None  # not an HS_VLIST
    assert record.vlist(100) is None
    assert record.vlist(999) is None  # absent
    assert set(record.by_index()) == {1, 100, 101, 200}
    assert record.to_storage() == [v.to_storage() for v in record.values]


def test_record_without_admins() -> None:
    record = Record(Identifier.parse(f"{PREFIX}/x"), (hv(1),))
    assert record.admins() == []


async def test_record_vlist_as_lookup_for_granted() -> None:
    group = Record(Identifier.parse(f"{PREFIX}/group"), (vlist_value(200, [ALICE_REF]),))

    async def lookup(handle: str, index: int) -> list[AdminRef] | None:
        return group.vlist(index) if handle == str(group.identifier) else None

    record = Record(Identifier.parse(f"{PREFIX}/x"), (admin_value(100, f"{PREFIX}/group", 200, "1" * 12),))
    assert await granted(ALICE, PREFIX, Permission.MODIFY_VALUE, record.admins(), lookup)
    bob = Principal(f"{PREFIX}/bob", 300)
    assert not await granted(bob, PREFIX, Permission.MODIFY_VALUE, record.admins(), lookup)


def test_visible_values() -> None:
    public = hv(1)  # default 1110
    admin_only = hv(2, permissions="1100")
    hidden = hv(3, permissions="0000")
    secret = hv(300, "HS_SECKEY", "scrypt$x", permissions="1111")
    record = Record(Identifier.parse(f"{PREFIX}/x"), (public, admin_only, hidden, secret))
    assert record.visible_values(admin=False) == [public]
    assert record.visible_values(admin=True) == [public, admin_only]
