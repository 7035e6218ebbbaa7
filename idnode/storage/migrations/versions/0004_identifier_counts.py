"""identifier counts per enterprise prefix, and per prefix and day

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 05:10:00

The counts are kept by every write from now on; existing identifiers are counted once here (one
grouped scan of the prefix index). Identifiers deleted before this migration leave no trace in the
daily series: it starts with the handles that exist.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

handles = sa.table("handles", sa.column("prefix"), sa.column("handle"), sa.column("created_at"))


def upgrade() -> None:
    counts = op.create_table(
        "identifier_counts",
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("identifiers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_identifier_counts")),
    )
    daily = op.create_table(
        "daily_identifiers",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "prefix", name=op.f("pk_daily_identifiers")),
    )
    # An identifier: not a prefix handle (0.NA/...) and not an enterprise's <prefix>/ADMIN.
    identifier = sa.and_(handles.c.prefix != "0.NA", handles.c.handle != handles.c.prefix.concat("/ADMIN"))
    op.execute(
        counts.insert().from_select(
            ["prefix", "identifiers"],
            sa.select(handles.c.prefix, sa.func.count()).where(identifier).group_by(handles.c.prefix),
        )
    )
    day = sa.func.date(handles.c.created_at)
    op.execute(
        daily.insert().from_select(
            ["day", "prefix", "created", "deleted"],
            sa.select(day, handles.c.prefix, sa.func.count(), sa.literal(0))
            .where(identifier)
            .group_by(day, handles.c.prefix),
        )
    )


def downgrade() -> None:
    op.drop_table("daily_identifiers")
    op.drop_table("identifier_counts")
