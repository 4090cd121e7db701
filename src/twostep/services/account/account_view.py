"""What /account shows: a read-only overview with masked labels only, never a secret."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from twostep.domain import passkeys
from twostep.domain.amr import counts_as_both_factors
from twostep.domain.clock import as_utc
from twostep.domain.codes import RECOVERY_CODE_COUNT, RECOVERY_LOW_WATERMARK
from twostep.domain.login_flow import REAUTH_WINDOW, Stage
from twostep.services.account import account_changes, reauth
from twostep.services.core import accounts, devices, sessions
from twostep.services.core.context import Context
from twostep.services.enrollment import passkey_enrollment
from twostep.services.factors import passkey, recovery
from twostep.services.factors import registry as factor_registry
from twostep.storage.models import Factor, RememberedDevice, User, WebSession


@dataclass(frozen=True)
class MethodRow:
    id: int
    kind: str
    label: str
    enrolled_at: datetime | None
    last_used_at: datetime | None
    removable: bool
    # Turned off after too many consecutive wrong codes (services.guesses): not usable until replaced.
    disabled: bool = False


@dataclass(frozen=True)
class PasskeyRow:
    """One passkey on My account: the name its owner gave it, its provider when the AAGUID is known
    ("Google Password Manager"…), whether it is synced between devices (backed up)."""

    id: int
    name: str
    provider: str | None
    synced: bool
    created_at: datetime | None
    last_used_at: datetime | None
    disabled: bool


@dataclass(frozen=True)
class DeviceRow:
    id: int
    browser: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class SessionRow:
    id: str
    browser: str
    ip: str
    signed_in_at: datetime
    last_seen_at: datetime
    current: bool


@dataclass(frozen=True)
class AccountOverview:
    email: str
    methods: list[MethodRow]
    devices: list[DeviceRow]
    sessions: list[SessionRow]
    recovery_left: int
    recovery_total: int
    recovery_low: bool
    password_changed_at: datetime | None
    can_change: bool
    change_window_until: datetime | None
    two_step_required: bool
    passkeys: list[PasskeyRow] = field(default_factory=list)
    #: "Add a passkey" is offered (passkeys work here and the policy allows them).
    passkeys_offered: bool = False


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def masked_label(factor: Factor, service_name: str, email: str) -> str:
    """What identifies the method to its owner without revealing it to a shoulder-surfer.

    Email and SMS methods carry a label masked when they were set up; an authenticator app is
    named the way the app itself shows the entry (issuer and account, from the otpauth URI).
    """
    return factor_registry.label(factor, service_name, email)


def _method_order(factor: Factor) -> tuple[int, int]:
    return factor_registry.rank(factor.kind), factor.id


def overview(ctx: Context, user_id: int, current_session_id: str) -> AccountOverview:
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        now = ctx.clock.now()
        confirmed = sorted(accounts.confirmed_methods(db, user_id), key=_method_order)
        required = account_changes.two_step_required(ctx, db, user)
        removable = len(confirmed) > 1 or not required
        methods = [
            MethodRow(
                f.id,
                f.kind,
                masked_label(f, ctx.service_name, user.email),
                _utc(f.confirmed_at),
                _utc(f.last_used_at),
                removable,
                f.disabled_at is not None,
            )
            for f in confirmed
        ]
        device_rows = [
            DeviceRow(d.id, d.browser, as_utc(d.created_at), as_utc(d.expires_at), _utc(d.last_used_at))
            for d in db.scalars(
                select(RememberedDevice)
                .where(RememberedDevice.user_id == user_id)
                .order_by(RememberedDevice.created_at.desc())
            )
            if as_utc(d.expires_at) > now
        ]
        live: list[SessionRow] = []
        current: WebSession | None = None
        for s in db.scalars(
            select(WebSession)
            .where(WebSession.user_id == user_id, WebSession.stage == Stage.SIGNED_IN.value)
            .order_by(WebSession.last_seen_at.desc())
        ):
            if as_utc(s.expires_at) <= now:
                continue
            if s.id == current_session_id:
                current = s
            live.append(
                SessionRow(
                    s.id,
                    devices.browser_summary(s.user_agent),
                    s.ip,
                    as_utc(s.created_at),
                    as_utc(s.last_seen_at),
                    s.id == current_session_id,
                )
            )
        live.sort(key=lambda row: not row.current)
        can_change = current is not None and reauth.is_fresh(ctx, db, current)
        window_until = None
        if can_change and current is not None:
            moments = (current.second_step_at,) if counts_as_both_factors(current.method) else (
                current.password_at, current.second_step_at)
            stamps = [as_utc(t) for t in moments if t is not None]
            window_until = min(stamps) + REAUTH_WINDOW if stamps else None
        left = recovery.remaining(db, user_id)
        return AccountOverview(
            email=user.email,
            methods=methods,
            devices=device_rows,
            sessions=live,
            recovery_left=left,
            recovery_total=RECOVERY_CODE_COUNT,
            recovery_low=left <= RECOVERY_LOW_WATERMARK,
            password_changed_at=_utc(user.password_changed_at),
            can_change=can_change,
            change_window_until=window_until,
            two_step_required=required,
            passkeys=_passkeys(db, passkey.passkey_methods(confirmed)),
            passkeys_offered=passkey_enrollment.offered(ctx),
        )


def _passkeys(db: Session, factors: list[Factor]) -> list[PasskeyRow]:
    by_factor = {row.factor_id: row for row in passkey.credentials_of(db, [f.id for f in factors])}
    rows = []
    for factor in factors:
        credential = by_factor.get(factor.id)
        rows.append(
            PasskeyRow(
                id=factor.id,
                name=factor.label,
                provider=passkeys.provider_name(credential.aaguid) if credential is not None else None,
                synced=credential is not None and (credential.backed_up or credential.backup_eligible),
                created_at=_utc(factor.confirmed_at),
                last_used_at=_utc(factor.last_used_at),
                disabled=factor.disabled_at is not None,
            )
        )
    return rows


@dataclass(frozen=True)
class MethodToRemove:
    id: int
    kind: str
    label: str
    last_method: bool


def method_to_remove(ctx: Context, token: str | None, factor_id: int) -> MethodToRemove | None:
    """The confirmation page's view of one of *this* user's methods (None for anyone else's)."""
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None:
            return None
        user = db.get(User, row.user_id)
        if user is None:
            return None
        methods = accounts.confirmed_methods(db, user.id)
        factor = next((f for f in methods if f.id == factor_id), None)
        if factor is None:
            return None
        return MethodToRemove(
            id=factor.id,
            kind=factor.kind,
            label=masked_label(factor, ctx.service_name, user.email),
            last_method=len(methods) == 1 and account_changes.two_step_required(ctx, db, user),
        )
