"""First run: the one-time link creates the first administrator, who then enrolls like everyone."""

from __future__ import annotations

from twostep.domain.login_flow import Stage
from twostep.services.core import accounts, audit, sessions
from twostep.services.core.context import Context, RequestInfo


def setup_link_valid(ctx: Context, token: str) -> bool:
    with ctx.db.transaction() as db:
        return accounts.setup_token_valid(ctx, db, token) is not None


def create_first_admin(
    ctx: Context, token: str, email: str, password: str, request: RequestInfo
) -> str | None:
    """Returns a session in the enrollment stage, or None when the link is no longer valid."""
    with ctx.db.transaction() as db:
        row = accounts.setup_token_valid(ctx, db, token)
        if row is None:
            return None
        user = accounts.create_user_in(ctx, db, email, password, roles=[accounts.ADMIN])
        row.used_at = ctx.clock.now()
        audit.record(ctx, db, "user_created", request=request, user=user, roles=[accounts.ADMIN], via="setup")
        # The one-time link came from the operator's console: it stands in for the mailbox proof.
        now = ctx.clock.now()
        return sessions.create(ctx, db, user, Stage.ENROLL, request, password_at=now, mailbox_proven_at=now)
