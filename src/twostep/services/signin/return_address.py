"""Where a finished sign-in resumes: the protected address forward-auth sent the browser from (``rd``).

Kept in ``sessions.data["return_to"]``; ``sessions.create`` hands it to each successor session of
the same user (password → second step → signed in, enrollment, recovery, re-authentication), and it is
taken (read and removed) once, by the signed-in session only. The address was checked against the
configured hosts when it was stored and is checked again when it is taken (the rules may change).
"""

from __future__ import annotations

import json

from twostep.domain.login_flow import Stage
from twostep.services.core import sessions
from twostep.services.core.context import Context

KEY = "return_to"


def remember(ctx: Context, token: str | None, target: str) -> None:
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None:
            return
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[KEY] = target
        row.data = json.dumps(data)


def pending(ctx: Context, token: str | None) -> bool:
    """A signed-in session with an address to resume to."""
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        return row is not None and row.stage == Stage.SIGNED_IN.value and KEY in (row.data or "")


def take(ctx: Context, token: str | None) -> str | None:
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None or row.stage != Stage.SIGNED_IN.value or KEY not in (row.data or ""):
            return None
        try:
            data = json.loads(row.data)
        except ValueError:
            return None
        target = data.pop(KEY, None) if isinstance(data, dict) else None
        row.data = json.dumps(data) if isinstance(data, dict) else "{}"
        return target if isinstance(target, str) else None
