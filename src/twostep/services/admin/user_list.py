"""The console's list of users: search, filters, and keyset pages that cost the same at page 1 and
at page 20,000.

Pages are cut by the email address, which has a unique index: the next page is "the 50 addresses
after the last one shown" (``email > :after ORDER BY email LIMIT 51``), the previous one "the 50
before the first one shown" (``email < :before ORDER BY email DESC``). Unlike ``OFFSET`` (which reads
and throws away every earlier row), each page reads about 51 index entries however deep it is, and a
user added or deleted meanwhile never shifts a page. ``tests/integration/test_user_list_plan.py``
asks PostgreSQL's planner for the plan of a deep page among many users and finds the index in it.

The count is capped (``COUNT_CAP``): counting a million matching rows would cost what the page
saves, and "more than 10,000" is all an administrator needs to know.

Filters: ``role``, ``method`` (a confirmed method of that kind), ``status`` — ``enrolled``,
``not_enrolled``, ``invited`` (invited, no password yet) and ``locked`` (a password or second-step
throttle in force right now). Search: part of the email address or the name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.clock import as_utc
from twostep.domain.rollout import METHODS
from twostep.services.admin.admin import like_pattern, throttled_until
from twostep.services.core import accounts, throttling
from twostep.services.core.context import Context
from twostep.storage.models import AuditEvent, Factor, Throttle, User, UserRole

PAGE_SIZE = 50
COUNT_CAP = 10_000
LOCKED_CAP = 5_000
STATUSES = ("enrolled", "not_enrolled", "invited", "locked")
Direction = Literal["after", "before"]


@dataclass(frozen=True)
class UserQuery:
    """What the list shows; ``after``/``before`` hold the email address a page starts after or ends
    before (at most one of them)."""

    q: str = ""
    role: str = ""
    method: str = ""
    status: str = ""
    after: str = ""
    before: str = ""

    def cleaned(self) -> UserQuery:
        return UserQuery(
            q=self.q.strip()[:200],
            role=self.role.strip().lower()[:64],
            method=self.method if self.method in METHODS else "",
            status=self.status if self.status in STATUSES else "",
            after=self.after[:320] if not self.before else "",
            before=self.before[:320],
        )

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.role or self.method or self.status)


@dataclass(frozen=True)
class ListedUser:
    id: int
    email: str
    name: str
    is_admin: bool
    methods: list[str]
    enrolled_at: datetime | None
    last_sign_in_at: datetime | None
    throttled_until: datetime | None
    has_password: bool
    invited_at: datetime | None
    invitation_expires_at: datetime | None
    now: datetime

    @property
    def enrolled(self) -> bool:
        return bool(self.methods)

    @property
    def invitation(self) -> str:
        """ "" (none or accepted), "pending" or "expired"."""
        if self.has_password or self.invited_at is None:
            return ""
        if self.invitation_expires_at is not None and self.invitation_expires_at <= self.now:
            return "expired"
        return "pending"


@dataclass(frozen=True)
class UserPage:
    rows: list[ListedUser]
    query: UserQuery
    count: int
    count_capped: bool
    next_after: str = ""
    previous_before: str = ""
    roles: list[str] = field(default_factory=list)


def locked_user_ids(ctx: Context, db: Session, now: datetime) -> set[int]:
    """Accounts with a throttle in force now. Second-step throttles name the account (``2fa:<id>``);
    password throttles name a keyed digest of the address (``pw:<digest>``), which can't be turned
    back into an address, so the candidates are the accounts whose throttle started within the
    longest delay (their ``authn_login_lock`` events, by the event+time index), checked digest by
    digest. At most ``LOCKED_CAP`` accounts."""
    blocked = list(db.scalars(select(Throttle.key).where(Throttle.blocked_until > now).limit(LOCKED_CAP * 2)))
    ids = {int(key[4:]) for key in blocked if key.startswith("2fa:") and key[4:].isdigit()}
    password_keys = {key for key in blocked if key.startswith("pw:")}
    if password_keys:
        since = now - timedelta(seconds=throttle_rules.MAX_DELAY_SECONDS + 60)
        candidates = set(
            db.scalars(
                select(AuditEvent.user_id)
                .where(AuditEvent.event == "authn_login_lock", AuditEvent.at >= since, AuditEvent.user_id.is_not(None))
                .distinct()
                .limit(LOCKED_CAP)
            )
        )
        if candidates:
            for user_id, email in db.execute(select(User.id, User.email).where(User.id.in_(candidates))):
                if throttling.password_key(ctx.digester.digest(email, "email")) in password_keys:
                    ids.add(user_id)
    return set(sorted(ids)[:LOCKED_CAP])


def _confirmed(kind: str | None = None) -> Any:
    condition = exists().where(Factor.user_id == User.id, Factor.confirmed_at.is_not(None))
    return condition.where(Factor.kind == kind) if kind else condition


def _filtered(ctx: Context, db: Session, query: UserQuery, now: datetime) -> Select[Any]:
    statement: Any = select(
        User.id,
        User.email,
        User.name,
        User.last_sign_in_at,
        User.password_hash.is_not(None).label("has_password"),
        User.invited_at,
        User.invitation_expires_at,
    )
    if query.q:
        pattern = like_pattern(query.q.lower())
        statement = statement.where(
            or_(User.email.like(pattern, escape="\\"), func.lower(User.name).like(pattern, escape="\\"))
        )
    if query.role:
        statement = statement.where(exists().where(UserRole.user_id == User.id, UserRole.role == query.role))
    if query.method:
        statement = statement.where(_confirmed(query.method))
    if query.status == "enrolled":
        statement = statement.where(_confirmed())
    elif query.status == "not_enrolled":
        statement = statement.where(~_confirmed())
    elif query.status == "invited":
        statement = statement.where(User.invited_at.is_not(None), User.password_hash.is_(None))
    elif query.status == "locked":
        statement = statement.where(User.id.in_(sorted(locked_user_ids(ctx, db, now)) or [-1]))
    return statement  # type: ignore[no-any-return]


def _any(db: Session, statement: Select[Any]) -> bool:
    return bool(db.scalar(select(statement.exists())))


def page_statement(ctx: Context, db: Session, query: UserQuery, now: datetime, limit: int) -> Select[Any]:
    """The statement one page runs (``limit`` + 1 rows, to know whether there is another page)."""
    statement = _filtered(ctx, db, query, now)
    if query.before:
        return statement.where(User.email < query.before).order_by(User.email.desc()).limit(limit + 1)
    if query.after:
        statement = statement.where(User.email > query.after)
    return statement.order_by(User.email).limit(limit + 1)


def list_users(ctx: Context, raw: UserQuery, limit: int = PAGE_SIZE) -> UserPage:
    """One page of users with their two-step state, in one short transaction."""
    query = raw.cleaned()
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = list(db.execute(page_statement(ctx, db, query, now, limit)))
        more = len(found) > limit
        found = found[:limit]
        if query.before:
            found.reverse()
        counted = int(
            db.scalar(select(func.count()).select_from(_filtered(ctx, db, query, now).limit(COUNT_CAP + 1).subquery()))
            or 0
        )
        ids = [row.id for row in found]
        admins = set(
            db.scalars(select(UserRole.user_id).where(UserRole.role == accounts.ADMIN, UserRole.user_id.in_(ids)))
        )
        factors: dict[int, list[tuple[str, datetime | None]]] = {}
        for user_id, kind, confirmed in db.execute(
            select(Factor.user_id, Factor.kind, Factor.confirmed_at)
            .where(Factor.user_id.in_(ids), Factor.confirmed_at.is_not(None))
            .order_by(Factor.id)
        ):
            factors.setdefault(user_id, []).append((kind, confirmed))
        throttled = throttled_until(ctx, db, found)
        roles = sorted(set(db.scalars(select(UserRole.role).distinct())) | {accounts.ADMIN})
        has_before, has_after = (more, False) if query.before else (False, more)
        if found and query.before:
            has_after = _any(db, _filtered(ctx, db, query, now).where(User.email > found[-1].email))
        elif found and query.after:
            has_before = _any(db, _filtered(ctx, db, query, now).where(User.email < found[0].email))
    rows = []
    for row in found:
        mine = factors.get(row.id, [])
        enrolled = [as_utc(at) for _, at in mine if at is not None]
        rows.append(
            ListedUser(
                id=row.id,
                email=row.email,
                name=row.name or "",
                is_admin=row.id in admins,
                methods=sorted({kind for kind, _ in mine}),
                enrolled_at=min(enrolled) if enrolled else None,
                last_sign_in_at=as_utc(row.last_sign_in_at) if row.last_sign_in_at else None,
                throttled_until=throttled.get(row.id),
                has_password=bool(row.has_password),
                invited_at=as_utc(row.invited_at) if row.invited_at else None,
                invitation_expires_at=as_utc(row.invitation_expires_at) if row.invitation_expires_at else None,
                now=now,
            )
        )
    return UserPage(
        rows=rows,
        query=query,
        count=min(counted, COUNT_CAP),
        count_capped=counted > COUNT_CAP,
        next_after=rows[-1].email if rows and has_after else "",
        previous_before=rows[0].email if rows and has_before else "",
        roles=roles,
    )
