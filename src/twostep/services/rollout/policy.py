"""The effective rollout policy: configuration (TOML file / environment) overridden by what an
administrator saved at /admin/policy, and what it means for one account at sign-in.

Overrides live in the ``policy_settings`` table, one row per key, so every worker reads the same
policy. The sign-in decision reads them inside its own transaction (always current); pages and the
command line refresh ``ctx.settings`` and ``ctx.password_policy`` from them at most every
``REFRESH_SECONDS`` (``apply``), so remember-device days and password rules follow the admin too.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from twostep.domain import rollout
from twostep.domain.clock import as_utc
from twostep.domain.passwords import PasswordPolicy
from twostep.domain.rollout import Decision, TwoStepPolicy, Verdict
from twostep.domain.spreadsheet import csv_row
from twostep.services.core import accounts, audit
from twostep.services.core.context import Context, RequestInfo
from twostep.settings import Settings
from twostep.storage.models import Factor, PolicySetting, User, UserRole

REFRESH_SECONDS = 5.0
Kind = Literal["choice", "roles", "methods", "int", "bool"]


@dataclass(frozen=True)
class PolicyField:
    key: str
    kind: Kind
    minimum: int = 0
    maximum: int = 0


FIELDS: tuple[PolicyField, ...] = (
    PolicyField("twofa_required", "choice"),
    PolicyField("twofa_required_roles", "roles"),
    PolicyField("twofa_immediate_roles", "roles"),
    PolicyField("twofa_allowed_methods", "methods"),
    PolicyField("twofa_grace_days", "int", 0, 3650),
    PolicyField("twofa_grace_sign_ins", "int", 0, 1000),
    PolicyField("passkey_sign_in", "bool"),
    PolicyField("remember_device_days", "int", 0, 365),
    PolicyField("password_min_length", "int", 8, 128),
    PolicyField("password_require_lower", "bool"),
    PolicyField("password_require_upper", "bool"),
    PolicyField("password_require_digit", "bool"),
    PolicyField("password_require_symbol", "bool"),
    PolicyField("password_check_common", "bool"),
)
KEYS = frozenset(f.key for f in FIELDS)


def _split(text: str) -> list[str]:
    return [piece.strip() for piece in text.replace(";", ",").split(",") if piece.strip()]


def two_step_policy(settings: Settings) -> TwoStepPolicy:
    return TwoStepPolicy(
        required=settings.twofa_required,
        required_roles=frozenset(rollout.parse_roles(settings.twofa_required_roles)[0]),
        immediate_roles=frozenset(rollout.parse_roles(settings.twofa_immediate_roles)[0]),
        allowed_methods=tuple(m for m in _split(settings.twofa_allowed_methods) if m in rollout.METHODS),
        grace_days=settings.twofa_grace_days,
        grace_sign_ins=settings.twofa_grace_sign_ins,
    )


def password_rules(settings: Settings) -> PasswordPolicy:
    return PasswordPolicy(
        min_length=settings.password_min_length,
        require_lower=settings.password_require_lower,
        require_upper=settings.password_require_upper,
        require_digit=settings.password_require_digit,
        require_symbol=settings.password_require_symbol,
        check_common=settings.password_check_common,
    )


# --- reading and applying overrides -------------------------------------------------------------


def read_overrides(db: Session) -> dict[str, Any]:
    rows = db.execute(select(PolicySetting.key, PolicySetting.value)).all()
    return {key: json.loads(value) for key, value in rows if key in KEYS}


def _base(ctx: Context) -> Settings:
    """The configured settings. If someone replaced ``ctx.settings`` (start-up, a test), that is the base."""
    cache = ctx.policy_cache
    if cache.get("effective") is not ctx.settings:
        cache["base"] = ctx.settings
        cache["effective"] = ctx.settings
        cache["overrides"] = {}
    base: Settings = cache["base"]
    return base


def merged(base: Settings, overrides: Mapping[str, Any]) -> Settings:
    return base.model_copy(update=dict(overrides)) if overrides else base


def current(ctx: Context, db: Session) -> Settings:
    """The effective settings, read now (for decisions that must not lag behind an admin's change)."""
    return merged(_base(ctx), read_overrides(db))


def apply(ctx: Context, *, force: bool = False) -> None:
    """Bring ``ctx.settings`` and ``ctx.password_policy`` up to date with the saved overrides.

    Cheap: one small query at most every few seconds, and nothing changes unless the overrides did.
    Call it outside any transaction (it opens its own)."""
    base = _base(ctx)
    cache = ctx.policy_cache
    now = time.monotonic()
    if not force and now - cache.get("loaded", -math.inf) < REFRESH_SECONDS:
        return
    with ctx.db.transaction() as db:
        overrides = read_overrides(db)
    cache["loaded"] = now
    if overrides == cache.get("overrides", {}):
        return
    effective = merged(base, overrides)
    cache["overrides"] = overrides
    cache["effective"] = effective
    ctx.settings = effective
    ctx.password_policy = password_rules(effective)


# --- the administrator's form -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    code: str
    params: dict[str, Any]


def _text(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    return ",".join(value) if isinstance(value, list) else value


def validate(form: Mapping[str, str | list[str] | None]) -> tuple[dict[str, Any], dict[str, FieldError]]:
    """Form values (checkboxes absent = off) → typed overrides, or errors by field key."""
    values: dict[str, Any] = {}
    errors: dict[str, FieldError] = {}
    for spec in FIELDS:
        raw = _text(form.get(spec.key))
        if spec.kind == "bool":
            values[spec.key] = raw.strip() in ("1", "on", "true", "yes")
        elif spec.kind == "int":
            try:
                number = int(raw.strip())
            except ValueError:
                number = None
            if number is None or not spec.minimum <= number <= spec.maximum:
                errors[spec.key] = FieldError("policy_number", {"min": spec.minimum, "max": spec.maximum})
            else:
                values[spec.key] = number
        elif spec.kind == "choice":
            if raw not in rollout.REQUIRED_CHOICES:
                errors[spec.key] = FieldError("policy_choice", {})
            else:
                values[spec.key] = raw
        elif spec.kind == "roles":
            good, bad = rollout.parse_roles(raw)
            if bad:
                errors[spec.key] = FieldError("role_invalid", {"roles": ", ".join(bad)})
            else:
                values[spec.key] = ",".join(good)
        else:
            chosen = [m for m in rollout.METHODS if m in _split(raw) or m == rollout.ALWAYS_ALLOWED]
            values[spec.key] = ",".join(chosen)
    if values.get("twofa_required") == "roles" and not values.get("twofa_required_roles"):
        errors.setdefault("twofa_required_roles", FieldError("policy_roles_needed", {}))
    return values, errors


def save(ctx: Context, values: Mapping[str, Any], *, actor_id: int | None, request: RequestInfo) -> list[str]:
    """Store validated overrides (see ``validate``); returns the keys whose effective value changed.

    A value equal to the configuration is not stored (its row goes), so a later change of the
    configuration file still reaches every setting the administrator did not change."""
    now = ctx.clock.now()
    base = _base(ctx)
    with ctx.db.transaction() as db:
        before = current(ctx, db)
        existing = {row.key: row for row in db.scalars(select(PolicySetting))}
        changed = [key for key, value in values.items() if key in KEYS and getattr(before, key) != value]
        for key, value in values.items():
            if key not in KEYS:
                continue
            row = existing.get(key)
            if value == getattr(base, key):
                if row is not None:
                    db.delete(row)
            elif row is None:
                db.add(PolicySetting(key=key, value=json.dumps(value), updated_at=now, updated_by=actor_id))
            elif json.loads(row.value) != value:
                row.value, row.updated_at, row.updated_by = json.dumps(value), now, actor_id
        actor = db.get(User, actor_id) if actor_id is not None else None
        audit.record(
            ctx,
            db,
            "policy_changed",
            request=request,
            actor=actor,
            changes={key: values[key] for key in changed},
        )
    apply(ctx, force=True)
    return changed


def reset(ctx: Context, *, actor_id: int | None, request: RequestInfo) -> None:
    """Forget every saved override: the configuration file and environment decide again."""
    with ctx.db.transaction() as db:
        db.execute(delete(PolicySetting).where(PolicySetting.key.in_(KEYS)))  # not the key canary
        actor = db.get(User, actor_id) if actor_id is not None else None
        audit.record(ctx, db, "policy_changed", request=request, actor=actor, changes="reset to configuration")
    apply(ctx, force=True)


@dataclass(frozen=True)
class PolicyView:
    values: dict[str, Any]
    configured: dict[str, Any]
    overridden: frozenset[str]
    roles_in_use: list[tuple[str, int]]


def policy_view(ctx: Context) -> PolicyView:
    with ctx.db.transaction() as db:
        overrides = read_overrides(db)
        base = _base(ctx)
        effective = merged(base, overrides)
        roles = db.execute(select(UserRole.role, func.count()).group_by(UserRole.role).order_by(UserRole.role)).all()
    return PolicyView(
        values={f.key: getattr(effective, f.key) for f in FIELDS},
        configured={f.key: getattr(base, f.key) for f in FIELDS},
        overridden=frozenset(k for k, v in overrides.items() if v != getattr(base, k)),
        roles_in_use=[(role, int(count)) for role, count in roles],
    )


# --- one account at sign-in ---------------------------------------------------------------------


def _decide(ctx: Context, db: Session, settings: Settings, user: User) -> Decision:
    return rollout.decide(
        two_step_policy(settings),
        roles=accounts.roles_of(db, user.id),
        must_enroll=bool(user.must_enroll),
        grace_started_at=as_utc(user.grace_started_at) if user.grace_started_at else None,
        grace_sign_ins=user.grace_sign_ins or 0,
        now=ctx.clock.now(),
    )


def decide_after_password(ctx: Context, db: Session, user: User) -> Decision:
    """For an account with no confirmed method: FREE, REMIND (counted here) or FORCE."""
    decision = _decide(ctx, db, current(ctx, db), user)
    if decision.verdict is Verdict.REMIND:
        if user.grace_started_at is None:
            user.grace_started_at = ctx.clock.now()
        user.grace_sign_ins = (user.grace_sign_ins or 0) + 1
    return decision


@dataclass(frozen=True)
class ReminderView:
    deadline: datetime | None
    days_left: int | None
    skips_left: int | None


def reminder_view(ctx: Context, user_id: int) -> ReminderView | None:
    """What the grace-period reminder says right after a sign-in; None when there is nothing to remind."""
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        if user is None or accounts.confirmed_methods(db, user_id):
            return None
        settings = current(ctx, db)
        policy = two_step_policy(settings)
        roles = accounts.roles_of(db, user_id)
        if not policy.required_for(roles) or not policy.has_grace or policy.immediate_for(roles):
            return None
        started = as_utc(user.grace_started_at) if user.grace_started_at else ctx.clock.now()
        deadline = started + timedelta(days=policy.grace_days) if policy.grace_days else None
        days_left = (
            max(0, math.ceil((deadline - ctx.clock.now()) / timedelta(days=1))) if deadline is not None else None
        )
        skips_left = max(0, policy.grace_sign_ins - (user.grace_sign_ins or 0)) if policy.grace_sign_ins else None
        return ReminderView(deadline=deadline, days_left=days_left, skips_left=skips_left)


def allowed_methods(ctx: Context) -> tuple[str, ...]:
    return two_step_policy(ctx.settings).allowed_methods


# --- who is missing -----------------------------------------------------------------------------

Status = Literal["required_now", "grace", "grace_not_started", "optional"]


@dataclass(frozen=True)
class MissingRow:
    user_id: int
    email: str
    name: str
    username: str
    roles: list[str]
    status: Status
    deadline: datetime | None
    skips_left: int | None
    last_sign_in_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class MissingReport:
    rows: list[MissingRow]
    total: int
    counts: dict[str, int]
    page: int
    pages: int


def _status(policy: TwoStepPolicy, user: Any, roles: list[str], now: datetime) -> tuple[Status, Decision]:
    decision = rollout.decide(
        policy,
        roles=roles,
        must_enroll=bool(user.must_enroll),
        grace_started_at=as_utc(user.grace_started_at) if user.grace_started_at else None,
        grace_sign_ins=user.grace_sign_ins or 0,
        now=now,
    )
    if decision.verdict is Verdict.FREE:
        return "optional", decision
    if decision.verdict is Verdict.FORCE:
        return "required_now", decision
    return ("grace" if decision.grace_started else "grace_not_started"), decision


CHUNK = 1000


def _missing_query(policy: TwoStepPolicy, only_required: bool) -> Any:
    has_method = exists().where(Factor.user_id == User.id, Factor.confirmed_at.is_not(None))
    query = select(
        User.id,
        User.email,
        User.name,
        User.legacy_username,
        User.must_enroll,
        User.grace_started_at,
        User.grace_sign_ins,
        User.last_sign_in_at,
        User.created_at,
    ).where(~has_method)
    if only_required and policy.required != "all":
        roles = policy.immediate_roles | (policy.required_roles if policy.required == "roles" else frozenset())
        query = query.where(
            User.must_enroll.is_(True) | exists().where(UserRole.user_id == User.id, UserRole.role.in_(roles))
        )
    return query.order_by(User.email)


def _iter_missing(ctx: Context, only_required: bool) -> Iterator[MissingRow]:
    """Accounts without a confirmed method, by email, read in short transactions of CHUNK rows
    (keyset pagination), so a long report never holds the database."""
    after = ""
    while True:
        with ctx.db.transaction() as db:
            policy = two_step_policy(current(ctx, db))
            now = ctx.clock.now()
            users = db.execute(_missing_query(policy, only_required).where(User.email > after).limit(CHUNK)).all()
            ids = [u.id for u in users]
            role_map: dict[int, list[str]] = {}
            if ids:
                pairs = db.execute(select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids)))
                for user_id, role in pairs:
                    role_map.setdefault(user_id, []).append(role)
        for user in users:
            roles = sorted(role_map.get(user.id, []))
            status, decision = _status(policy, user, roles, now)
            skips = None
            if status in ("grace", "grace_not_started") and policy.grace_sign_ins:
                skips = max(0, policy.grace_sign_ins - (user.grace_sign_ins or 0))
            yield MissingRow(
                user_id=user.id,
                email=user.email,
                name=user.name or "",
                username=user.legacy_username or "",
                roles=roles,
                status=status,
                deadline=decision.deadline if decision.grace_started else None,
                skips_left=skips,
                last_sign_in_at=user.last_sign_in_at,
                created_at=user.created_at,
            )
        if len(users) < CHUNK:
            return
        after = users[-1].email


