"""Administration: invitations (when an account was invited, until when its set-password code
works) and an index for the audit log's event filter and the dashboard's sign-in counts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("invited_at", WHEN, nullable=True))
        batch.add_column(sa.Column("invitation_expires_at", WHEN, nullable=True))
    op.create_index("ix_audit_events_event_at", "audit_events", ["event", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_event_at", table_name="audit_events")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("invitation_expires_at")
        batch.drop_column("invited_at")
