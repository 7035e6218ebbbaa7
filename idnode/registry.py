"""The write path: the only code that changes records and enterprises.

On a mirror every change is refused (ReadOnlyMirror) before anything else is looked at. Every public
method runs one transaction in which the change is signed and stored together with its audit row,
transparency-log entry and upstream report (see ``commit.Committer``; enterprises are reported
here); permission checks happen inside that transaction against the state being changed. Writers
lock the rows they change, and records carry a version as a second line of defence, so concurrent
writers never lose an update.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from idnode.commit import Committer, epoch
from idnode.config import Settings
from idnode.credentials import SecretVerifier, hash_secret, new_secret
from idnode.gs1_links import check_values as check_gs1_values
from idnode.keys import FIRST_KEY_INDEX, pubkey_value
from idnode.limits import RecordLimits
from idnode.metadata import MetadataRules
from idnode.model.channel import Channel, require_private
from idnode.model.enterprise import Enterprise, EnterpriseDraft, EnterpriseStatus
from idnode.model.errors import (
    AuthenticationNeeded,
    ConflictingUpdate,
    EnterpriseExists,
    EnterpriseNotFound,
    EnterpriseSuspended,
    HandleAlreadyExists,
    HandleNotFound,
    InsufficientPermissions,
    InvalidEnterprise,
    InvalidHandle,
    InvalidValue,
    PrefixNotHere,
    ValueAlreadyExists,
    ValuesNotFound,
)
from idnode.model.identifier import Identifier, admin_handle, prefix_handle
from idnode.model.permissions import (
    ALL_PERMISSIONS,
    DEFAULT_ADMIN_PERMISSIONS,
    AdminRef,
    Permission,
    Principal,
    granted,
    require_operator,
    require_principal,
)
from idnode.model.record import Record
from idnode.model.values import HS_ADMIN, HS_SECKEY, HS_VLIST, HandleValue
from idnode.outbox import ENTERPRISE_CREATE, ENTERPRISE_UPDATE, enterprise_report
from idnode.ratelimit import client_key
from idnode.signing import HS_SIGNATURE, SIGNATURE_INDEX
from idnode.storage.repository import DuplicateKey, Repository, Transaction, today
from idnode.throttle import LoginThrottle

ADMIN_INDEX = 100
ADMIN_VLIST_INDEX = 200
SECKEY_INDEX = 300
SECKEY_PERMISSIONS = "1100"
MAX_RETRIES = 5
OPERATOR_ACTOR = "operator"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: the stored record (None after a delete) and whether it created the handle."""

    record: Record | None
    created: bool = False


def _admin_value(index: int, handle: Identifier, ref_index: int, permissions: str, now: int) -> HandleValue:
    data = {"handle": str(handle), "index": ref_index, "permissions": permissions}
    return HandleValue(index=index, type=HS_ADMIN, format="admin", data=data, timestamp=now)


def _seckey_value(secret: str, now: int) -> HandleValue:
    return HandleValue(
        index=SECKEY_INDEX,
        type=HS_SECKEY,
        format="string",
        data=hash_secret(secret),
        permissions=SECKEY_PERMISSIONS,
        timestamp=now,
    )


def prepare_values(values: Iterable[HandleValue], now: int) -> tuple[HandleValue, ...]:
    """Client values as a write stores them: sorted, stamped ``now``, secret keys hashed.

    Raises InvalidValue for a repeated index, a non-string HS_SECKEY, a value at the signature's
    index or of type HS_SIGNATURE (the node signs every record itself), or a GS1 or GS1_LINK value
    that does not hold a valid GS1 key or link (see ``gs1_links.check_values``).
    """
    values = list(values)
    check_gs1_values(values)
    if any(v.type == HS_SECKEY and v.format != "string" for v in values):
        raise InvalidValue("HS_SECKEY values must have format 'string' (the secret itself).")
    if any(v.index == SIGNATURE_INDEX or v.type == HS_SIGNATURE for v in values):
        raise InvalidValue(
            f"Index {SIGNATURE_INDEX} and HS_SIGNATURE values are the node's: it signs every record itself."
        )
    incoming = Record.sorted_values(
        replace(v, data=hash_secret(v.data), permissions=SECKEY_PERMISSIONS) if v.type == HS_SECKEY else v
        for v in values
    )
    return tuple(v.stamped(now) for v in incoming)


