"""Numbers for operators (the /metrics page): read-only queries, one short transaction each."""

from __future__ import annotations

from sqlalchemy import func, select

from twostep.domain.login_flow import IDLE_TIMEOUT, Stage
from twostep.services.core.context import Context
from twostep.storage.models import WebSession


def active_sessions(ctx: Context) -> int:
    """Signed-in sessions neither expired nor idle past the idle timeout."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        count = db.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(
                WebSession.stage == Stage.SIGNED_IN.value,
                WebSession.expires_at > now,
                WebSession.last_seen_at > now - IDLE_TIMEOUT,
            )
        )
    return int(count or 0)
