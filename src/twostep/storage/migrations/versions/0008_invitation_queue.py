"""Invitations leave after the answer: the queue of an "Invite users" list (services.admin.invitation_queue)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invitation_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_invitation_queue_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_queue")),
    )
    op.create_index(op.f("ix_invitation_queue_batch"), "invitation_queue", ["batch"], unique=False)
    op.create_index("ix_invitation_queue_state_claimed_at", "invitation_queue", ["state", "claimed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_invitation_queue_state_claimed_at", table_name="invitation_queue")
    op.drop_index(op.f("ix_invitation_queue_batch"), table_name="invitation_queue")
    op.drop_table("invitation_queue")
