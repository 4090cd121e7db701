"""Forward-auth's use case: who is behind this session cookie, and may they reach this address?

The check runs on every request a reverse proxy forwards to a protected application, so it reads the
session, its account and its roles with one prebuilt statement (``FastStatement``, no ORM) on every
check and caches no answer: a sign-out on any instance deletes the session row, and the next check on
every instance finds no row (issue 17: "sign-out ends access everywhere at the next request"). A proxy
may keep an allowed answer only when the operator says so (``cacheable_seconds``), and never past the
moment time alone would change it.
``RowMemo`` only spares re-parsing rows identical to the last ones read for that session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
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
    #: The session's end as its rows stand: its expiry or the idle timeout, whichever comes first.
    session_ends_at: datetime

    @cached_property
    def remote_values(self) -> tuple[str, str, str, str, str, str]:
        """``Remote-User``, ``-Groups``, ``-Name``, ``-Email``, ``-Auth-Methods``, ``-Auth-Time``."""
        return (self.email, ",".join(self.roles), self.name, self.email, ",".join(self.methods),
                str(int(self.auth_time.timestamp())))


@dataclass(frozen=True)
class _Session:
    """What a session's rows say, before the clock is looked at."""

    expires_at: datetime
    last_seen_at: datetime
    identity: Identity


class RowMemo:
    """The last rows read for each session and what they were parsed into, so that a session checked
    again and again (every request of a page goes through the proxy's check) is parsed once per change
    of its rows instead of once per check. Every check still reads the rows: this remembers nothing
    the database has not just confirmed (a deleted session reads no row, a removed role a different
    row set). Bounded: emptied when it holds ``limit`` sessions."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._parsed: dict[str, tuple[list[tuple[object, ...]], _Session | None]] = {}

    def parse(self, session_id: str, rows: list[tuple[object, ...]]) -> _Session | None:
        found = self._parsed.get(session_id)
        if found is not None and found[0] == rows:
            return found[1]
        parsed = _parse(rows)
        if len(self._parsed) >= self.limit:
            self._parsed.clear()
        self._parsed[session_id] = (rows, parsed)
        return parsed


def find_identity(ctx: Context, token: str | None, memo: RowMemo | None = None) -> Identity | None:
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
    session = memo.parse(session_id, rows) if memo is not None else _parse(rows)
    if session is None:
        return None
    now = ctx.clock.now()
    if now >= session.expires_at or now >= session.last_seen_at + IDLE_TIMEOUT:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:  # the idle clock, as sessions.load keeps it
        with ctx.db.raw_transaction() as tx:
            _TOUCH.execute(tx, {"id": session_id, "now": now, "before": now - TOUCH_EVERY})
    return session.identity


def _utc(value: object) -> datetime | None:
    moment = as_datetime(value)
    return as_utc(moment) if moment is not None else None


def _parse(rows: list[tuple[object, ...]]) -> _Session | None:
    """A signed-in session's rows (one per role, or one with no role), or None for any other stage."""
    first = rows[0]
    stage, expires_raw, seen_raw, password_raw, second_raw, remembered, method, user_id, email, name = first[:10]
    if stage != Stage.SIGNED_IN.value:
        return None
    expires_at, last_seen_at = _utc(expires_raw), _utc(seen_raw)
    if expires_at is None or last_seen_at is None:
        return None
    password_at, second_step_at = _utc(password_raw), _utc(second_raw)
    roles = tuple(sorted({str(row[10]) for row in rows if row[10] is not None}))
    methods = amr_for(  # the same RFC 8176 values as the OpenID Connect ``amr`` claim
        password=password_at is not None,
        second_step_method=str(method or "") if second_step_at is not None else None,
        remembered_device=bool(remembered),
    )
    auth_time = max((moment for moment in (password_at, second_step_at) if moment is not None),
                    default=last_seen_at)
    subject = authz.Subject(
        user=str(email),
        roles=frozenset(roles),
        password_at=password_at,
        second_step_at=second_step_at,
        via_remembered_device=bool(remembered),
    )
    identity = Identity(int(cast(int, user_id)), str(email), str(name or ""), roles, tuple(methods), auth_time,
                        subject, min(expires_at, last_seen_at + IDLE_TIMEOUT))
    return _Session(expires_at, last_seen_at, identity)


def cacheable_seconds(limit: int, identity: Identity | None, decision: authz.Decision, now: datetime) -> int:
    """Whole seconds a proxy may keep this allowed answer (``X-Accel-Expires``): at most ``limit``
    (``TWOSTEP_FORWARD_AUTH_CACHE_SECONDS``), and never past a moment when the answer would change by
    time alone (the session's expiry or idle timeout, a step-up window's end), so a kept answer never
    outlives them. 0: not to be kept."""
    if limit <= 0 or decision.verdict != "allow":
        return 0
    deadlines = [authz.allowed_until(decision, identity.subject if identity is not None else None)]
    if identity is not None:
        deadlines.append(identity.session_ends_at)
    seconds = limit
    for deadline in deadlines:
        if deadline is not None:
            seconds = min(seconds, int((deadline - now).total_seconds()))
    return max(0, seconds)


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
