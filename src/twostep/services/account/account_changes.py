"""Changes a user makes on /account: remove a method, forget a device, end a session, new recovery
codes, a new password.

Every change (checklist S-09, T-16, RC-05, D-06, S-08, P-12):
1. needs a fresh re-authentication (services.reauth.is_fresh) — otherwise the outcome is "reauth";
2. is one transaction with its audit event;
3. is followed, after commit, by an email notification to the account's address (N-02); a
   notification that cannot be sent never undoes the change (N-04).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.login_flow import Stage
from twostep.domain.passkeys import clean_name
from twostep.services.account import reauth
from twostep.services.core import accounts, audit, devices, notify, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, recovery
from twostep.services.rollout import policy
from twostep.storage.models import RememberedDevice, User, WebSession

Outcome = Literal["done", "reauth", "no_session", "not_found", "last_method", "invalid", "throttled"]


@dataclass(frozen=True)
class ChangeResult:
    """``code`` is a message id (web/core/messages.py) and ``form_field`` the form input it belongs to."""

    outcome: Outcome
    code: str = ""
    form_field: str = ""
    wait_seconds: int = 0
    recovery_codes: list[str] = dataclasses.field(default_factory=list)


def two_step_required(ctx: Context, db: Session, user: User) -> bool:
    """Whether the rollout policy (services.policy, as an administrator left it) requires this
    account to keep at least one method."""
    settings = policy.current(ctx, db)
    return policy.two_step_policy(settings).required_for(accounts.roles_of(db, user.id))


def _begin(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | ChangeResult:
    row = sessions.load(ctx, db, token)
    if row is None or row.stage != Stage.SIGNED_IN.value:
        return ChangeResult("no_session")
    user = db.get(User, row.user_id)
    if user is None:
        return ChangeResult("no_session")
    if not reauth.is_fresh(ctx, db, row):
        return ChangeResult("reauth")
    return row, user


def remove_method(ctx: Context, token: str | None, factor_id: int, request: RequestInfo) -> ChangeResult:
    """Never the last method while two-step verification is required (the account would be open
    to the password alone). Remembered devices are forgotten too (D-05)."""
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        _row, user = begun
        methods = accounts.confirmed_methods(db, user.id)
        factor = next((f for f in methods if f.id == factor_id), None)
        if factor is None:
            return ChangeResult("not_found")
        if len(methods) == 1 and two_step_required(ctx, db, user):
            return ChangeResult("last_method", code="last_method")
        kind, label = factor.kind, factor.label
        db.delete(factor)
        accounts.revoke_remembered_devices(db, user.id)
        audit.record(ctx, db, "authn_token_delete", request=request, user=user, method=kind)
        notify.tell_owner_after_commit(ctx, db, user, "method_removed", request, method=kind, label=label)
        return ChangeResult("done")


def rename_passkey(
    ctx: Context, token: str | None, factor_id: int, raw_name: str, request: RequestInfo
) -> ChangeResult:
    """A new name for one of this user's passkeys. Not a change to how anyone signs in, so no
    re-authentication: a signed-in session and the user's own passkey are enough."""
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is None or row.stage != Stage.SIGNED_IN.value:
            return ChangeResult("no_session")
        user = db.get(User, row.user_id)
        factor = passkey.passkey_method(accounts.confirmed_methods(db, row.user_id), factor_id)
        if user is None or factor is None:
            return ChangeResult("not_found")
        name = clean_name(raw_name)
        if not name:
            return ChangeResult("invalid", code="passkey_name_empty", form_field="name")
        factor.label = name
        audit.record(ctx, db, "authn_passkey_renamed", request=request, user=user, factor_id=factor.id)
        return ChangeResult("done")


def revoke_device(ctx: Context, token: str | None, device_id: int, request: RequestInfo) -> ChangeResult:
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        _row, user = begun
        device = db.get(RememberedDevice, device_id)
        if device is None or device.user_id != user.id:
            return ChangeResult("not_found")
        browser = device.browser
        db.delete(device)
        audit.record(ctx, db, "authn_token_revoked", request=request, user=user, kind="remembered_device")
        notify.tell_owner_after_commit(ctx, db, user, "device_revoked", request, device=browser)
        return ChangeResult("done")


