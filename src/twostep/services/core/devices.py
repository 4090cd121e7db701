"""Remembered devices: a 256-bit token in its own cookie that skips only the second step, only for
the user it was issued to, until an absolute expiry (checklist D-01..D-05)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twostep.domain.clock import as_utc
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import RememberedDevice


def browser_summary(user_agent: str) -> str:
    """A short human label ("Firefox on Linux") rather than the whole user-agent string."""
    agent = user_agent.lower()
    browser = next(
        (
            name
            for key, name in [
                ("edg/", "Edge"),
                ("firefox", "Firefox"),
                ("chrome", "Chrome"),
                ("safari", "Safari"),
            ]
            if key in agent
        ),
        "Browser",
    )
    system = next(
        (
            name
            for key, name in [
                ("android", "Android"),
                ("iphone", "iPhone"),
                ("ipad", "iPad"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            ]
            if key in agent
        ),
        "",
    )
    return f"{browser} on {system}" if system else browser


def issue(ctx: Context, db: Session, user_id: int, request: RequestInfo) -> str:
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    db.add(
        RememberedDevice(
            user_id=user_id,
            token_digest=ctx.digester.digest(token, "device"),
            created_at=now,
            expires_at=now + timedelta(days=ctx.settings.remember_device_days),
            last_used_at=None,
            browser=browser_summary(request.user_agent),
        )
    )
    return token


def find_valid(ctx: Context, db: Session, token: str | None, user_id: int) -> RememberedDevice | None:
    """The device record only if it belongs to *this* user and is within its absolute expiry."""
    if not token or ctx.settings.remember_device_days == 0 or len(token) > 100:
        return None
    row = db.scalar(
        select(RememberedDevice).where(RememberedDevice.token_digest.in_(ctx.digester.candidates(token, "device")))
    )
    if row is None or row.user_id != user_id or as_utc(row.expires_at) <= ctx.clock.now():
        return None
    return row
