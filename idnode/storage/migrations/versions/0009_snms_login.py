"""bearer tokens and login digests of the SNMS business API

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snms_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("handle", sa.String(length=400), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("seckey", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snms_tokens")),
    )
    op.create_index(op.f("ix_snms_tokens_expires_at"), "snms_tokens", ["expires_at"])
    op.create_table(
        "snms_login_digests",
        sa.Column("handle", sa.String(length=400), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seckey", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handle", "idx", name=op.f("pk_snms_login_digests")),
    )


def downgrade() -> None:
    op.drop_table("snms_login_digests")
    op.drop_index(op.f("ix_snms_tokens_expires_at"), table_name="snms_tokens")
    op.drop_table("snms_tokens")
