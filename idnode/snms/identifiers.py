"""SNMS identifier operations (``/identityv2/data``...) on the registry and the bulk registrar.

Every write goes through the node's one write path: a register is ``Registry.put_record`` with
``overwrite=False``, a delete ``Registry.delete``, and batches and updates ``BulkRegistrar`` runs (one
transaction per enterprise prefix of a batch), so
records are checked, signed, audited, logged, reported upstream and dropped from caches exactly as
Handle REST writes are. An update replaces the record's values with the request's (like a whole-record
Handle PUT: HS_ADMIN and HS_SECKEY values the request does not name are kept) and never creates one.

Batches take at most ``MAX_BATCH`` items and answer one result per item, in request order; one bad
item never keeps the others from being written. Items are written one enterprise prefix at a time, so
items under a prefix the caller may not write fail (each with that reason) while the rest go ahead.
A retried batch is safe: what the first attempt registered answers "already exists"
(HandleAlreadyExists), and nothing is registered twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idnode.bulk import BulkItem, BulkRegistrar
from idnode.data_templates import DataTemplates
from idnode.model.errors import IdnodeError, InsufficientPermissions, InvalidHandle, SnmsInvalid
from idnode.model.identifier import Identifier
from idnode.model.permissions import Principal, require_principal
from idnode.model.values import HandleValue
from idnode.registry import Registry
from idnode.resolver import Resolver
from idnode.snms.records import SnmsRecord, detail, required_handle

MAX_BATCH = 2000


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one batch item: the handle as the request named it, and why it failed (or None)."""

    handle: str
    error: IdnodeError | None = None


def _shown(raw: Any) -> str:
    """An item's handle as its result names it: as sent, whatever it was."""
    if isinstance(raw, dict):
        raw = raw.get("handle")
    return raw if isinstance(raw, str) else "" if raw is None else str(raw)


def require_owner(principal: Principal | None, identifier: Identifier) -> Principal:
    """The caller, if it may act on ``identifier`` through this API: the operator, or a credential of
    the enterprise owning it. Raise AuthenticationNeeded or InsufficientPermissions."""
    caller = require_principal(principal)
    if not caller.is_operator and caller.prefix != identifier.owning_prefix:
        raise InsufficientPermissions(f"{caller} may not act on {identifier}.")
    return caller


def parse_identifier(text: str) -> Identifier:
    identifier = Identifier.parse(text)
    if not identifier.is_identifier:
        raise InvalidHandle(f"{identifier} is not an identifier (prefix and admin handles are the node's).")
    return identifier


