"""Read models for the web layer: small, typed snapshots instead of ORM objects."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from twostep.domain.factors import FactorKind
from twostep.domain.login_flow import Stage
from twostep.services.core import accounts, sessions, throttling
from twostep.services.core.context import Context
from twostep.services.factors import passkey
from twostep.services.rollout.policy import allowed_methods
from twostep.services.signin import login
from twostep.storage.models import User


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    user_id: int
    email: str
    stage: str
    language: str | None
    is_admin: bool
    must_replace_method: bool
    reauth_fresh: bool


def session_info(ctx: Context, token: str | None) -> SessionInfo | None:
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None:
            return None
        user = db.get(User, row.user_id)
        if user is None:
            return None
        return SessionInfo(
            session_id=row.id,
            user_id=user.id,
            email=user.email,
            stage=row.stage,
            language=user.language,
            is_admin=accounts.is_admin(db, user.id),
            must_replace_method=row.must_replace_method,
            reauth_fresh=sessions.reauthenticated_recently(ctx, row),
        )


def save_language(ctx: Context, user_id: int, language: str) -> None:
    with ctx.db.transaction() as db:
        db.execute(update(User).where(User.id == user_id).values(language=language))


@dataclass(frozen=True)
class CodePageView:
    email: str
    method: str
    methods: list[str]
    target_label: str
    wait_seconds: int


def code_page_view(ctx: Context, token: str | None) -> CodePageView | None:

    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
        if row is None:
            return None
        user = db.get(User, row.user_id)
        if user is None:
            return None
        method = login.chosen_method(db, user, row) or "totp"
        label = next((f.label for f in accounts.confirmed_methods(db, user.id) if f.kind == method), "")
        wait = throttling.wait_seconds(db, throttling.second_step_key(user.id), ctx.clock.now())
        return CodePageView(
            email=user.email,
            method=method,
            methods=login.available_methods(db, user.id),
            target_label=label,
            wait_seconds=wait,
        )


def enrollment_choices(ctx: Context) -> list[str]:
    """A passkey first (phishing-resistant) where passkeys can work, then the app, then SMS when
    enabled, then email."""
    choices = [FactorKind.PASSKEY.value] if passkey.available(ctx) else []
    choices.append("totp")
    if ctx.settings.sms_enabled:
        choices.append("sms")
    choices.append("email")

    return [choice for choice in choices if choice in allowed_methods(ctx)]
