"""Read models for the console's home page (``/admin``): numbers only, each read in its own short
transaction, so a slow one never holds the others (or the database) up.

- ``enrollment``: accounts, how many have a confirmed second step, and that share at the end of each
  of the last 12 weeks (an account counts from its earliest *current* method: a method removed
  since leaves no trace, so the line shows today's accounts' history, not a log);
- ``methods``: accounts per confirmed method kind;
- ``sign_ins``: successful sign-ins and failed ones (wrong password or code) in the last 24 hours and
  30 days, and per day for the chart — counted in the database with one pass over the audit log's
  ``(event, at)`` index;
- ``attention``: accounts locked right now, users in a grace period, enrolled users with two or
  fewer unused recovery codes;
- ``health``: is mail really sent or only written to the log, SMS gateways, the database, Redis;
- ``checklist``: the first administrator's to-do list (a second administrator, mail, the public
  address, a support address).

A read model that took longer than ``SLOW_SECONDS`` is kept for ``KEEP`` and the page says how old
its figures are: with a million accounts, counting recovery codes and first enrollments takes about a
second on PostgreSQL (docs/benchmarks.md), which a page anyone may reload should not pay each time.
Fast reads (every small installation) are never kept, so what an administrator just did shows at once.
"""

from __future__ import annotations

import time as timer
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import and_, case, func, select

from twostep.domain.codes import RECOVERY_LOW_WATERMARK
from twostep.domain.rollout import METHODS
from twostep.services.admin.user_list import locked_user_ids
from twostep.services.core import accounts, rate_limits
from twostep.services.core.context import Context
from twostep.services.rollout import policy as rollout_policy
from twostep.storage.database import Database
from twostep.storage.models import AuditEvent, Factor, RecoveryCode, User, UserRole

T = TypeVar("T")

TREND_WEEKS = 12
DAYS = 30
SIGN_IN_EVENTS = ("authn_login_success", "authn_login_fail")
SLOW_SECONDS = 0.5
KEEP = timedelta(minutes=1)
_kept: weakref.WeakKeyDictionary[Database, dict[str, tuple[datetime, Any]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TrendPoint:
    day: date
    users: int
    enrolled: int


@dataclass(frozen=True)
class Enrollment:
    users: int
    enrolled: int
    trend: list[TrendPoint]


@dataclass(frozen=True)
class DayCount:
    day: date
    successes: int
    failures: int


@dataclass(frozen=True)
class SignIns:
    successes_24h: int
    failures_24h: int
    successes_30d: int
    failures_30d: int
    days: list[DayCount]


@dataclass(frozen=True)
class Attention:
    locked: int
    in_grace: int
    recovery_low: int


@dataclass(frozen=True)
class Health:
    mail: str  # "smtp" or "log"
    mail_failures_24h: int
    sms: str  # "gateway", "log" or "off"
    sms_failures_24h: int
    database: str  # "SQLite" or "PostgreSQL"
    database_problem: str | None
    redis: str | None  # None when not configured, "ok", "unreachable"


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # second_admin, mail, base_url, support_email
    done: bool


@dataclass(frozen=True)
class Dashboard:
    enrollment: Enrollment
    methods: list[tuple[str, int]]
    sign_ins: SignIns
    attention: Attention
    health: Health
    checklist: list[ChecklistItem] = field(default_factory=list)
    as_of: datetime | None = None  # when the oldest kept figure was read (None: all read just now)

    @property
    def checklist_done(self) -> bool:
        return all(item.done for item in self.checklist)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def enrollment(ctx: Context) -> Enrollment:
    today = ctx.clock.now().date()
    ends = [today - timedelta(weeks=TREND_WEEKS - 1 - i) for i in range(TREND_WEEKS)]
    limits = [_midnight(day + timedelta(days=1)) for day in ends]
    first_method = (
        select(func.min(Factor.confirmed_at).label("first"))
        .where(Factor.confirmed_at.is_not(None))
        .group_by(Factor.user_id)
        .subquery()
    )
    with ctx.db.transaction() as db:
        users_row = db.execute(
            select(func.count(), *(func.sum(case((User.created_at < limit, 1), else_=0)) for limit in limits))
        ).one()
        enrolled_row = db.execute(
            select(
                func.count(), *(func.sum(case((first_method.c.first < limit, 1), else_=0)) for limit in limits)
            ).select_from(first_method)
        ).one()
    trend = [TrendPoint(day, int(users_row[i + 1] or 0), int(enrolled_row[i + 1] or 0)) for i, day in enumerate(ends)]
    return Enrollment(users=int(users_row[0] or 0), enrolled=int(enrolled_row[0] or 0), trend=trend)


def methods(ctx: Context) -> list[tuple[str, int]]:
    """(kind, accounts with a confirmed method of that kind), in the policy's order of kinds."""
    with ctx.db.transaction() as db:
        counts = dict(
            db.execute(
                select(Factor.kind, func.count(func.distinct(Factor.user_id)))
                .where(Factor.confirmed_at.is_not(None))
                .group_by(Factor.kind)
            ).all()
        )
    return [(kind, int(counts.get(kind, 0))) for kind in METHODS]


def sign_ins(ctx: Context) -> SignIns:
    now = ctx.clock.now()
    today = now.date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    since = now - timedelta(days=DAYS)
    day_since = now - timedelta(hours=24)
    buckets: list[Any] = [
        func.sum(
            case(
                (and_(AuditEvent.at >= _midnight(day), AuditEvent.at < _midnight(day + timedelta(days=1))), 1), else_=0
            )
        )
        for day in days
    ]
    with ctx.db.transaction() as db:
        rows = db.execute(
            select(
                AuditEvent.event,
                func.count(),
                func.sum(case((AuditEvent.at >= day_since, 1), else_=0)),
                *buckets,
            )
            .where(AuditEvent.event.in_(SIGN_IN_EVENTS), AuditEvent.at >= min(since, _midnight(days[0])))
            .group_by(AuditEvent.event)
        ).all()
    found = {row[0]: row for row in rows}

    def value(event: str, index: int) -> int:
        row = found.get(event)
        return int(row[index] or 0) if row is not None else 0

    # The 30-day total counts from exactly 30 days ago; the chart's first day starts at midnight.
    return SignIns(
        successes_24h=value("authn_login_success", 2),
        failures_24h=value("authn_login_fail", 2),
        successes_30d=sum(value("authn_login_success", 3 + i) for i in range(DAYS)),
        failures_30d=sum(value("authn_login_fail", 3 + i) for i in range(DAYS)),
        days=[
            DayCount(day, value("authn_login_success", 3 + i), value("authn_login_fail", 3 + i))
            for i, day in enumerate(days)
        ],
    )


def attention(ctx: Context) -> Attention:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        locked = len(locked_user_ids(ctx, db, now))
    with ctx.db.transaction() as db:
        two_step = rollout_policy.two_step_policy(rollout_policy.current(ctx, db))
        has_method = select(Factor.id).where(Factor.user_id == User.id, Factor.confirmed_at.is_not(None)).exists()
        grace = (
            select(func.count())
            .select_from(User)
            .where(~has_method, User.must_enroll.is_(False), User.grace_started_at.is_not(None))
        )
        if two_step.grace_days:
            grace = grace.where(User.grace_started_at > now - timedelta(days=two_step.grace_days))
        if two_step.grace_sign_ins:
            grace = grace.where(User.grace_sign_ins < two_step.grace_sign_ins)
        if two_step.immediate_roles:
            grace = grace.where(
                ~select(UserRole.user_id)
                .where(UserRole.user_id == User.id, UserRole.role.in_(sorted(two_step.immediate_roles)))
                .exists()
            )
        in_grace = int(db.scalar(grace) or 0) if two_step.has_grace else 0
    with ctx.db.transaction() as db:
        plenty = (
            select(RecoveryCode.user_id)
            .where(RecoveryCode.used_at.is_(None))
            .group_by(RecoveryCode.user_id)
            .having(func.count() > RECOVERY_LOW_WATERMARK)
            .subquery()
        )
        low = db.scalar(
            select(func.count())
            .select_from(User)
            .where(
                select(Factor.id).where(Factor.user_id == User.id, Factor.confirmed_at.is_not(None)).exists(),
                User.id.not_in(select(plenty.c.user_id)),
            )
        )
    return Attention(locked=locked, in_grace=in_grace, recovery_low=int(low or 0))


def _failures(ctx: Context, method: str) -> int:
    since = ctx.clock.now() - timedelta(hours=24)
    with ctx.db.transaction() as db:
        rows = db.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.event == "authn_code_send_fail", AuditEvent.at >= since)
            .limit(10_000)
        )
        return sum(1 for detail in rows if f'"method": "{method}"' in (detail or ""))