class SnmsIdentifiers:
    """The identifier operations of the SNMS API; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        bulk: BulkRegistrar,
        resolver: Resolver,
        data_templates: DataTemplates,
    ) -> None:
        self.registry = registry
        self.bulk = bulk
        self.resolver = resolver
        self.data_templates = data_templates

    async def detail(self, principal: Principal | None, handle: Any) -> dict[str, Any]:
        """The SNMS answer for one identifier of the caller's."""
        if not isinstance(handle, str) or not handle:
            raise SnmsInvalid("缺少必要的请求参数: handle")
        identifier = parse_identifier(handle)
        require_owner(principal, identifier)
        resolution = await self.resolver.resolve(identifier, principal=principal)
        return detail(identifier, resolution.values)

    async def _checked(self, principal: Principal | None, obj: Any) -> tuple[Identifier, list[HandleValue]]:
        """Parse one register/update request object, check it against the data template its
        ``templateVersion`` names under its prefix, and return the identifier and the values to store
        (with the TEMPLATE value naming the exact template version, see ``DataTemplates.check_values``).
        Raise SnmsInvalid, DataTemplateNotFound or TemplateMismatch."""
        parsed = SnmsRecord.from_json(obj)
        identifier = parse_identifier(parsed.handle)
        require_owner(principal, identifier)
        template = await self.data_templates.check_values(
            identifier.owning_prefix, parsed.template_version, parsed.values
        )
        parsed.require_unreserved()
        return identifier, parsed.handle_values(template)

    async def create(self, principal: Principal | None, obj: Any) -> None:
        """Register one identifier; raise HandleAlreadyExists if it exists (a retry that succeeded)."""
        identifier, values = await self._checked(principal, obj)
        await self.registry.put_record(principal, identifier, values, overwrite=False)

    async def update(self, principal: Principal | None, obj: Any) -> None:
        """Replace one existing identifier's values; raise HandleNotFound if it does not exist."""
        (result,) = await self._write(principal, [obj], update=True)
        if result.error is not None:
            raise result.error

    async def delete(self, principal: Principal | None, obj: Any) -> None:
        """Delete one identifier; raise HandleNotFound if it does not exist."""
        identifier = parse_identifier(required_handle(obj))
        require_owner(principal, identifier)
        await self.registry.delete(principal, identifier)

    async def batch_create(self, principal: Principal | None, items: Any) -> list[ItemResult]:
        return await self._write(principal, _batch(items), update=False)

    async def batch_update(self, principal: Principal | None, items: Any) -> list[ItemResult]:
        return await self._write(principal, _batch(items), update=True)

    async def batch_delete(self, principal: Principal | None, handles: Any) -> list[ItemResult]:
        """Delete each named identifier, one bulk run per enterprise prefix; one result per handle."""
        require_principal(principal)
        raw_items = _batch(handles)
        errors: dict[int, IdnodeError] = {}
        by_prefix: dict[str, list[tuple[int, Identifier]]] = {}
        for number, raw in enumerate(raw_items):
            try:
                if not isinstance(raw, str) or not raw:
                    raise SnmsInvalid("标识不能为空，应为字符串")
                identifier = parse_identifier(raw)
                require_owner(principal, identifier)
            except IdnodeError as exc:
                errors[number] = exc
                continue
            by_prefix.setdefault(identifier.owning_prefix, []).append((number, identifier))
        for items in by_prefix.values():
            try:
                failures = await self.bulk.delete(principal, items)
            except IdnodeError as refused:  # the whole prefix refused (suspended, busy)
                errors.update((number, refused) for number, _ in items)
                continue
            errors.update((f.index, f.error or IdnodeError(f.message)) for f in failures)
        return [ItemResult(_shown(raw), errors.get(number)) for number, raw in enumerate(raw_items)]

    async def _write(
        self, principal: Principal | None, raw_items: list[Any], *, update: bool
    ) -> list[ItemResult]:
        """Register (or, with ``update``, replace) each item through the bulk registrar, one run per
        enterprise prefix; one result per item, in order."""
        require_principal(principal)
        errors: dict[int, IdnodeError] = {}
        by_prefix: dict[str, list[BulkItem]] = {}
        for number, raw in enumerate(raw_items):
            try:
                identifier, values = await self._checked(principal, raw)
            except IdnodeError as exc:
                errors[number] = exc
                continue
            item = BulkItem(number, identifier, values)
            by_prefix.setdefault(identifier.owning_prefix, []).append(item)
        for items in by_prefix.values():
            try:
                result = await self.bulk.register(
                    principal,
                    items,
                    batch_size=MAX_BATCH,
                    update_existing=update,
                    create_missing=not update,
                    max_failures=len(items),
                )
            except IdnodeError as refused:  # the whole prefix refused (permissions, suspended, busy)
                errors.update((item.number, refused) for item in items)
                continue
            errors.update((f.index, f.error or IdnodeError(f.message)) for f in result.failures)
        return [ItemResult(_shown(raw), errors.get(number)) for number, raw in enumerate(raw_items)]


def _batch(items: Any) -> list[Any]:
    """A batch request's items; raise SnmsInvalid for anything but a list of at most MAX_BATCH."""
    if not isinstance(items, list):
        raise SnmsInvalid("请求参数格式错误，应为JSON数组")
    if not items:
        raise SnmsInvalid("请求参数不能为空")
    if len(items) > MAX_BATCH:
        raise SnmsInvalid(f"批量操作最多支持{MAX_BATCH}条，本次{len(items)}条")
    return items
