"""The database schema (SQLAlchemy 2 declarative); Alembic migrations create it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, LargeBinary, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from idnode.model.application import HOLDING

# Compared byte by byte, so a value range holds exactly the values with a given beginning (SQLite's
# default collation already is binary).
BinaryText = String(255).with_variant(String(255, collation="C"), "postgresql")

# SQLite only makes INTEGER PRIMARY KEY an auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The application states that hold a USCC, as SQL (migration 0007 spells it out).
HOLDING_STATES = f"state IN ({', '.join(repr(state.value) for state in HOLDING)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class HandleRow(Base):
    """One identifier; its values are one JSON array (read in one row, written in one statement)."""

    __tablename__ = "handles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(String(400), unique=True)
    prefix: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_handles_prefix_handle", "prefix", "handle"),)


class EnterpriseRow(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    prefix: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    district: Mapped[str] = mapped_column(String(200), index=True)
    industry: Mapped[str] = mapped_column(String(200), index=True)
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    registered_on: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """Who changed what and when; written in the same transaction as the change itself."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(400), index=True)
    old: Mapped[str | None] = mapped_column(Text, nullable=True)
    new: Mapped[str | None] = mapped_column(Text, nullable=True)


class NodeMetaRow(Base):
    """Facts fixed when the node was initialised (node prefix, ...)."""

    __tablename__ = "node_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LogEntryRow(Base):
    """A leaf of the transparency log: one registration, modification or deletion, in order."""

    __tablename__ = "log_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handle: Mapped[str] = mapped_column(String(400))
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (Index("ix_log_entries_handle_seq", "handle", "seq"),)


class LogNodeRow(Base):
    """The hash of a complete (perfect) subtree of the log: 2**level leaves from leaf idx * 2**level."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class ResolutionCountRow(Base):
    """Resolutions of an enterprise's identifiers on one day (summed over every serving process)."""

    __tablename__ = "resolution_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class IdentifierCountRow(Base):
    """Identifiers registered under one enterprise prefix now (kept by every write adding or deleting one)."""

    __tablename__ = "identifier_counts"

    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    identifiers: Mapped[int] = mapped_column(BigInteger)


class DailyIdentifierRow(Base):
    """Identifiers created and deleted under one enterprise prefix on one day."""

    __tablename__ = "daily_identifiers"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[int] = mapped_column(BigInteger)


class TemplateRow(Base):
    """One version of a metadata template (a JSON Schema document); versions are never changed."""

    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(400))


class SearchEntryRow(Base):
    """A value of a record findable by reverse lookup: ``key`` is a value type (``URL``) or
    ``meta:<field>`` for a searchable template field; ``value`` is its index form (see derived.py)."""

    __tablename__ = "search_entries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(BinaryText, primary_key=True)
    handle: Mapped[str] = mapped_column(String(400), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64))
    public: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_search_entries_handle", "handle"),)


class Gs1KeyRow(Base):
    """A GS1 Digital Link path (``/01/<gtin>[/10/<lot>][/21/<serial>]``) and the identifier it maps to."""

    __tablename__ = "gs1_keys"

    path: Mapped[str] = mapped_column(String(400), primary_key=True)
    handle: Mapped[str] = mapped_column(String(400), index=True)


class OutboxRow(Base):
    """A message queued in the transaction of the change it tells about, for one ``channel``: reports
    for the upstream (top-level) node, or notifications (idnode/notify.py). ``delivered_at`` stays
    null until the receiver acknowledged it. ``seq`` orders the messages and, with the node prefix, is
    their idempotency key, so it is never reused (SQLite AUTOINCREMENT)."""

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), server_default="upstream")
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # Only the undelivered messages, per channel in order: a sender's queue stays small however
        # many were sent.
        Index(
            "ix_outbox_undelivered",
            "channel",
            "seq",
            postgresql_where=text("delivered_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )


class SnmsTokenRow(Base):
    """A bearer token issued by the SNMS login (``POST /identity/token``): whose credential it stands for
    (and the fingerprint of that credential's secret key then, see idnode/seckeys.py), until when,
    and whether it was revoked. The token itself is not stored, only its random id."""

    __tablename__ = "snms_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    handle: Mapped[str] = mapped_column(String(400))
    idx: Mapped[int] = mapped_column(Integer)
    seckey: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SnmsLoginDigestRow(Base):
    """What the SNMS ciphertext login (``/identity/token/v1``) checks against: SHA-256 of the secret
    of ``idx:handle``, kept from its last plaintext login while its HS_SECKEY stays the one fingerprinted
    in ``seckey`` (see idnode/snms/login.py)."""

    __tablename__ = "snms_login_digests"

    handle: Mapped[str] = mapped_column(String(400), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64))
    seckey: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSessionRow(Base):
    """A signed-in browser session of the portal or console: only the SHA-256 of its cookie token is
    kept, so the table cannot be used to sign in; the row is deleted at logout. ``credential`` ties
    the session to the secret it was opened with: once that secret changes, the session is over."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    handle: Mapped[str] = mapped_column(String(400), index=True)
    key_index: Mapped[int] = mapped_column(Integer)
    csrf: Mapped[str] = mapped_column(String(64))
    credential: Mapped[str] = mapped_column(String(64))  # SHA-256 of the secret's stored hash at sign-in
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApplicationRow(Base):
    """An enterprise's application to be onboarded (idnode/applications.py); ``token_hash`` is the
    SHA-256 of the applicant's token; ``credential_collected_at`` is when the approved applicant
    collected its admin credential (once only). One USCC holds at most one application that is open or
    approved (the partial unique index), so concurrent duplicate submissions cannot both succeed."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), index=True)
    district: Mapped[str] = mapped_column(String(200))
    industry_code: Mapped[str] = mapped_column(String(8))
    industry_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(200))
    intended_use: Mapped[str] = mapped_column(Text)
    licence_file: Mapped[str] = mapped_column(String(64))
    licence_type: Mapped[str] = mapped_column(String(64))
    licence_size: Mapped[int] = mapped_column(Integer)
    licence_sha256: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    enterprise_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    credential_collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index(
            "uq_applications_holding_uscc",
            "uscc",
            unique=True,
            postgresql_where=text(HOLDING_STATES),
            sqlite_where=text(HOLDING_STATES),
        ),
    )


class ApplicationTransitionRow(Base):
    """The audit trail of applications: every state change, by whom, when, from and to, and why."""

    __tablename__ = "application_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(400))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


handles = HandleRow.__table__
enterprises = EnterpriseRow.__table__
audit = AuditRow.__table__
node_meta = NodeMetaRow.__table__
log_entries = LogEntryRow.__table__
log_nodes = LogNodeRow.__table__
resolution_counts = ResolutionCountRow.__table__
identifier_counts = IdentifierCountRow.__table__
daily_identifiers = DailyIdentifierRow.__table__
templates = TemplateRow.__table__
search_entries = SearchEntryRow.__table__
gs1_keys = Gs1KeyRow.__table__
outbox = OutboxRow.__table__
snms_tokens = SnmsTokenRow.__table__
snms_login_digests = SnmsLoginDigestRow.__table__
web_sessions = WebSessionRow.__table__
applications = ApplicationRow.__table__
application_transitions = ApplicationTransitionRow.__table__
