"""Who may enter the administration console: the one rule every ``/admin`` route's gate asks.

The web gate (``web/admin/admin_gate.py``) applies it in this order — signed in, the admin role, a real
second step in this session (a remembered device never counts: checklist A-01), and for a change a
password and second step given again within the last five minutes (S-09) — and writes the OWASP
``authz_fail`` event here when a signed-in user without the role reaches for the console.
"""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.login_flow import Stage
from twostep.services.core import accounts, audit, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import User


@dataclass(frozen=True)
class ConsoleAccess:
    """What the gate needs to know about the session asking for an /admin page."""

    user_id: int
    email: str
    is_admin: bool
    real_second_step: bool
    fresh: bool


def console_access(ctx: Context, token: str | None) -> ConsoleAccess | None:
    """The signed-in user behind ``token`` and their standing, or None (no fully signed-in session)."""
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None or row.stage != Stage.SIGNED_IN.value:
            return None
        user = db.get(User, row.user_id)
        if user is None:
            return None
        return ConsoleAccess(
            user_id=user.id,
            email=user.email,
            is_admin=accounts.is_admin(db, user.id),
            real_second_step=row.second_step_at is not None and not row.via_remembered_device,
            fresh=sessions.reauthenticated_recently(ctx, row),
        )


def record_denied(ctx: Context, user_id: int | None, path: str, request: RequestInfo) -> None:
    """OWASP ``authz_fail``: a signed-in user without the admin role reached for the console."""
    with ctx.db.transaction() as db:
        user = db.get(User, user_id) if user_id is not None else None
        audit.record(ctx, db, "authz_fail", request=request, user=user, outcome="failure", path=path[:200])
