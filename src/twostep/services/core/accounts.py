"""Accounts: creation, password changes, roles, the first administrator's setup link."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.domain.emails import normalize_email
from twostep.domain.passwords import password_problems
from twostep.services.core import admin_role, audit
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import Factor, RememberedDevice, SetupToken, User, UserRole

ADMIN = admin_role.ADMIN
SETUP_LINK_LIFETIME = timedelta(hours=24)


class AccountError(ValueError):
    """A refusal with a message id the web layer translates; ``field`` ties it to a form input."""

    def __init__(self, code: str, field: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class UserSummary:
    id: int
    email: str
    roles: list[str]
    methods: list[str]


def roles_of(db: Session, user_id: int) -> list[str]:
    return sorted(db.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def is_admin(db: Session, user_id: int) -> bool:
    return bool(db.scalar(select(exists().where(UserRole.user_id == user_id, UserRole.role == ADMIN))))


def confirmed_methods(db: Session, user_id: int) -> list[Factor]:
    return list(
        db.scalars(
            select(Factor)
            .where(Factor.user_id == user_id, Factor.confirmed_at.is_not(None))
            .order_by(Factor.id)
        )
    )


def find_user_by_email(db: Session, raw_email: str) -> User | None:
    email = normalize_email(raw_email)
    if email is None:
        return None
    return db.scalar(select(User).where(User.email == email))


def check_new_password(ctx: Context, password: str, email: str) -> None:
    problems = password_problems(password, ctx.password_policy, email=email, service_name=ctx.service_name)
    if problems:
        raise AccountError(problems[0], "password")


def create_user_in(
    ctx: Context,
    db: Session,
    raw_email: str,
    password: str | None,
    *,
    roles: list[str] | None = None,
    name: str = "",
    language: str | None = None,
) -> User:
    email = normalize_email(raw_email)
    if email is None:
        raise AccountError("email_invalid", "email")
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError("email_taken", "email")
    if password is not None:
        check_new_password(ctx, password, email)
    now = ctx.clock.now()
    user = User(
        email=email,
        name=name,
        language=language,
        password_hash=ctx.hashing.hash(password) if password is not None else None,
        created_at=now,
        password_changed_at=now if password is not None else None,
        sign_in_count=0,
        must_enroll=False,
    )
    db.add(user)
    db.flush()
    for role in sorted(set(roles or [])):
        db.add(UserRole(user_id=user.id, role=role))
    return user


def create_user(
    ctx: Context,
    raw_email: str,
    password: str | None,
    *,
    admin: bool = False,
    roles: list[str] | None = None,
    request: RequestInfo | None = None,
) -> int:
    all_roles = list(roles or []) + ([ADMIN] if admin else [])
    with ctx.db.transaction() as db:
        user = create_user_in(ctx, db, raw_email, password, roles=all_roles)
        audit.record(ctx, db, "user_created", request=request or RequestInfo(), user=user, roles=all_roles)
        if ADMIN in all_roles:
            admin_role.record_change(
                ctx, db, user, granted=True, grantor=admin_role.Grantor(None), request=request or RequestInfo()
            )
        return user.id


def list_users(ctx: Context) -> list[UserSummary]:
    with ctx.db.transaction() as db:
        users = db.scalars(select(User).order_by(User.email)).all()
        role_rows = db.execute(select(UserRole.user_id, UserRole.role)).all()
        factor_rows = db.execute(
            select(Factor.user_id, Factor.kind).where(Factor.confirmed_at.is_not(None))
        ).all()
    roles: dict[int, list[str]] = {}
    for user_id, role in role_rows:
        roles.setdefault(user_id, []).append(role)
    methods: dict[int, list[str]] = {}
    for user_id, kind in factor_rows:
        methods.setdefault(user_id, []).append(kind)
    return [
        UserSummary(u.id, u.email, sorted(roles.get(u.id, [])), sorted(methods.get(u.id, []))) for u in users
    ]


def admin_exists(ctx: Context) -> bool:
    with ctx.db.transaction() as db:
        return bool(db.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == ADMIN)))


def issue_setup_link(ctx: Context) -> str | None:
    """A one-time link to create the first administrator; None once one exists."""
    with ctx.db.transaction() as db:
        if db.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == ADMIN)):
            return None
        token = secrets.token_urlsafe(24)
        now = ctx.clock.now()
        db.execute(delete(SetupToken))
        db.add(
            SetupToken(
                token_digest=ctx.digester.digest(token, "setup"),
                created_at=now,
                expires_at=now + SETUP_LINK_LIFETIME,
                used_at=None,
            )
        )
    return f"{ctx.settings.base_url}/setup/{token}"


def setup_token_valid(ctx: Context, db: Session, token: str) -> SetupToken | None:
    row = next(
        (r for d in ctx.digester.candidates(token, "setup") if (r := db.get(SetupToken, d)) is not None), None
    )
    if row is None or row.used_at is not None or as_utc(row.expires_at) <= ctx.clock.now():
        return None
    if db.scalar(select(func.count()).select_from(UserRole).where(UserRole.role == ADMIN)):
        return None
    return row


def revoke_remembered_devices(db: Session, user_id: int) -> None:
    db.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user_id))
