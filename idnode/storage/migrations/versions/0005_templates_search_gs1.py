"""metadata templates, reverse-lookup entries and GS1 Digital Link keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 06:10:00

Records stored before this migration get no search entries or GS1 keys until they are next written.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_templates")),
    )
    op.create_table(
        "search_entries",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "value",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("handle", sa.String(length=400), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("public", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "value", "handle", name=op.f("pk_search_entries")),
    )
    op.create_index("ix_search_entries_handle", "search_entries", ["handle"])
    op.create_table(
        "gs1_keys",
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("handle", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_gs1_keys")),
    )
    op.create_index(op.f("ix_gs1_keys_handle"), "gs1_keys", ["handle"])


def downgrade() -> None:
    op.drop_table("gs1_keys")
    op.drop_table("search_entries")
    op.drop_table("templates")
