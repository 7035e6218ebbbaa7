"""HS_ADMIN permissions and the rule deciding who may do what (pure logic, no I/O).

An HS_ADMIN permissions string has twelve 0/1 characters, bit 0 rightmost, in the order of
``Permission``. Shorter strings are left-padded with zeros (as Handle.Net does).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from idnode.model.errors import AuthenticationNeeded, InsufficientPermissions, InvalidValue
from idnode.model.identifier import PREFIX_NAMESPACE

PERMISSION_BITS = 12
ALL_PERMISSIONS = "1" * PERMISSION_BITS
DEFAULT_ADMIN_PERMISSIONS = "011111110011"  # pyhandle / hdl-admintool default


class Permission(IntEnum):
    """HS_ADMIN permission bits; the value is the bit position counted from the right."""

    ADD_HANDLE = 0
    DELETE_HANDLE = 1
    ADD_DERIVED_PREFIX = 2
    DELETE_DERIVED_PREFIX = 3
    MODIFY_VALUE = 4
    REMOVE_VALUE = 5
    ADD_VALUE = 6
    MODIFY_ADMIN = 7
    REMOVE_ADMIN = 8
    ADD_ADMIN = 9
    READ_VALUE = 10
    LIST_HANDLES = 11


def parse_admin_permissions(raw: Any) -> str:
    """Normalise an HS_ADMIN permissions string to twelve characters; raise InvalidValue."""
    if raw is None or raw == "":
        return DEFAULT_ADMIN_PERMISSIONS
    if not isinstance(raw, str) or not re.fullmatch(r"[01]{1,12}", raw):
        raise InvalidValue("HS_ADMIN permissions must be a string of up to twelve 0/1 characters.")
    return raw.rjust(PERMISSION_BITS, "0")


def has_permission(permissions: str, wanted: Permission) -> bool:
    """True if the twelve-character permissions string grants ``wanted``."""
    return permissions[PERMISSION_BITS - 1 - wanted] == "1"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the operator, or the holder of secret key ``index:handle``."""

    handle: str
    index: int
    is_operator: bool = False

    @property
    def prefix(self) -> str:
        """The prefix the key holder belongs to (for ``0.NA/<p>`` keys, the prefix ``p`` itself)."""
        namespace, _, rest = self.handle.partition("/")
        return rest if namespace == PREFIX_NAMESPACE else namespace

    @property
    def is_enterprise_admin(self) -> bool:
        """True for ``300:<prefix>/ADMIN``, which holds every permission under its own prefix."""
        return not self.is_operator and self.index == 300 and self.handle.partition("/")[2] == "ADMIN"

    def __str__(self) -> str:
        return f"{self.index}:{self.handle}"


def require_principal(principal: Principal | None) -> Principal:
    """The caller; raise AuthenticationNeeded for an anonymous one."""
    if principal is None:
        raise AuthenticationNeeded("Authentication needed: send Basic credentials as 300:<prefix>/ADMIN.")
    return principal


def require_operator(principal: Principal | None) -> Principal:
    """The caller if it is the node operator; raise AuthenticationNeeded or InsufficientPermissions."""
    caller = require_principal(principal)
    if not caller.is_operator:
        raise InsufficientPermissions("Only the node operator may do this.")
    return caller


AdminRef = tuple[str, int]
# Look up an HS_VLIST (handle, index) and return the references it lists, or None if there is none.
VlistLookup = Callable[[str, int], Awaitable[Iterable[AdminRef] | None]]


async def refers_to(ref: AdminRef, principal: Principal, vlists: VlistLookup, depth: int = 3) -> bool:
    """True if an admin reference names the principal directly or through nested HS_VLISTs."""
    if ref == (principal.handle, principal.index):
        return True
    if depth == 0:
        return False
    members = await vlists(*ref)
    if members is None:
        return False
    for member in members:
        if await refers_to(member, principal, vlists, depth - 1):
            return True
    return False


async def granted(
    principal: Principal | None,
    owning_prefix: str,
    wanted: Permission,
    admins: Iterable[tuple[AdminRef, str]],
    vlists: VlistLookup,
) -> bool:
    """Decide whether ``principal`` holds ``wanted`` on a handle under ``owning_prefix``.

    ``admins`` are the (reference, permissions) pairs of the HS_ADMIN values that govern the action:
    the record's own for changes to a record, the prefix handle's for creating one. The operator may do
    everything; nobody else acts outside their own prefix; an enterprise admin may do everything inside
    its prefix; any other key holder needs an HS_ADMIN value that names it and grants ``wanted``.
    """
    if principal is None:
        return False
    if principal.is_operator:
        return True
    if principal.prefix != owning_prefix:
        return False
    if principal.is_enterprise_admin:
        return True
    for ref, perms in admins:
        if has_permission(perms, wanted) and await refers_to(ref, principal, vlists):
            return True
    return False
