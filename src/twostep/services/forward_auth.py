"""Forward-auth's use case: who is behind this session cookie, and may they reach this address?

The check runs on every request a reverse proxy forwards to a protected application, so it reads the
session, its account and its roles with one prebuilt statement (``FastStatement``, no ORM) and caches
nothing: a sign-out on any instance deletes the session row, and the next check on every instance
finds no row (issue 17: "sign-out ends access everywhere at the next request").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from twostep.domain import authz
from twostep.domain.amr import amr_for
from twostep.domain.clock import as_utc
from twostep.domain.login_flow import IDLE_TIMEOUT, Stage
from twostep.services.core.context import Context
from twostep.services.core.sessions import TOUCH_EVERY_SECONDS
from twostep.services.signin import completion
from twostep.storage.database import FastStatement, as_datetime
from twostep.storage.models import User, UserRole, WebSession

_SESSIONS = cast(Table, WebSession.__table__)
_USERS = cast(Table, User.__table__)
_ROLES = cast(Table, UserRole.__table__)
_SESSION_AND_ACCOUNT = FastStatement(
    select(
        _SESSIONS.c.stage,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.password_at,
        _SESSIONS.c.second_step_at,
        _SESSIONS.c.via_remembered_device,
        _SESSIONS.c.method,
        _USERS.c.id,
        _USERS.c.email,
        _USERS.c.name,
        _ROLES.c.role,
    )
    .select_from(
        _SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id).outerjoin(
            _ROLES, _ROLES.c.user_id == _SESSIONS.c.user_id
        )
    )
    .where(_SESSIONS.c.id == bindparam("id"))
)
_TOUCH = FastStatement(
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("id"), _SESSIONS.c.last_seen_at < bindparam("before"))
    .values(last_seen_at=bindparam("now"))
)

TOUCH_EVERY = timedelta(seconds=TOUCH_EVERY_SECONDS)


@dataclass(frozen=True)
class Identity:
    """A signed-in session's account and how it signed in (the ``Remote-*`` headers)."""

    user_id: int
    email: str
    name: str
    roles: tuple[str, ...]
    methods: tuple[str, ...]
    auth_time: datetime
    subject: authz.Subject


def find_identity(ctx: Context, token: str | None) -> Identity | None:
    """The fully signed-in session for this cookie value, or None (unknown, expired, idle, not
    signed in yet, malformed): every doubt answers "not signed in"."""
    if not token or len(token) > 100:
        return None
    candidates = ctx.digester.candidates(token, "session")
    with ctx.db.raw_statements() as tx:
        for session_id in candidates:
            rows = _SESSION_AND_ACCOUNT.execute(tx, {"id": session_id}).fetchall()
            if rows:
                break
        else:
            return None
        identity, touch = _identity(ctx, rows)
    if identity is not None and touch:  # the idle clock, as sessions.load keeps it (every 30 s at most)
        now = ctx.clock.now()
        with ctx.db.raw_transaction() as tx:
            _TOUCH.execute(tx, {"id": session_id, "now": now, "before": now - TOUCH_EVERY})
    return identity


def _identity(ctx: Context, rows: list[tuple[object, ...]]) -> tuple[Identity | None, bool]:
    first = rows[0]
    stage, expires_raw, seen_raw, password_raw, second_raw, remembered, method, user_id, email, name = first[:10]
    if stage != Stage.SIGNED_IN.value:
        return None, False
    now = ctx.clock.now()
    expires_at, last_seen_at = as_datetime(expires_raw), as_datetime(seen_raw)
    if expires_at is None or last_seen_at is None:
        return None, False
    if now >= as_utc(expires_at) or now >= as_utc(last_seen_at) + IDLE_TIMEOUT:
        return None, False
    password_at = as_datetime(password_raw)
    second_step_at = as_datetime(second_raw)
    password_at = as_utc(password_at) if password_at is not None else None
    second_step_at = as_utc(second_step_at) if second_step_at is not None else None
    roles = tuple(sorted({str(row[10]) for row in rows if row[10] is not None}))
    methods = amr_for(  # the same RFC 8176 values as the OpenID Connect ``amr`` claim
        password=password_at is not None,
        second_step_method=str(method or "") if second_step_at is not None else None,
        remembered_device=bool(remembered),
    )
    auth_time = max((moment for moment in (password_at, second_step_at) if moment is not None),
                    default=as_utc(last_seen_at))
    subject = authz.Subject(
        user=str(email),
        roles=frozenset(roles),
        password_at=password_at,
        second_step_at=second_step_at,
        via_remembered_device=bool(remembered),
    )
    identity = Identity(int(cast(int, user_id)), str(email), str(name or ""), roles, tuple(methods), auth_time, subject)
    touch = (now - as_utc(last_seen_at)).total_seconds() >= TOUCH_EVERY_SECONDS
    return identity, touch


def decide(
    ctx: Context, rules: tuple[authz.Rule, ...], target: authz.Target, identity: Identity | None
) -> authz.Decision:
    return authz.decide(rules, target, identity.subject if identity is not None else None, ctx.clock.now())


def allow_return_addresses(ctx: Context) -> None:
    """Let a sign-in continue to a protected application's address (``rd``): the one completion
    resumes it like any other ``continue_to`` target, on a host this installation protects
    (``domain.authz.return_url``: twostep's own, the cookie domain, or a rule's ``hosts``)."""
    rules = authz.parse_rules(list(ctx.settings.access_rules))
    settings = ctx.settings

    def protected(url: str) -> bool:
        found = authz.return_url(url, rules, cookie_domain=settings.cookie_domain, base_url=settings.base_url)
        return found is not None

    completion.allow_destinations(ctx, protected)
