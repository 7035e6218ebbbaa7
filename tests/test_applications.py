"""The application workflow in the core (idnode.applications), on SQLite and PostgreSQL: every legal
and illegal transition, who may take it, duplicate USCCs, re-application, approval through the
operator's onboarding path, the applicant's one-time credential collection, the audit trail and the
queued notifications."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from idnode.core import Core
from idnode.model.application import Action, Application, State
from idnode.model.enterprise import EnterpriseDraft
from idnode.model.errors import (
    ApplicationExists,
    ApplicationNotFound,
    AuthenticationNeeded,
    CredentialCollected,
    EnterpriseExists,
    EnterpriseSuspended,
    IdnodeError,
    InsufficientPermissions,
    InvalidEnterprise,
    TransitionNotAllowed,
)
from idnode.model.identifier import Identifier
from idnode.model.values import HandleValue
from idnode.sample import make_uscc
from idnode.storage.repository import NOTIFY, UPSTREAM
from tests.test_registry import LOCAL

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_serial = itertools.count(1)

# What each action does from each state, written out independently of the code's table.
LEGAL = {
    (State.SUBMITTED, Action.REVIEW): State.UNDER_REVIEW,
    (State.SUBMITTED, Action.WITHDRAW): State.WITHDRAWN,
    (State.UNDER_REVIEW, Action.APPROVE): State.APPROVED,
    (State.UNDER_REVIEW, Action.REJECT): State.REJECTED,
    (State.UNDER_REVIEW, Action.WITHDRAW): State.WITHDRAWN,
}
# The steps that bring a new application to each state.
PATHS = {
    State.SUBMITTED: [],
    State.UNDER_REVIEW: [Action.REVIEW],
    State.APPROVED: [Action.REVIEW, Action.APPROVE],
    State.REJECTED: [Action.REVIEW, Action.REJECT],
    State.WITHDRAWN: [Action.WITHDRAW],
}


def fields(serial: int | None = None, **changes: Any) -> dict[str, Any]:
    serial = next(_serial) if serial is None else serial
    return {
        "name": f"申请企业{serial}有限公司",
        "uscc": make_uscc(500_000 + serial),
        "district": "亭湖区",
        "industry": "C34",
        "contact_name": "王工",
        "contact_phone": "13812345678",
        "contact_email": f"wang{serial}@example.com",
        "intended_use": "为泵类产品赋码，追溯生产批次。",
        **changes,
    }


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def submit(core: Core, **changes: Any) -> tuple[Application, str]:
    licence = await core.applications.save_licence(chunks(PDF))
    return await core.applications.submit(fields(**changes), licence)


async def act(core: Core, application: Application, token: str, action: Action) -> Application:
    """Take ``action`` as the party that normally takes it (withdraw: the applicant)."""
    apps, operator = core.applications, core.local_operator
    if action is Action.APPROVE:
        return (await apps.approve(operator, application.id))[0]
    if action is Action.WITHDRAW:
        return await apps.withdraw(None, token, application.id)
    reason = "材料不全 / incomplete documents" if action is Action.REJECT else None
    return await apps.move(operator, None, application.id, action, reason)


async def in_state(core: Core, state: State) -> tuple[Application, str]:
    application, token = await submit(core)
    for action in PATHS[state]:
        application = await act(core, application, token, action)
    assert application.state is state
    return application, token


@pytest.mark.parametrize("start", list(State))
async def test_every_action_from_every_state(core: Core, start: State) -> None:
    for action in Action:
        application, token = await in_state(core, start)
        expected = LEGAL.get((start, action))
        if expected is None:
            with pytest.raises(TransitionNotAllowed):
                await act(core, application, token, action)
            assert (await core.applications.get(application.id)).state is start
        else:
            moved = await act(core, application, token, action)
            assert moved.state is expected
            stored = await core.applications.get(application.id)
            assert stored.state is expected
            trail = await core.applications.trail(application.id)
            assert (trail[-1].from_state, trail[-1].to_state) == (start, expected)
        final = await core.applications.get(application.id)
        enterprise = await core.repository.get_enterprise_by_uscc(application.draft.uscc)
        if final.state is State.APPROVED:  # onboarded exactly when approved
            assert enterprise is not None and final.enterprise_prefix == enterprise.prefix
        else:
            assert enterprise is None and final.enterprise_prefix is None


async def test_only_the_operator_reviews_approves_and_rejects(core: Core) -> None:
    application, token = await in_state(core, State.UNDER_REVIEW)
    enterprise, secret = await core.registry.add_enterprise(
        core.local_operator, EnterpriseDraft("别家", make_uscc(900_001), "盐都区", "通用设备制造业")
    )
    admin = await core.registry.authenticate(f"{enterprise.prefix}/ADMIN", 300, secret, channel=LOCAL)
    apps = core.applications
    for action in (Action.REVIEW, Action.APPROVE, Action.REJECT):
        with pytest.raises(InsufficientPermissions):
            await apps.move(None, token, application.id, action, "x")
        with pytest.raises(InsufficientPermissions):
            await apps.move(admin, None, application.id, action, "x")
        with pytest.raises(AuthenticationNeeded):
            await apps.move(None, None, application.id, action, "x")
    with pytest.raises(InsufficientPermissions):
        await apps.approve(admin, application.id)
    with pytest.raises(AuthenticationNeeded):
        await apps.withdraw(None, "not-the-token", application.id)
    other, other_token = await submit(core)
    with pytest.raises(AuthenticationNeeded):  # one application's token is no key to another
        await apps.withdraw(None, other_token, application.id)
    assert (await apps.get(application.id)).state is State.UNDER_REVIEW
    withdrawn = await apps.withdraw(core.local_operator, None, application.id, "企业自行撤回")
    assert withdrawn.state is State.WITHDRAWN
    assert (await apps.trail(application.id))[-1].actor == str(core.local_operator)
    assert other.state is State.SUBMITTED


async def test_rejection_needs_a_reason(core: Core) -> None:
    application, _ = await in_state(core, State.UNDER_REVIEW)
    for reason in (None, "", "   "):
        with pytest.raises(InvalidEnterprise):
            await core.applications.reject(core.local_operator, application.id, reason)
    assert (await core.applications.get(application.id)).state is State.UNDER_REVIEW
    rejected = await core.applications.reject(core.local_operator, application.id, " 营业执照模糊 ")
    assert (rejected.state, rejected.reason) == (State.REJECTED, "营业执照模糊")


@pytest.mark.parametrize("reason", ["资料\x00不全", "\x1b[31m不全", "不全\x7f"])
async def test_a_reason_with_control_characters_is_refused(core: Core, reason: str) -> None:
    application, _ = await in_state(core, State.UNDER_REVIEW)
    with pytest.raises(InvalidEnterprise, match="non-printable"):
        await core.applications.reject(core.local_operator, application.id, reason)
    assert (await core.applications.get(application.id)).state is State.UNDER_REVIEW
    rejected = await core.applications.reject(
        core.local_operator, application.id, "一、营业执照模糊\n二、\t地址不符"
    )
    assert rejected.reason == "一、营业执照模糊\n二、\t地址不符"


@pytest.mark.parametrize("application_id", ["a\x00b", "", "A" * 32, "0" * 33, "../x"])
async def test_an_id_of_another_form_names_no_application(core: Core, application_id: str) -> None:
    apps, operator = core.applications, core.local_operator
    _, token = await in_state(core, State.SUBMITTED)
    with pytest.raises(ApplicationNotFound):
        await apps.get(application_id)
    with pytest.raises(ApplicationNotFound):
        await apps.move(operator, None, application_id, Action.REVIEW)
    with pytest.raises(AuthenticationNeeded):
        await apps.role(application_id, None, token)


async def test_approval_onboards_through_the_operator_path(core: Core) -> None:
    application, _ = await in_state(core, State.UNDER_REVIEW)
    assert (await core.stats.summary())["enterprises"]["total"] == 0  # pending ones do not count
    approved, enterprise, secret = await core.applications.approve(core.local_operator, application.id)
    assert approved.enterprise_prefix == enterprise.prefix
    assert (enterprise.uscc, enterprise.industry) == (application.draft.uscc, "通用设备制造业")
    assert (await core.stats.summary())["enterprises"]["total"] == 1
    assert [r["name"] for r in await core.repository.breakdown("industry")] == ["通用设备制造业"]
    admin = await core.registry.authenticate(f"{enterprise.prefix}/ADMIN", 300, secret, channel=LOCAL)
    handle = Identifier.parse(f"{enterprise.prefix}/PUMP-1")
    url = HandleValue(index=1, type="URL", format="string", data="https://example.com/pump")
    assert (await core.registry.put_record(admin, handle, [url])).created
    audit = await core.repository.audit_trail(enterprise.prefix)
    assert [a["action"] for a in audit] == ["enterprise-add"]
    reports = await core.repository.pending_reports(100, UPSTREAM)
    assert [r.kind for r in reports][:1] == ["enterprise.create"]


async def test_a_withdrawal_during_approval_onboards_nothing(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    application, token = await in_state(core, State.UNDER_REVIEW)
    await core.applications.withdraw(None, token, application.id)

    async def stale(application_id: str) -> Application:
        return application  # as read before the withdrawal committed

    monkeypatch.setattr(core.applications, "get", stale)
    with pytest.raises(TransitionNotAllowed):
        await core.applications.approve(core.local_operator, application.id)
    assert await core.repository.get_enterprise_by_uscc(application.draft.uscc) is None
    assert (await core.stats.summary())["enterprises"]["total"] == 0


async def test_duplicate_uscc_is_refused_while_open_or_approved(core: Core) -> None:
    serial = next(_serial)
    first, token = await submit(core, serial=serial)
    with pytest.raises(ApplicationExists) as refused:
        await submit(core, serial=serial)
    assert "已有" in refused.value.message and "already open" in refused.value.message
    await act(core, first, token, Action.REVIEW)
    with pytest.raises(ApplicationExists):
        await submit(core, serial=serial)
    await core.applications.approve(core.local_operator, first.id)
    with pytest.raises(ApplicationExists) as registered:
        await submit(core, serial=serial)
    assert "already registered" in registered.value.message
    total, found = await core.applications.list_applications(None, 0, 100)
    assert (total, [a.id for a in found]) == (1, [first.id])


async def test_an_onboarded_enterprise_cannot_apply(core: Core) -> None:
    draft = EnterpriseDraft("已入网", make_uscc(900_002), "盐都区", "通用设备制造业")
    await core.registry.add_enterprise(core.local_operator, draft)
    with pytest.raises(ApplicationExists):
        await submit(core, uscc=draft.uscc)
    assert not list(core.settings.licences_path.iterdir())  # the refused upload's file is gone


async def test_approval_fails_cleanly_if_the_operator_onboarded_the_firm_meanwhile(core: Core) -> None:
    application, _ = await in_state(core, State.UNDER_REVIEW)
    draft = application.draft.enterprise()
    await core.registry.add_enterprise(core.local_operator, draft)
    with pytest.raises(EnterpriseExists):
        await core.applications.approve(core.local_operator, application.id)
    assert (await core.applications.get(application.id)).state is State.UNDER_REVIEW


@pytest.mark.parametrize("end", [State.REJECTED, State.WITHDRAWN])
async def test_the_same_uscc_may_apply_again_after(core: Core, end: State) -> None:
    serial = next(_serial)
    first, token = await submit(core, serial=serial)
    for action in PATHS[end]:
        first = await act(core, first, token, action)
    second, _ = await submit(core, serial=serial)
    assert second.id != first.id and second.state is State.SUBMITTED
    _, found = await core.applications.list_applications(State.SUBMITTED, 0, 10)
    assert [a.id for a in found] == [second.id]


async def test_every_transition_is_audited_and_notified(core: Core) -> None:
    application, _ = await submit(core)
    await core.applications.review(core.local_operator, application.id)
    await core.applications.reject(core.local_operator, application.id, "经营范围不符")
    trail = await core.applications.trail(application.id)
    assert [(t.actor, t.from_state, t.to_state, t.reason) for t in trail] == [
        ("applicant", None, State.SUBMITTED, None),
        (str(core.local_operator), State.SUBMITTED, State.UNDER_REVIEW, None),
        (str(core.local_operator), State.UNDER_REVIEW, State.REJECTED, "经营范围不符"),
    ]
    assert trail[0].at <= trail[1].at <= trail[2].at
    notices = await core.repository.pending_reports(100, NOTIFY)
    assert [(n.kind, n.subject) for n in notices] == [
        ("application.submitted", application.id),
        ("application.under_review", application.id),
        ("application.rejected", application.id),
    ]
    assert await core.repository.pending_reports(100, UPSTREAM) == []  # nothing for the upper node
    assert (await core.repository.report_backlog(NOTIFY))[0] == 3


@pytest.mark.parametrize(
    "changes",
    [
        {"uscc": "91320900MA0000000X"},
        {"industry": "Z99"},
        {"industry": "D34"},
        {"district": "南京市"},
        {"contact_phone": "12345"},
        {"contact_email": "nobody"},
        {"intended_use": ""},
        {"contact_name": None},
        {"licence": "x"},
    ],
)
async def test_bad_fields_are_refused_and_leave_nothing(core: Core, changes: dict[str, Any]) -> None:
    licence = await core.applications.save_licence(chunks(PDF))
    with pytest.raises(IdnodeError):
        await core.applications.submit(fields(**changes), licence)
    assert (await core.applications.list_applications(None, 0, 10))[0] == 0
    assert not list(core.settings.licences_path.iterdir())


async def test_concurrent_submissions_of_one_uscc_make_one_application(core: Core) -> None:
    serial = next(_serial)
    results = await asyncio.gather(*(submit(core, serial=serial) for _ in range(4)), return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, ApplicationExists) for r in results if isinstance(r, BaseException))
    assert len(list(core.settings.licences_path.iterdir())) == 1  # the refused ones kept no file


async def test_the_approved_applicant_collects_its_credential_once(core: Core) -> None:
    application, token = await in_state(core, State.UNDER_REVIEW)
    apps, registry = core.applications, core.registry
    with pytest.raises(TransitionNotAllowed):  # not approved yet
        await apps.collect_credential(None, token, application.id)
    _, enterprise, approval_secret = await apps.approve(core.local_operator, application.id)
    admin = f"{enterprise.prefix}/ADMIN"
    for wrong in ("not-the-token", "", None):
        with pytest.raises(AuthenticationNeeded):
            await apps.collect_credential(None, wrong, application.id)
    with pytest.raises(InsufficientPermissions):  # the operator resets secrets instead
        await apps.collect_credential(core.local_operator, None, application.id)
    assert (await apps.get(application.id)).credential_collected_at is None
    await registry.authenticate(admin, 300, approval_secret, channel=LOCAL)  # refusals changed nothing

    username, secret = await apps.collect_credential(None, token, application.id)
    assert username == f"300:{admin}" and secret != approval_secret
    assert (await registry.authenticate(admin, 300, secret, channel=LOCAL)).handle == admin
    with pytest.raises(AuthenticationNeeded):  # the secret the operator saw stops working
        await registry.authenticate(admin, 300, approval_secret, channel=LOCAL)
    collected = await apps.get(application.id)
    assert collected.state is State.APPROVED and collected.credential_collected_at is not None
    assert collected.to_json()["credential_collected_at"] == collected.credential_collected_at.isoformat()
    audit = await core.repository.audit_trail(admin)
    assert (audit[-1]["actor"], audit[-1]["action"]) == (f"application:{application.id}", "set-secret")
    assert len(audit) == 2  # the admin handle's creation, then this one change

    with pytest.raises(CredentialCollected) as again:
        await apps.collect_credential(None, token, application.id)
    assert "once" in again.value.message and isinstance(again.value, TransitionNotAllowed)  # 409
    await registry.authenticate(admin, 300, secret, channel=LOCAL)  # still the collected one
    assert len(await core.repository.audit_trail(admin)) == 2


@pytest.mark.parametrize("end", [State.SUBMITTED, State.REJECTED, State.WITHDRAWN])
async def test_no_credential_without_approval(core: Core, end: State) -> None:
    application, token = await in_state(core, end)
    with pytest.raises(TransitionNotAllowed) as refused:
        await core.applications.collect_credential(None, token, application.id)
    assert end.value in refused.value.message
    assert (await core.applications.get(application.id)).credential_collected_at is None


async def test_concurrent_collections_hand_out_one_credential(core: Core) -> None:
    application, token = await in_state(core, State.APPROVED)
    results = await asyncio.gather(
        *(core.applications.collect_credential(None, token, application.id) for _ in range(3)),
        return_exceptions=True,
    )
    handed = [r for r in results if not isinstance(r, BaseException)]
    assert len(handed) == 1
    assert all(isinstance(r, CredentialCollected) for r in results if isinstance(r, BaseException))
    (_, secret), admin = handed[0], f"{application.enterprise_prefix}/ADMIN"
    await core.registry.authenticate(admin, 300, secret, channel=LOCAL)  # the one handed out works
    assert [a["action"] for a in await core.repository.audit_trail(admin)] == ["create", "set-secret"]


async def test_a_suspended_enterprise_collects_nothing(core: Core) -> None:
    application, token = await in_state(core, State.APPROVED)
    prefix = application.enterprise_prefix
    assert prefix is not None
    await core.registry.update_enterprise(core.local_operator, prefix, {"status": "suspended"})
    with pytest.raises(EnterpriseSuspended):
        await core.applications.collect_credential(None, token, application.id)
    assert (await core.applications.get(application.id)).credential_collected_at is None
    assert [a["action"] for a in await core.repository.audit_trail(f"{prefix}/ADMIN")] == ["create"]