def missing_report(ctx: Context, *, only_required: bool = False, page: int = 1, per_page: int = 200) -> MissingReport:
    """Accounts with no confirmed method, one page of them, and counts by status over all of them."""
    counts: dict[str, int] = {"required_now": 0, "grace": 0, "grace_not_started": 0, "optional": 0}
    rows: list[MissingRow] = []
    first = (max(page, 1) - 1) * per_page
    total = 0
    for row in _iter_missing(ctx, only_required):
        counts[row.status] += 1
        if first <= total < first + per_page:
            rows.append(row)
        total += 1
    pages = max(1, math.ceil(total / per_page))
    return MissingReport(rows=rows, total=total, counts=counts, page=max(page, 1), pages=pages)


CSV_COLUMNS = ["email", "name", "username", "roles", "status", "deadline", "skips_left", "last_sign_in", "created"]


def missing_csv(ctx: Context, *, only_required: bool = False) -> Iterator[str]:
    """The same report as CSV, produced in chunks (100,000 accounts never sit in memory at once)."""
    chunk = [csv_row(CSV_COLUMNS)]
    for count, row in enumerate(_iter_missing(ctx, only_required), start=1):
        chunk.append(
            csv_row(
                [
                    row.email,
                    row.name,
                    row.username,
                    ";".join(row.roles),
                    row.status,
                    row.deadline.date().isoformat() if row.deadline else "",
                    "" if row.skips_left is None else str(row.skips_left),
                    as_utc(row.last_sign_in_at).isoformat(timespec="seconds") if row.last_sign_in_at else "",
                    as_utc(row.created_at).isoformat(timespec="seconds"),
                ]
            )
        )
        if count % 500 == 0:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