def health(ctx: Context) -> Health:
    settings = ctx.settings
    mail = "smtp" if settings.smtp_url is not None and settings.smtp_url.get_secret_value().strip() else "log"
    gateways = [getattr(gateway, "name", "") for gateway in ctx.sms.gateways]
    real = [name for name in gateways if name not in ("log", "off")]
    sms = "gateway" if real else ("log" if "log" in gateways else "off")
    return Health(
        mail=mail,
        mail_failures_24h=_failures(ctx, "email"),
        sms=sms,
        sms_failures_24h=_failures(ctx, "sms"),
        database=ctx.db.product,
        database_problem=ctx.db.write_problem(),
        redis=rate_limits.redis_status(ctx),
    )


def _public_base_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return (
        url.startswith("https://") and host not in ("localhost", "127.0.0.1", "::1") and not host.endswith(".localhost")
    )


def checklist(ctx: Context, health_now: Health) -> list[ChecklistItem]:
    with ctx.db.transaction() as db:
        admins = int(db.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == accounts.ADMIN)) or 0)
    return [
        ChecklistItem("second_admin", admins >= 2),
        ChecklistItem("mail", health_now.mail == "smtp"),
        ChecklistItem("base_url", _public_base_url(ctx.settings.base_url)),
        ChecklistItem("support_email", bool(ctx.settings.support_email.strip())),
    ]


def _kept_or_read(ctx: Context, name: str, read: Callable[[Context], T]) -> tuple[T, datetime | None]:
    """``read(ctx)``, or the value a slow earlier read left less than ``KEEP`` ago (and its time)."""
    kept = _kept.setdefault(ctx.db, {})
    now = ctx.clock.now()
    found = kept.get(name)
    if found is not None and now - found[0] < KEEP:
        value: T = found[1]
        return value, found[0]
    started = timer.perf_counter()
    value = read(ctx)
    if timer.perf_counter() - started > SLOW_SECONDS:
        kept[name] = (now, value)
    else:
        kept.pop(name, None)
    return value, None


def dashboard(ctx: Context) -> Dashboard:
    health_now = health(ctx)
    enrolled, enrolled_at = _kept_or_read(ctx, "enrollment", enrollment)
    kinds, kinds_at = _kept_or_read(ctx, "methods", methods)
    needs, needs_at = _kept_or_read(ctx, "attention", attention)
    times = [moment for moment in (enrolled_at, kinds_at, needs_at) if moment is not None]
    return Dashboard(
        enrollment=enrolled,
        methods=kinds,
        sign_ins=sign_ins(ctx),
        attention=needs,
        health=health_now,
        checklist=checklist(ctx, health_now),
        as_of=min(times) if times else None,
    )