def with_default_admin(
    identifier: Identifier, values: tuple[HandleValue, ...], now: int
) -> tuple[HandleValue, ...]:
    """Give a new record without HS_ADMIN one pointing at its enterprise admin (as pyhandle does)."""
    if any(v.type == HS_ADMIN for v in values):
        return values
    taken = {v.index for v in values}
    index = next(i for i in range(ADMIN_INDEX, ADMIN_INDEX + len(taken) + 1) if i not in taken)
    admin = _admin_value(
        index, admin_handle(identifier.owning_prefix), SECKEY_INDEX, DEFAULT_ADMIN_PERMISSIONS, now
    )
    return Record.sorted_values([*values, admin])


def _change_permission(old: HandleValue | None, new: HandleValue | None) -> Permission:
    """The HS_ADMIN bit a single value change needs."""
    is_admin = any(v is not None and v.type == HS_ADMIN for v in (old, new))
    if old is None:
        return Permission.ADD_ADMIN if is_admin else Permission.ADD_VALUE
    if new is None:
        return Permission.REMOVE_ADMIN if is_admin else Permission.REMOVE_VALUE
    return Permission.MODIFY_ADMIN if is_admin else Permission.MODIFY_VALUE


class Registry:
    """Creates, changes and deletes records and enterprises on behalf of a principal."""

    def __init__(
        self, repository: Repository, settings: Settings, committer: Committer, metadata: MetadataRules
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.committer = committer
        self.metadata = metadata
        self.limits = RecordLimits.of(settings)
        self.node_prefix = settings.node_prefix_canonical
        self.operator_handle = prefix_handle(self.node_prefix)
        self.verifier = SecretVerifier()
        self.throttle = LoginThrottle(
            settings.login_failures_per_account,
            settings.login_failures_per_client,
            settings.login_failure_window_seconds,
        )

    # -- node and credentials -------------------------------------------------------------------

    async def initialise(self) -> str | None:
        """Create the node record (operator credential, first signing key) if absent.

        Returns the operator secret when this call created it (shown once), else None.
        """
        if await self.repository.get_record(self.operator_handle) is not None:
            return None
        secret = new_secret()
        now = epoch()
        key = self.committer.keys.store.create(self.settings.key_algorithm_jws)
        record = Record(
            self.operator_handle,
            (
                _admin_value(ADMIN_INDEX, self.operator_handle, SECKEY_INDEX, ALL_PERMISSIONS, now),
                _seckey_value(secret, now),
                pubkey_value(FIRST_KEY_INDEX, key, now),
            ),
            version=1,
        )
        async with self.repository.transaction() as tx:
            try:
                await self.committer.create(tx, OPERATOR_ACTOR, record)
            except DuplicateKey:
                return None  # another process initialised the node first
            await tx.set_meta("node_prefix", self.node_prefix)
        return secret

    @property
    def operator_username(self) -> str:
        return f"{SECKEY_INDEX}:{self.operator_handle}"

    async def authenticate(self, handle: str, index: int, secret: str, *, channel: Channel) -> Principal:
        """Check ``index:handle`` and its secret, sent over ``channel``, against the stored HS_SECKEY;
        raise AuthenticationNeeded (ReadOnlyMirror on a mirror, which holds no credentials;
        InsecureChannel, before looking at the credential, when ``require_tls_for_credentials`` is on
        and the channel is neither encrypted nor loopback).

        Every front end logs in through here. Failures are counted per account and per client address
        (the channel's), and past the limits LoginThrottled is raised before the secret is looked at
        (see ``throttle``).
        """
        self.repository.require_writable()
        require_private(channel, self.settings.require_tls_for_credentials)
        # Counted as the rate limits count clients (an IPv6 client per /64), so a client cannot get
        # fresh guesses by moving to the next address of its own block.
        client = client_key(channel.address) if channel.address else None
        try:
            identifier = Identifier.parse(handle)
        except InvalidHandle:
            self.throttle.check(None, client)
            self.throttle.failed(None, client)
            raise AuthenticationNeeded("Authentication failed: the username is not a valid handle.") from None
        account = f"{index}:{identifier}"
        self.throttle.check(account, client)
        record = await self.repository.get_record(identifier)
        value = record.by_index().get(index) if record else None
        if value is None or value.type != HS_SECKEY or not self.verifier.verify(value.data, secret):
            self.throttle.failed(account, client)
            raise AuthenticationNeeded("Authentication failed: unknown user or wrong secret.")
        self.throttle.succeeded(account)
        return Principal(str(identifier), index, is_operator=identifier == self.operator_handle)

    async def reset_enterprise_secret(self, principal: Principal | None, prefix: str) -> str:
        """Give ``<prefix>/ADMIN`` a new random secret and return it (shown once). Operator only."""
        self.repository.require_writable()
        self.require_operator(principal)
        assert principal is not None
        if await self.repository.get_enterprise(prefix) is None:
            raise EnterpriseNotFound(f"No enterprise with prefix {prefix}.")
        return await self._set_secret(principal, admin_handle(prefix), SECKEY_INDEX)

    async def set_own_secret(self, principal: Principal, secret: str) -> None:
        """Replace the caller's own HS_SECKEY with ``secret`` (a password change: the caller has just
        proved the old one). Raises as a value change of the caller's handle does."""
        self.repository.require_writable()
        await self._set_secret(principal, Identifier.parse(principal.handle), principal.index, secret)

    async def issue_enterprise_secret(
        self, prefix: str, actor: str, then: Callable[[Transaction], Awaitable[None]]
    ) -> str:
        """Give ``<prefix>/ADMIN`` a new random secret on behalf of ``actor``, whom the caller has
        already authorised (an approved application's applicant collecting its credential), and return
        it (shown once). The change is the enterprise admin's own secret change, audited as a
        ``set-secret`` by ``actor``; ``then`` runs last in the same transaction, so its failure
        changes nothing. Raises as ``set_own_secret`` does (EnterpriseSuspended for a suspended firm)."""
        self.repository.require_writable()
        handle = admin_handle(prefix)
        admin = Principal(str(handle), SECKEY_INDEX)
        return await self._set_secret(admin, handle, SECKEY_INDEX, actor=actor, then=then)

    async def _set_secret(
        self,
        principal: Principal,
        handle: Identifier,
        index: int,
        secret: str | None = None,
        *,
        actor: str | None = None,
        then: Callable[[Transaction], Awaitable[None]] | None = None,
    ) -> str:
        """Replace (or add) the HS_SECKEY at ``handle``/``index`` with ``secret`` (default: a new
        random one) as ``principal`` may, audited as ``actor`` (default: the principal); ``then`` runs
        last in the same transaction. Return the secret."""
        secret = secret or new_secret()
        value = replace(_seckey_value(secret, epoch()), index=index)  # hash before taking the row lock
        for _ in range(MAX_RETRIES):
            async with self.repository.transaction() as tx:
                record = await self._existing(tx, principal, handle)
                old = record.by_index().get(index)
                await self.require_value_change(tx, principal, record, old, old)
                values = Record.sorted_values([v for v in record.values if v.index != index] + [value])
                if await self.committer.change(tx, actor or str(principal), record, values, "set-secret"):
                    if then is not None:
                        await then(tx)
                    return secret
        raise ConflictingUpdate()

    # -- enterprises ----------------------------------------------------------------------------

    async def add_enterprise(
        self,
        principal: Principal | None,
        draft: EnterpriseDraft,
        then: Callable[[Transaction, Enterprise], Awaitable[None]] | None = None,
    ) -> tuple[Enterprise, str]:
        """Onboard an enterprise: allocate its prefix, create ``0.NA/<prefix>`` and ``<prefix>/ADMIN``.

        Returns the enterprise and its admin secret (shown once). Operator only. ``then`` runs last in
        the same transaction (an approved application records its outcome there), so its failure
        onboards nothing.
        """
        self.repository.require_writable()
        self.require_operator(principal)
        secret = new_secret()
        seckey = _seckey_value(secret, epoch())  # hashing is slow: do it before taking any lock
        for _ in range(MAX_RETRIES):
            async with self.repository.transaction() as tx:
                await tx.lock_row(self.operator_handle)  # one prefix allocation at a time
                number = await tx.next_enterprise_number()
                prefix = f"{self.node_prefix}.{number}"
                moment = tx.now
                enterprise = Enterprise(
                    prefix=prefix,
                    number=number,
                    name=draft.name,
                    uscc=draft.uscc,
                    district=draft.district,
                    industry=draft.industry,
                    contact_name=draft.contact_name,
                    contact_phone=draft.contact_phone,
                    contact_email=draft.contact_email,
                    status=EnterpriseStatus.ACTIVE,
                    registered_on=draft.registered_on or today(),
                    created_at=moment,
                    updated_at=moment,
                )
                try:
                    await tx.insert_enterprise(enterprise)
                except DuplicateKey:
                    if await tx.get_enterprise_by_uscc(draft.uscc):
                        raise EnterpriseExists(
                            f"An enterprise with unified social credit code {draft.uscc} already exists."
                        ) from None
                    continue  # another process took this prefix number; allocate the next one
                await tx.add_audit(str(principal), "enterprise-add", prefix, None, enterprise.to_json())
                await tx.add_reports([enterprise_report(ENTERPRISE_CREATE, enterprise)])
                for record in self._enterprise_records(prefix, seckey):
                    await self.committer.create(tx, str(principal), record)
                if then is not None:
                    await then(tx, enterprise)
            return enterprise, secret
        raise ConflictingUpdate()

    def _enterprise_records(self, prefix: str, seckey: HandleValue) -> list[Record]:
        now = seckey.timestamp
        na_handle, admin = prefix_handle(prefix), admin_handle(prefix)
        vlist = HandleValue(
            index=ADMIN_VLIST_INDEX,
            type=HS_VLIST,
            format="vlist",
            data=[{"handle": str(admin), "index": SECKEY_INDEX}],
            timestamp=now,
        )
        return [
            Record(
                na_handle,
                (
                    _admin_value(ADMIN_INDEX, self.operator_handle, SECKEY_INDEX, ALL_PERMISSIONS, now),
                    vlist,
                ),
                version=1,
            ),
            Record(
                admin,
                (
                    _admin_value(ADMIN_INDEX, admin, SECKEY_INDEX, DEFAULT_ADMIN_PERMISSIONS, now),
                    seckey,
                ),
                version=1,
            ),
        ]

    async def update_enterprise(self, principal: Principal | None, prefix: str, changes: Any) -> Enterprise:
        """Change an enterprise's details or status (``active``/``suspended``). Operator only."""
        self.repository.require_writable()
        self.require_operator(principal)
        if not isinstance(changes, dict) or not changes:
            raise InvalidEnterprise("Send a JSON object with the fields to change.")
        editable = set(EnterpriseDraft.FIELDS) - {"uscc"} | {"status"}
        unknown = set(changes) - editable
        if unknown:
            raise InvalidEnterprise(f"Cannot change field(s): {', '.join(sorted(unknown))}.")
        statuses = [s.value for s in EnterpriseStatus]  # a list: any JSON (a list too) can be compared
        if "status" in changes and changes["status"] not in statuses:
            raise InvalidEnterprise("status must be 'active' or 'suspended'.")
        async with self.repository.transaction() as tx:
            current = await tx.get_enterprise(prefix)
            if current is None:
                raise EnterpriseNotFound(f"No enterprise with prefix {prefix}.")
            merged = {**current.to_json(), **changes, "uscc": current.uscc}
            draft = EnterpriseDraft.from_json(
                {k: merged[k] for k in EnterpriseDraft.FIELDS}, self.settings.districts
            )
            validated = {k: getattr(draft, k) for k in changes if k != "status"}
            if "status" in changes:
                validated["status"] = changes["status"]
            await tx.update_enterprise(prefix, validated)
            updated = await tx.get_enterprise(prefix)
            assert updated is not None
            await tx.add_audit(
                str(principal), "enterprise-update", prefix, current.to_json(), updated.to_json()
            )
            await tx.add_reports([enterprise_report(ENTERPRISE_UPDATE, updated)])
        return updated

    # -- records --------------------------------------------------------------------------------

    async def put_record(
        self,
        principal: Principal | None,
        identifier: Identifier,
        values: list[HandleValue],
        *,
        overwrite: bool = True,
        indexes: Iterable[int] | None = None,
    ) -> WriteResult:
        """Create or change a record the way Handle.Net's PUT does.

        Without ``indexes`` the values replace the whole record (``overwrite=False`` refuses an existing
        handle). With ``indexes`` only those values are added or replaced (``overwrite=False`` refuses
        an existing index) and the handle must exist. Secret keys are hashed before they are stored and,
        since no reader ever sees them, a whole-record replace keeps any the body does not mention; it
        also keeps the record's HS_ADMIN values when the body names none, so a record never loses its
        administrators by accident. The record as it would be stored must obey the metadata rules
        (idnode/metadata.py), else InvalidValue and nothing is stored.
        """
        self.repository.require_writable()
        self.require_principal(principal)
        assert principal is not None
        chosen = None if indexes is None else set(indexes)
        if chosen is not None:
            stray = sorted(v.index for v in values if v.index not in chosen)
            if stray:
                raise InvalidValue(f"Value index(es) {stray} not among the request's index parameters.")
        now = epoch()
        incoming = prepare_values(values, now)
        for _ in range(MAX_RETRIES):
            async with self.repository.transaction() as tx:
                await self.require_writable_prefix(tx, principal, identifier)
                current = await tx.get_record(identifier, lock=True)
                if current is None:
                    if chosen is not None:
                        raise HandleNotFound(f"Handle {identifier} not found.")
                    record = Record(identifier, with_default_admin(identifier, incoming, now), version=1)
                    await self.require_add_handle(tx, principal, identifier)
                    self.limits.require(None, record)
                    await self.metadata.require(tx, record)
                    try:
                        stored = await self.committer.create(tx, str(principal), record)
                    except DuplicateKey:
                        continue  # created concurrently: retry as a change of the existing record
                    return WriteResult(stored, created=True)
                if chosen is None and not overwrite:
                    raise HandleAlreadyExists(f"Handle {identifier} already exists.")
                merged = self.merge(current, incoming, chosen, overwrite)
                for old, new in value_changes(current, merged):
                    await self.require_value_change(tx, principal, current, old, new)
                self.limits.require(current, Record(identifier, merged))
                await self.metadata.require(tx, Record(identifier, merged))
                stored = await self.committer.change(tx, str(principal), current, merged)
                if stored is not None:
                    return WriteResult(stored)
        raise ConflictingUpdate()

    async def delete(
        self, principal: Principal | None, identifier: Identifier, indexes: Iterable[int] | None = None
    ) -> WriteResult:
        """Delete a whole handle, or only the values at ``indexes`` (the rest must obey the metadata
        rules: a TEMPLATE cannot lose its METADATA)."""
        self.repository.require_writable()
        self.require_principal(principal)
        assert principal is not None
        chosen = None if indexes is None else set(indexes)
        for _ in range(MAX_RETRIES):
            async with self.repository.transaction() as tx:
                current = await self._existing(tx, principal, identifier)
                if chosen is None:
                    await self.require_delete(tx, principal, current)
                    if await self.committer.delete(tx, str(principal), current):
                        return WriteResult(None)
                    continue
                if SIGNATURE_INDEX in chosen:
                    raise InvalidValue(f"The node's signature (index {SIGNATURE_INDEX}) cannot be removed.")
                present = current.by_index()
                missing = sorted(chosen - set(present))
                if missing:
                    raise ValuesNotFound(f"Handle {identifier} has no value(s) at index {missing}.")
                for index in sorted(chosen):
                    await self.require_value_change(tx, principal, current, present[index], None)
                remaining = tuple(v for v in current.values if v.index not in chosen)
                await self.metadata.require(tx, Record(identifier, remaining))
                stored = await self.committer.change(tx, str(principal), current, remaining, "remove-values")
                if stored is not None:
                    return WriteResult(stored)
        raise ConflictingUpdate()

    def mint(self, identifier_text: str) -> Identifier:
        """A new identifier: the given ``prefix/start`` with a random UUID appended to the suffix."""
        prefix, slash, start = identifier_text.partition("/")
        if not slash:
            raise InvalidHandle("mintNewSuffix needs '<prefix>/' or '<prefix>/<suffix start>'.")
        return Identifier.parse(f"{prefix}/{start}{uuid.uuid4()}")

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def merge(
        current: Record, incoming: tuple[HandleValue, ...], chosen: set[int] | None, overwrite: bool
    ) -> tuple[HandleValue, ...]:
        """The values ``current`` has after a PUT of ``incoming`` (see ``put_record``): the whole record
        (``chosen`` None) or only the ``chosen`` indexes replaced; unchanged values keep their timestamps.
        Raises ValueAlreadyExists for an index-scoped write without ``overwrite`` that meets a taken index.
        """
        present = current.by_index()
        if chosen is None:
            mentioned = {v.index for v in incoming}
            kept_types = {HS_SECKEY} if any(v.type == HS_ADMIN for v in incoming) else {HS_SECKEY, HS_ADMIN}
            kept = [v for v in current.values if v.type in kept_types and v.index not in mentioned]
            merged = list(incoming) + kept
        else:
            if not overwrite:
                taken = sorted(v.index for v in incoming if v.index in present)
                if taken:
                    raise ValueAlreadyExists(
                        f"Handle {current.identifier} already has value(s) at index {taken}."
                    )
            merged = [v for v in current.values if v.index not in chosen] + list(incoming)
        # A value resent unchanged keeps its original timestamp.
        return Record.sorted_values(
            present[v.index] if v.index in present and present[v.index].same_content(v) else v for v in merged
        )

    async def require_writable_prefix(
        self, tx: Transaction, principal: Principal, identifier: Identifier
    ) -> None:
        """Refuse writes to prefixes this node does not hold, to prefix handles, and for suspended firms."""
        if identifier == self.operator_handle:
            raise InsufficientPermissions(
                f"{identifier} is maintained by the node itself (operator credential, signing keys)."
            )
        if principal.is_operator:
            if (
                identifier.owning_prefix != self.node_prefix
                and await tx.get_enterprise(identifier.owning_prefix) is None
            ):
                raise PrefixNotHere(f"Prefix {identifier.owning_prefix} does not live on this node.")
            return
        if identifier.is_prefix_handle:
            raise InsufficientPermissions("Prefix handles (0.NA/...) are managed by the node operator.")
        if principal.prefix != identifier.prefix:
            raise InsufficientPermissions(f"{principal} may not write under prefix {identifier.prefix}.")
        enterprise = await tx.get_enterprise(identifier.prefix)
        if enterprise is None:
            raise PrefixNotHere(f"Prefix {identifier.prefix} does not live on this node.")
        if enterprise.status is EnterpriseStatus.SUSPENDED:
            raise EnterpriseSuspended(
                f"Enterprise {enterprise.prefix} is suspended; its identifiers cannot change."
            )

    async def _existing(self, tx: Transaction, principal: Principal, identifier: Identifier) -> Record:
        """The record a principal is about to change; raise if the prefix is not writable or it is absent."""
        await self.require_writable_prefix(tx, principal, identifier)
        record = await tx.get_record(identifier, lock=True)
        if record is None:
            raise HandleNotFound(f"Handle {identifier} not found.")
        return record

    async def require_add_handle(self, tx: Transaction, principal: Principal, identifier: Identifier) -> None:
        """Raise unless ``principal`` may create handles like ``identifier``: ADD_HANDLE as the prefix
        handle's HS_ADMIN values grant it (the answer is the same for every handle under one prefix)."""
        prefix_record = await tx.get_record(prefix_handle(identifier.owning_prefix))
        admins = prefix_record.admins() if prefix_record else []
        await self._require(tx, principal, identifier, Permission.ADD_HANDLE, admins)

    async def require_delete(self, tx: Transaction, principal: Principal, record: Record) -> None:
        """Raise InsufficientPermissions unless ``principal`` may delete ``record``: DELETE_HANDLE as
        its HS_ADMIN values grant it; an enterprise admin handle (it holds the credential) only by the
        operator."""
        identifier = record.identifier
        if identifier == admin_handle(identifier.prefix) and not principal.is_operator:
            raise InsufficientPermissions(
                "The enterprise admin handle holds your credential; only the operator can delete it."
            )
        await self._require(tx, principal, identifier, Permission.DELETE_HANDLE, record.admins())

    async def require_value_change(
        self,
        tx: Transaction,
        principal: Principal,
        record: Record,
        old: HandleValue | None,
        new: HandleValue | None,
    ) -> None:
        """Raise InsufficientPermissions unless ``principal`` may change one value of ``record`` from
        ``old`` to ``new`` (None: absent), as the record's HS_ADMIN values grant it."""
        await self._require(tx, principal, record.identifier, _change_permission(old, new), record.admins())

    async def _require(
        self,
        tx: Transaction,
        principal: Principal,
        identifier: Identifier,
        wanted: Permission,
        admins: list[tuple[AdminRef, str]],
    ) -> None:
        if not await granted(principal, identifier.owning_prefix, wanted, admins, tx.vlist):
            raise InsufficientPermissions(f"{principal} lacks {wanted.name} on {identifier}.")

    # Raise unless there is a caller (AuthenticationNeeded) / the caller is the operator.
    require_principal = staticmethod(require_principal)
    require_operator = staticmethod(require_operator)


def value_changes(
    current: Record, merged: tuple[HandleValue, ...]
) -> list[tuple[HandleValue | None, HandleValue | None]]:
    """(old, new) pairs for every index whose value differs between ``current`` and ``merged``."""
    before, after = current.by_index(), {v.index: v for v in merged}
    return [
        (before.get(i), after.get(i))
        for i in sorted((set(before) | set(after)) - {SIGNATURE_INDEX})
        if before.get(i) is None or after.get(i) is None or not before[i].same_content(after[i])
    ]
