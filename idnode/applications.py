"""The application workflow: enterprises apply to be onboarded, the operator reviews and decides.

States, actions and who may take them are in idnode/model/application.py (one transition table).
Each method runs one transaction in which the application changes together with its audit row
(``application_transitions``: who, when, from, to, why) and its notification (the outbox's ``notify``
channel, idnode/notify.py). Approval onboards the enterprise through ``Registry.add_enterprise``, the
operator's own onboarding path, in the same transaction as the application's move to ``approved``.

Anyone may submit; the answer carries the application id and a token (shown once; only its SHA-256
is stored) with which the applicant reads its application, downloads its licence, withdraws, and,
once approved, collects its enterprise admin credential (once; ``collect_credential``). A USCC with an
open or approved application, or a registered enterprise, cannot apply again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from idnode.credentials import new_secret
from idnode.licences import LicenceStore
from idnode.model.application import (
    ROLES,
    Action,
    Application,
    ApplicationDraft,
    Licence,
    Role,
    State,
    Transition,
    check_reason,
    next_state,
)
from idnode.model.enterprise import Enterprise
from idnode.model.errors import (
    ApplicationExists,
    ApplicationNotFound,
    AuthenticationNeeded,
    CredentialCollected,
    InsufficientPermissions,
    TransitionNotAllowed,
)
from idnode.model.identifier import admin_handle
from idnode.model.permissions import Principal
from idnode.notify import application_notice
from idnode.registry import SECKEY_INDEX, Registry
from idnode.storage.repository import NOTIFY, DuplicateKey, Transaction

APPLICANT_ACTOR = "applicant"
# The form of the ids ``submit`` gives (uuid4().hex): another names no application and is not looked
# up (PostgreSQL would refuse a NUL in it rather than find nothing).
_ID_RE = re.compile(r"[0-9a-f]{32}")


def _may_exist(application_id: str) -> bool:
    return _ID_RE.fullmatch(application_id) is not None


def token_hash(token: str) -> str:
    # The token is 192 random bits: a plain digest is as good as a slow hash, and cheap to check.
    return hashlib.sha256(token.encode()).hexdigest()


def _already_open(uscc: str) -> ApplicationExists:
    return ApplicationExists(
        f"该统一社会信用代码 {uscc} 已有待处理或已通过的申请，请勿重复申请。"
        f" An application for unified social credit code {uscc} is already open or approved."
    )


def _require_collectable(application: Application) -> str:
    """The prefix whose credential an application's applicant may collect now; raise
    TransitionNotAllowed before approval, CredentialCollected after the one collection."""
    if application.state is not State.APPROVED or application.enterprise_prefix is None:
        raise TransitionNotAllowed(
            "The credential can be collected once the application is approved;"
            f" it is {application.state.value}."
        )
    if application.credential_collected_at is not None:
        raise CredentialCollected(
            "该申请的管理员账号已领取，不能再次领取；如遗失请联系运营人员重置密码。"
            f" The credential was collected at {application.credential_collected_at.isoformat()}"
            " and is shown only once; ask the operator to reset it."
        )
    return application.enterprise_prefix


def _already_registered(uscc: str) -> ApplicationExists:
    return ApplicationExists(
        f"统一社会信用代码 {uscc} 的企业已注册。"
        f" An enterprise with unified social credit code {uscc} is already registered."
    )


class Applications:
    """Submits, lists and moves applications; see the module docstring."""

    def __init__(self, registry: Registry, licences: LicenceStore) -> None:
        self.registry = registry
        self.repository = registry.repository
        self.settings = registry.settings
        self.licences = licences

    # -- the applicant -------------------------------------------------------------------------

    async def save_licence(self, chunks: AsyncIterable[bytes]) -> Licence:
        """Store an uploaded licence file for a submission (see LicenceStore.save)."""
        self.repository.require_writable()
        return await self.licences.save(chunks)

    def discard_licence(self, licence: Licence) -> None:
        """Remove a saved licence whose submission did not happen."""
        self.licences.remove(licence)

    async def submit(self, fields: Any, licence: Licence) -> tuple[Application, str]:
        """File an application with the ``licence`` saved by ``save_licence``; return it and the
        applicant's token (shown once). Raises InvalidEnterprise for bad fields and ApplicationExists
        for a USCC that is taken; then the licence file is removed."""
        try:
            draft = ApplicationDraft.from_json(fields, self.settings.districts)
            token = new_secret()
            async with self.repository.transaction() as tx:
                if await tx.get_enterprise_by_uscc(draft.uscc):
                    raise _already_registered(draft.uscc)
                if await tx.holding_application(draft.uscc):
                    raise _already_open(draft.uscc)
                application = Application(
                    id=uuid.uuid4().hex,
                    state=State.SUBMITTED,
                    draft=draft,
                    licence=licence,
                    reason=None,
                    enterprise_prefix=None,
                    created_at=tx.now,
                    updated_at=tx.now,
                )
                try:
                    await tx.insert_application(application, token_hash(token))
                except DuplicateKey:  # submitted concurrently
                    raise _already_open(draft.uscc) from None
                await self._record(tx, application, APPLICANT_ACTOR, None, None)
        except BaseException:
            self.licences.remove(licence)
            raise
        return application, token

    # -- reading -------------------------------------------------------------------------------

    async def role(self, application_id: str, principal: Principal | None, token: str | None) -> Role:
        """Who the caller is for this application: the operator, or the applicant holding its token.
        Raise AuthenticationNeeded without either, InsufficientPermissions for another principal."""
        if principal is not None:
            if principal.is_operator:
                return Role.OPERATOR
            raise InsufficientPermissions("Only the operator or the applicant may see an application.")
        if token and _may_exist(application_id):
            stored = await self.repository.application_token_hash(application_id)
            if stored is not None and hmac.compare_digest(stored, token_hash(token)):
                return Role.APPLICANT
        raise AuthenticationNeeded("Present the operator's credentials or the application's token.")

    async def get(self, application_id: str) -> Application:
        application = (
            await self.repository.get_application(application_id) if _may_exist(application_id) else None
        )
        if application is None:
            raise ApplicationNotFound(f"No application {application_id}.")
        return application

    async def trail(self, application_id: str) -> list[Transition]:
        """The application's transitions, oldest first (its audit trail)."""
        return await self.repository.application_transitions(application_id)

    async def licence_file(self, application: Application) -> Path:
        return self.licences.path(application.licence)

    async def list_applications(
        self, state: State | None, offset: int, limit: int
    ) -> tuple[int, list[Application]]:
        return await self.repository.list_applications(state, offset, limit)

    # -- transitions ---------------------------------------------------------------------------

    async def review(self, principal: Principal | None, application_id: str) -> Application:
        """Take a submitted application under review (operator)."""
        return await self.move(principal, None, application_id, Action.REVIEW)

    async def reject(self, principal: Principal | None, application_id: str, reason: Any) -> Application:
        """Reject an application under review, with a reason (operator)."""
        return await self.move(principal, None, application_id, Action.REJECT, reason)

    async def withdraw(
        self, principal: Principal | None, token: str | None, application_id: str, reason: Any = None
    ) -> Application:
        """Withdraw a submitted or under-review application (the applicant, or the operator)."""
        return await self.move(principal, token, application_id, Action.WITHDRAW, reason)

    async def move(
        self,
        principal: Principal | None,
        token: str | None,
        application_id: str,
        action: Action,
        reason: Any = None,
    ) -> Application:
        """Take ``action`` (not approval) on an application; raise AuthenticationNeeded,
        InsufficientPermissions, ApplicationNotFound, TransitionNotAllowed or InvalidEnterprise."""
        self.repository.require_writable()
        actor = await self._actor(principal, token, application_id, action)
        reason = check_reason(action, reason)
        async with self.repository.transaction() as tx:
            current = await self._locked(tx, application_id)
            return await self._apply(tx, current, action, actor, reason)

    async def approve(
        self, principal: Principal | None, application_id: str
    ) -> tuple[Application, Enterprise, str]:
        """Approve an application under review (operator): onboard its enterprise as the operator's
        onboarding does. Returns the application, the enterprise and its admin secret (shown once; it
        stops working if the applicant collects its own, see ``collect_credential``)."""
        self.repository.require_writable()
        actor = await self._actor(principal, None, application_id, Action.APPROVE)
        application = await self.get(application_id)
        next_state(application.state, Action.APPROVE)  # fail early, before any prefix is allocated
        approved: list[Application] = []

        async def record(tx: Transaction, enterprise: Enterprise) -> None:
            current = await self._locked(tx, application_id)  # it may have moved meanwhile
            approved.append(await self._apply(tx, current, Action.APPROVE, actor, None, enterprise.prefix))

        enterprise, secret = await self.registry.add_enterprise(
            principal, application.draft.enterprise(), then=record
        )
        return approved[-1], enterprise, secret

    async def collect_credential(
        self, principal: Principal | None, token: str | None, application_id: str
    ) -> tuple[str, str]:
        """Hand the approved applicant its enterprise admin credential: (username, secret), the secret
        shown once. Only the applicant (``token``) may, only once: the enterprise admin gets a new
        random secret (``Registry.issue_enterprise_secret``, audited as a ``set-secret`` by
        ``application:<id>``) and the application records when, in one transaction. The secret the
        operator was shown at approval stops working then.

        Raises AuthenticationNeeded (no or wrong token), InsufficientPermissions (the operator or
        another principal: the operator resets secrets instead), TransitionNotAllowed (not approved),
        CredentialCollected (the second time), EnterpriseSuspended."""
        self.repository.require_writable()
        if await self.role(application_id, principal, token) is not Role.APPLICANT:
            raise InsufficientPermissions(
                "Only the applicant, with its token, collects the credential; the operator resets it."
            )
        prefix = _require_collectable(await self.get(application_id))  # fail before hashing a secret

        async def record(tx: Transaction) -> None:
            _require_collectable(await self._locked(tx, application_id))  # a concurrent collection
            await tx.mark_credential_collected(application_id)

        secret = await self.registry.issue_enterprise_secret(prefix, f"application:{application_id}", record)
        return f"{SECKEY_INDEX}:{admin_handle(prefix)}", secret

    # -- helpers -------------------------------------------------------------------------------

    async def _actor(
        self, principal: Principal | None, token: str | None, application_id: str, action: Action
    ) -> str:
        """The audit name of a caller allowed to take ``action``; raise if it is not."""
        if principal is None and not token:
            raise AuthenticationNeeded(f"Authentication needed to {action.value} an application.")
        role = await self.role(application_id, principal, token)
        if role not in ROLES[action]:
            raise InsufficientPermissions(f"Only the operator may {action.value} an application.")
        return str(principal) if role is Role.OPERATOR else APPLICANT_ACTOR

    async def _locked(self, tx: Transaction, application_id: str) -> Application:
        current = await tx.get_application(application_id, lock=True) if _may_exist(application_id) else None
        if current is None:
            raise ApplicationNotFound(f"No application {application_id}.")
        return current

    async def _apply(
        self,
        tx: Transaction,
        current: Application,
        action: Action,
        actor: str,
        reason: str | None,
        enterprise_prefix: str | None = None,
    ) -> Application:
        state = next_state(current.state, action)
        await tx.move_application(current.id, state, reason, enterprise_prefix)
        moved = replace(
            current,
            state=state,
            reason=reason if reason is not None else current.reason,
            enterprise_prefix=enterprise_prefix or current.enterprise_prefix,
            updated_at=tx.now,
        )
        await self._record(tx, moved, actor, current.state, reason)
        return moved

    async def _record(
        self, tx: Transaction, application: Application, actor: str, before: State | None, reason: str | None
    ) -> None:
        """Audit the application's arrival in its current state and queue its notification."""
        await tx.add_transition(application.id, Transition(tx.now, actor, before, application.state, reason))
        await tx.add_reports([application_notice(application, self.settings.notify_operator_email)], NOTIFY)
