"""What /account shows: a read-only overview with masked labels only, never a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from twostep.domain.clock import as_utc
from twostep.services import accounts, recovery
from twostep.services.context import Context
from twostep.storage.models import RememberedDevice, User, WebSession


@dataclass(frozen=True)
class MethodRow:
    id: int
    kind: str
    label: str
    enrolled_at: datetime | None
    last_used_at: datetime | None


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
    user_agent: str
    ip: str
    last_seen_at: datetime
    current: bool


@dataclass(frozen=True)
class AccountOverview:
    email: str
    methods: list[MethodRow]
    devices: list[DeviceRow]
    sessions: list[SessionRow]
    recovery_left: int
    password_changed_at: datetime | None


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def overview(ctx: Context, user_id: int, current_session_id: str) -> AccountOverview:
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        methods = [
            MethodRow(f.id, f.kind, f.label, _utc(f.confirmed_at), _utc(f.last_used_at))
            for f in accounts.confirmed_methods(db, user_id)
        ]
        now = ctx.clock.now()
        devices = [
            DeviceRow(d.id, d.browser, as_utc(d.created_at), as_utc(d.expires_at), _utc(d.last_used_at))
            for d in db.scalars(select(RememberedDevice).where(RememberedDevice.user_id == user_id))
            if as_utc(d.expires_at) > now
        ]
        live = [
            SessionRow(s.id, s.user_agent, s.ip, as_utc(s.last_seen_at), s.id == current_session_id)
            for s in db.scalars(
                select(WebSession).where(WebSession.user_id == user_id, WebSession.stage == "signed_in")
            )
            if as_utc(s.expires_at) > now
        ]
        return AccountOverview(
            email=user.email,
            methods=methods,
            devices=devices,
            sessions=live,
            recovery_left=recovery.remaining(db, user_id),
            password_changed_at=_utc(user.password_changed_at),
        )
