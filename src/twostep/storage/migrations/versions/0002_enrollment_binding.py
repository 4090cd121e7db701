"""enrollment bound to its session; mailbox proof; disabled authenticators

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("factors") as batch:
        batch.add_column(sa.Column("pending_session", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("mailbox_proven_at", sa.DateTime(timezone=True), nullable=True))
    # Enrollments in progress were shared by every session of their user: drop them (they live
    # ten minutes anyway); the user starts again and gets a secret of their own.
    op.execute("DELETE FROM factors WHERE confirmed_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("mailbox_proven_at")
    with op.batch_alter_table("factors") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("pending_session")
