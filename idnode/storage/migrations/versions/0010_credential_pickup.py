"""when an approved applicant collected its enterprise admin credential (once only)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 10:00:00

Existing applications have not collected (NULL): an approved one may still collect once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "applications", sa.Column("credential_collected_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("credential_collected_at")
