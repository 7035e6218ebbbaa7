"""enterprise applications, their transitions, and outbox channels (upstream reports, notifications)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00

Existing outbox rows are upstream reports (the column's default).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HOLDING_STATES = "state IN ('submitted', 'under_review', 'approved')"


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("channel", sa.String(length=16), server_default="upstream", nullable=False)
    )
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["channel", "seq"],
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("district", sa.String(length=200), nullable=False),
        sa.Column("industry_code", sa.String(length=8), nullable=False),
        sa.Column("industry_name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_phone", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=200), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("licence_file", sa.String(length=64), nullable=False),
        sa.Column("licence_type", sa.String(length=64), nullable=False),
        sa.Column("licence_size", sa.Integer(), nullable=False),
        sa.Column("licence_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("enterprise_prefix", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_state"), "applications", ["state"])
    op.create_index(op.f("ix_applications_uscc"), "applications", ["uscc"])
    op.create_index(op.f("ix_applications_created_at"), "applications", ["created_at"])
    op.create_index(
        "uq_applications_holding_uscc",
        "applications",
        ["uscc"],
        unique=True,
        postgresql_where=sa.text(HOLDING_STATES),
        sqlite_where=sa.text(HOLDING_STATES),
    )
    op.create_table(
        "application_transitions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=400), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_transitions")),
    )
    op.create_index(
        op.f("ix_application_transitions_application_id"), "application_transitions", ["application_id"]
    )


def downgrade() -> None:
    op.drop_table("application_transitions")
    op.drop_table("applications")
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("channel")
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["seq"],
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )
