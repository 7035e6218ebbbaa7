"""resolution counts per enterprise prefix and day

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resolution_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "prefix", name=op.f("pk_resolution_counts")),
    )


def downgrade() -> None:
    op.drop_table("resolution_counts")