def end_session(ctx: Context, token: str | None, session_id: str, request: RequestInfo) -> ChangeResult:
    """Sign out one other session of this user ("this browser" signs out with the usual button)."""
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        row, user = begun
        target = db.get(WebSession, session_id[:64])
        if target is None or target.user_id != user.id or target.id == row.id:
            return ChangeResult("not_found")
        browser = devices.browser_summary(target.user_agent)
        db.delete(target)
        audit.record(ctx, db, "session_logout", request=request, user=user, reason="ended_from_account")
        notify.tell_owner_after_commit(ctx, db, user, "session_ended", request, device=browser, count=1)
        return ChangeResult("done")


def end_other_sessions(ctx: Context, token: str | None, request: RequestInfo) -> ChangeResult:
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        row, user = begun
        others = db.scalars(select(WebSession.id).where(WebSession.user_id == user.id, WebSession.id != row.id))
        count = len(list(others))
        if count == 0:
            return ChangeResult("not_found")
        sessions.destroy_all(db, user.id, except_id=row.id)
        audit.record(ctx, db, "session_logout", request=request, user=user, reason="ended_others", count=count)
        notify.tell_owner_after_commit(ctx, db, user, "session_ended", request, device="", count=count)
        return ChangeResult("done")


def regenerate_recovery_codes(ctx: Context, token: str | None, request: RequestInfo) -> ChangeResult:
    """Every earlier code stops working (RC-05); the new ones exist in clear only in this result."""
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        _row, user = begun
        codes = recovery.regenerate(ctx, db, user.id)
        audit.record(ctx, db, "authn_token_created", request=request, user=user, kind="recovery_codes")
        notify.tell_owner_after_commit(ctx, db, user, "recovery_codes", request)
        return ChangeResult("done", recovery_codes=codes)


def change_password(
    ctx: Context,
    token: str | None,
    current_password: str,
    new_password: str,
    new_password_confirm: str,
    request: RequestInfo,
) -> ChangeResult:
    """The current password is asked even right after re-authentication (P-12). Afterwards every
    other session and every remembered device is signed out (D-05, ASVS 7.4.3)."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        _row, user = begun
        user_id, email, stored_hash = user.id, user.email, user.password_hash
        key = throttling.password_key(ctx.digester.digest(email, "email"))
        wait = throttling.wait_seconds(db, key, now)
    if wait:
        return ChangeResult("throttled", code="throttled", form_field="current_password", wait_seconds=wait)
    if not current_password:
        return ChangeResult("invalid", code="current_password_missing", form_field="current_password")
    ok = ctx.hashing.verify(stored_hash, current_password)
    new_hash: str | None = None
    if ok:
        if new_password != new_password_confirm:
            return ChangeResult("invalid", code="passwords_differ", form_field="password_confirm")
        if new_password == current_password:
            return ChangeResult("invalid", code="password_unchanged", form_field="password")
        try:
            accounts.check_new_password(ctx, new_password, email)
        except accounts.AccountError as error:
            return ChangeResult("invalid", code=error.code, form_field="password")
        new_hash = ctx.hashing.hash(new_password)
    with ctx.db.transaction() as db:
        begun = _begin(ctx, db, token)
        if isinstance(begun, ChangeResult):
            return begun
        row, user = begun
        if user.id != user_id or user.password_hash != stored_hash:
            return ChangeResult("invalid", code="password_wrong", form_field="current_password")
        if not ok or new_hash is None:
            failures = throttling.record_failure(db, key, now)
            audit.record(
                ctx, db, "authn_password_change_fail", request=request, user=user, outcome="failure",
                failures=failures,
            )
            wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
            if wait:
                return ChangeResult("throttled", code="throttled", form_field="current_password", wait_seconds=wait)
            return ChangeResult("invalid", code="password_wrong", form_field="current_password")
        throttling.clear(db, key)
        user.password_hash = new_hash
        user.password_changed_at = now
        sessions.destroy_all(db, user.id, except_id=row.id)
        accounts.revoke_remembered_devices(db, user.id)
        audit.record(ctx, db, "authn_password_change", request=request, user=user)
        notify.tell_owner_after_commit(ctx, db, user, "password_changed", request)
        return ChangeResult("done")
