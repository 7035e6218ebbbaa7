"""Enterprise applications (self-service onboarding): their fields, states and the transition table.

An application moves ``submitted`` → ``under_review`` → ``approved`` | ``rejected`` (a reason is
required), or is ``withdrawn`` by the applicant while submitted or under review. Approved, rejected
and withdrawn are final; after a rejection or withdrawal the same USCC may apply again (a new
application). Who may act: the operator reviews, approves and rejects; the applicant (holding the
token it got on submission) or the operator withdraws. Once approved, the applicant may collect its
enterprise admin credential once (``credential_collected_at``; idnode/applications.py).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idnode.model.enterprise import EnterpriseDraft, text_field, validate_uscc
from idnode.model.errors import InvalidEnterprise, TransitionNotAllowed
from idnode.model.industry import Industry, parse_industry

MAX_INTENDED_USE = 2000
MAX_REASON = 2000
_PHONE_RE = re.compile(r"(?:\+86[- ]?)?(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(?:-\d{1,6})?)")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class State(enum.StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Action(enum.StrEnum):
    REVIEW = "review"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"


class Role(enum.StrEnum):
    OPERATOR = "operator"
    APPLICANT = "applicant"


# (state, action) -> the state it leads to; every pair not listed is refused.
TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.SUBMITTED, Action.REVIEW): State.UNDER_REVIEW,
    (State.SUBMITTED, Action.WITHDRAW): State.WITHDRAWN,
    (State.UNDER_REVIEW, Action.APPROVE): State.APPROVED,
    (State.UNDER_REVIEW, Action.REJECT): State.REJECTED,
    (State.UNDER_REVIEW, Action.WITHDRAW): State.WITHDRAWN,
}
# Who may take each action.
ROLES: dict[Action, frozenset[Role]] = {
    Action.REVIEW: frozenset({Role.OPERATOR}),
    Action.APPROVE: frozenset({Role.OPERATOR}),
    Action.REJECT: frozenset({Role.OPERATOR}),
    Action.WITHDRAW: frozenset({Role.OPERATOR, Role.APPLICANT}),
}
# States holding the USCC: no second application for it meanwhile (approved: the enterprise exists).
HOLDING = (State.SUBMITTED, State.UNDER_REVIEW, State.APPROVED)


def next_state(state: State, action: Action) -> State:
    """The state ``action`` leads to from ``state``; raise TransitionNotAllowed."""
    try:
        return TRANSITIONS[state, action]
    except KeyError:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is state)
        raise TransitionNotAllowed(
            f"Cannot {action.value} an application that is {state.value}"
            + (f" (allowed: {', '.join(allowed)})." if allowed else " (a final state).")
        ) from None


def check_reason(action: Action, reason: Any) -> str | None:
    """The reason an action is given with: required to reject, optional otherwise; raise InvalidEnterprise."""
    if reason is None or reason == "":
        if action is Action.REJECT:
            raise InvalidEnterprise("A reason is required to reject an application (驳回须说明理由).")
        return None
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidEnterprise("reason must be a non-empty string.")
    if len(reason) > MAX_REASON:
        raise InvalidEnterprise(f"reason is longer than {MAX_REASON} characters.")
    # As for the text fields: no control characters (NUL cannot even be stored in PostgreSQL text).
    if any(not ch.isprintable() and ch not in "\r\n\t" for ch in reason):
        raise InvalidEnterprise(
            "reason contains non-printable characters (line breaks and tabs are allowed)."
        )
    return reason.strip()


@dataclass(frozen=True, slots=True)
class ApplicationDraft:
    """What an enterprise submits (validated on construction; the licence file comes separately)."""

    name: str
    uscc: str
    district: str
    industry: Industry
    contact_name: str
    contact_phone: str
    contact_email: str
    intended_use: str

    FIELDS = (*EnterpriseDraft.FIELDS, "intended_use")

    @classmethod
    def from_json(cls, data: Any, districts: tuple[str, ...]) -> ApplicationDraft:
        """Validate submitted fields; raise InvalidEnterprise naming the bad one."""
        if not isinstance(data, dict):
            raise InvalidEnterprise("The application must be an object of fields.")
        unknown = set(data) - set(cls.FIELDS)
        if unknown:
            raise InvalidEnterprise(f"Unknown field(s): {', '.join(sorted(unknown))}.")
        district = text_field(data, "district", required=True)
        if districts and district not in districts:
            raise InvalidEnterprise(f"Unknown district {district!r}; expected one of {', '.join(districts)}.")
        phone = text_field(data, "contact_phone", required=True)
        if not _PHONE_RE.fullmatch(phone):
            raise InvalidEnterprise(
                f"Invalid contact_phone {phone!r}: "
                "expected a mobile (13812345678) or landline (0515-88888888) number."
            )
        email = text_field(data, "contact_email", required=True)
        if not _EMAIL_RE.fullmatch(email):
            raise InvalidEnterprise(f"Invalid contact_email {email!r}.")
        return cls(
            name=text_field(data, "name", required=True),
            uscc=validate_uscc(data.get("uscc")),
            district=district,
            industry=parse_industry(data.get("industry")),
            contact_name=text_field(data, "contact_name", required=True),
            contact_phone=phone,
            contact_email=email,
            intended_use=text_field(data, "intended_use", required=True, limit=MAX_INTENDED_USE, lines=True),
        )

    def enterprise(self) -> EnterpriseDraft:
        """The onboarding request approval makes: the industry as its readable GB/T 4754 name, the
        name the operator's own onboarding and the statistics use."""
        return EnterpriseDraft(
            name=self.name,
            uscc=self.uscc,
            district=self.district,
            industry=self.industry.name,
            contact_name=self.contact_name,
            contact_phone=self.contact_phone,
            contact_email=self.contact_email,
        )


@dataclass(frozen=True, slots=True)
class Licence:
    """A stored business-licence file: its generated name, type by content, size and SHA-256."""

    file: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Application:
    """A stored application."""

    id: str
    state: State
    draft: ApplicationDraft
    licence: Licence
    reason: str | None  # of the rejection (or withdrawal, if one was given)
    enterprise_prefix: str | None  # once approved
    created_at: datetime
    updated_at: datetime
    credential_collected_at: datetime | None = None  # when the applicant collected its credential

    def to_json(self) -> dict[str, Any]:
        d = self.draft
        return {
            "id": self.id,
            "state": self.state.value,
            "name": d.name,
            "uscc": d.uscc,
            "district": d.district,
            "industry": {"code": d.industry.code, "name": d.industry.name},
            "contact_name": d.contact_name,
            "contact_phone": d.contact_phone,
            "contact_email": d.contact_email,
            "intended_use": d.intended_use,
            "licence": {
                "content_type": self.licence.content_type,
                "size": self.licence.size,
                "sha256": self.licence.sha256,
            },
            "reason": self.reason,
            "enterprise_prefix": self.enterprise_prefix,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "credential_collected_at": (
                self.credential_collected_at.isoformat() if self.credential_collected_at else None
            ),
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """One audited step of an application: who moved it from which state to which, when, and why."""

    at: datetime
    actor: str
    from_state: State | None  # None for the submission
    to_state: State
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "from": self.from_state.value if self.from_state else None,
            "to": self.to_state.value,
            "reason": self.reason,
        }
