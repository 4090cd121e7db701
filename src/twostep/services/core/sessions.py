"""Server-side sessions: the cookie holds a random token; the table holds its digest and the state."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from twostep.domain.amr import counts_as_both_factors
from twostep.domain.clock import as_utc
from twostep.domain.login_flow import (
    ABSOLUTE_TIMEOUT,
    ENROLL_LIFETIME,
    IDLE_TIMEOUT,
    PENDING_LIFETIME,
    REAUTH_WINDOW,
    Stage,
)
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import OidcToken, User, WebSession

TOUCH_EVERY_SECONDS = 30


def session_id(ctx: Context, token: str) -> str:
    return ctx.digester.digest(token, "session")


def _find(ctx: Context, db: Session, token: str) -> WebSession | None:
    """By the current key's digest; after a key rotation, by a previous key's (docs/operations.md (the secret key))."""
    for candidate in ctx.digester.candidates(token, "session"):
        row = db.get(WebSession, candidate)
        if row is not None:
            return row
    return None


def create(
    ctx: Context,
    db: Session,
    user: User,
    stage: Stage,
    request: RequestInfo,
    *,
    password_at: datetime | None = None,
    second_step_at: datetime | None = None,
    via_remembered_device: bool = False,
    mailbox_proven_at: datetime | None = None,
    replacing: WebSession | None = None,
    method: str | None = None,
    data: dict[str, Any] | None = None,
    carry_data: bool = True,
) -> str:
    """A fresh id at every step (checklist S-02); the replaced session row is deleted.

    What a session has proven or owes (a pending method replacement, a mailbox proof) carries over
    to its successor only when both belong to the same user: signing in as someone else in the same
    browser starts from nothing. So does where the flow continues after sign-in (``CARRIED_DATA``:
    ``services.signin.completion``), unless ``carry_data`` is False (the completion uses it up);
    ``data`` sets values of the new session's own.
    """
    now = ctx.clock.now()
    carried_keys = CARRIED_DATA if carry_data else ()
    carried = replacing if replacing is not None and replacing.user_id == user.id else None
    if replacing is not None:
        db.delete(replacing)
    token = secrets.token_urlsafe(32)
    lifetime = {
        Stage.SECOND_STEP: PENDING_LIFETIME,
        Stage.RESET_SECOND_STEP: PENDING_LIFETIME,
        Stage.ENROLL: ENROLL_LIFETIME,
    }.get(stage, ABSOLUTE_TIMEOUT)
    created_at, expires_at = now, now + lifetime
    if replacing is not None and replacing.stage == Stage.SIGNED_IN.value and stage is Stage.SIGNED_IN:
        # Re-authentication rotates the id but never stretches the 12-hour absolute limit.
        created_at, expires_at = as_utc(replacing.created_at), as_utc(replacing.expires_at)
    db.add(
        WebSession(
            id=session_id(ctx, token),
            user_id=user.id,
            stage=stage.value,
            created_at=created_at,
            last_seen_at=now,
            expires_at=expires_at,
            code_attempts=0,
            password_at=password_at,
            second_step_at=second_step_at,
            via_remembered_device=via_remembered_device,
            method=method,  # the second-step method used (the OIDC ``amr`` says so)
            must_replace_method=carried.must_replace_method if carried is not None else False,
            mailbox_proven_at=mailbox_proven_at or (carried.mailbox_proven_at if carried is not None else None),
            ip=request.ip[:64],
            user_agent=request.user_agent[:300],
            data=json.dumps({**_carried_data(carried, carried_keys), **(data or {})}),
        )
    )
    return token


#: Keys of a session's ``data`` its successor inherits (same user only).
#: ``continue_to``: where the sign-in continues (services.signin.completion).
CARRIED_DATA = ("continue_to",)


def _carried_data(row: WebSession | None, keys: tuple[str, ...] = CARRIED_DATA) -> dict[str, Any]:
    if row is None:
        return {}
    try:
        found = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return {key: found[key] for key in keys if isinstance(found, dict) and key in found}


def load(ctx: Context, db: Session, token: str | None) -> WebSession | None:
    """The live session for this token, or None (expired sessions are deleted on sight)."""
    if not token or len(token) > 100:
        return None
    row = _find(ctx, db, token)
    if row is None:
        return None
    now = ctx.clock.now()
    idle_limit = as_utc(row.last_seen_at) + IDLE_TIMEOUT
    if now >= as_utc(row.expires_at) or (row.stage == Stage.SIGNED_IN and now >= idle_limit):
        db.delete(row)
        return None
    if (now - as_utc(row.last_seen_at)).total_seconds() >= TOUCH_EVERY_SECONDS:
        row.last_seen_at = now
    return row


def destroy_all(db: Session, user_id: int, *, except_id: str | None = None) -> None:
    statement = delete(WebSession).where(WebSession.user_id == user_id)
    if except_id is not None:
        statement = statement.where(WebSession.id != except_id)
    db.execute(statement)
    # Every caller is a credential change or "sign out everywhere": the user's OpenID Connect tokens
    # (refresh tokens included) go too, or a client would keep access the user just took back.
    db.execute(delete(OidcToken).where(OidcToken.user_id == user_id))


def reauthenticated_recently(ctx: Context, row: WebSession) -> bool:
    """Password and a real second step within five minutes, or a passkey (two factors by itself:
    user verification on the authenticator) within five minutes; a remembered device never counts."""
    now = ctx.clock.now()
    if row.second_step_at is None or row.via_remembered_device:
        return False
    if counts_as_both_factors(row.method):
        return now - as_utc(row.second_step_at) <= REAUTH_WINDOW
    if row.password_at is None:
        return False
    return (
        now - as_utc(row.password_at) <= REAUTH_WINDOW and now - as_utc(row.second_step_at) <= REAUTH_WINDOW
    )


def pending(ctx: Context, db: Session, token: str | None, stage: Stage) -> WebSession | None:
    """The session behind ``token`` if it is at ``stage`` (a sign-in or reset waiting for a step)."""
    row = load(ctx, db, token)
    return row if row is not None and row.stage == stage.value else None
