"""One sign-in completion: every successful sign-in ends in ``complete_sign_in``.

Password only (no second step yet, or a remembered device), the second step, a recovery code: each
calls it in its transaction, and it does the same things in the same order — rotate the session id
(checklist S-02: a new id for the signed-in session, the pending one deleted), remember this device
if asked, count the sign-in and the method used, write ``authn_login_success`` — and says where the
browser goes next: ``continue_to``.

``continue_to`` is the one way a flow resumes after sign-in (a page that sent the browser to
``/login?next=…``, forward-auth's ``/login?rd=…``, an OIDC authorization). It is validated by one
function, ``continue_target``, when it enters (``/login``), stored server side in the pending
session (``remember_target``), carried through every rotation of the session id (only between
sessions of the same user), and validated again when it is used. Allowed: a path on this site
(``domain.links.same_origin_path``), or an absolute ``http(s)`` URL a registered predicate allows
(``allow_destinations``: forward-auth registers its protected hosts at start-up). Anything else falls
back to the default page; no redirect ever leaves for a host nobody registered (an open redirect).

A path is used up by the completion. An absolute URL (another host) is kept in the signed-in session
and the completion answers ``RESUME_PATH`` instead: the browser gets there from a form's POST, and
our CSP (``form-action 'self'``) also stops a redirect *after* a form submission to another host, so
the last hop is ``GET /login/continue``, which takes the target (``take_target``) and sends the browser
on. The enrollment's and the lost-phone flow's "Continue" links lead there too.

Stable API for the other features::

    target = continue_target(ctx, raw)            # None, or the validated target
    target = take_target(ctx, token)              # read and clear what a session still carries
    remember_target(db_row, target)               # store it in a (pending) session
    done = complete_sign_in(ctx, db, user, request, replacing=row, method="totp", ...)
    done.token, done.device_token, done.continue_to, done.notices
    keep_target(ctx, token, target)               # a signed-in session resumes there (step-up)
    allow_destinations(ctx, predicate)            # register absolute destinations (create_app)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from twostep.domain.links import MAX_LENGTH, same_origin_path
from twostep.domain.login_flow import Stage
from twostep.domain.text_input import is_clean
from twostep.services.core import audit, devices, notify, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import registry as factor_registry
from twostep.storage.models import RememberedDevice, User, WebSession

DEFAULT_TARGET = "/account"
#: Where a sign-in that continues to another host ends: a GET page that takes the kept target.
RESUME_PATH = "/login/continue"
#: The session ``data`` key that carries the target through the flow.
DATA_KEY = "continue_to"


def allow_destinations(ctx: Context, predicate: Callable[[str], bool]) -> None:
    """Allow absolute ``continue_to`` URLs ``predicate`` accepts (it sees the whole URL, already
    checked to be http(s), with a host and no user info)."""
    ctx.continue_destinations.append(predicate)


def continue_target(ctx: Context, raw: str | None) -> str | None:
    """The one validation of a ``continue_to`` target: a same-origin path, or an absolute http(s) URL
    without user info whose host a registered predicate allows; None for anything else."""
    value = (raw or "").strip()
    if not value or len(value) > MAX_LENGTH or not is_clean(value) or "\\" in value:
        return None
    if value.startswith("/"):
        path = same_origin_path(value, default="")
        return path or None
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password or not port_ok:
        return None
    if any(predicate(value) for predicate in ctx.continue_destinations):
        return value
    return None


def _data(row: WebSession) -> dict[str, Any]:
    try:
        data = json.loads(row.data or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def remember_target(row: WebSession, target: str | None) -> None:
    """Store an already validated target in ``row`` (a pending or signed-in session)."""
    data = _data(row)
    if target:
        data[DATA_KEY] = target
    else:
        data.pop(DATA_KEY, None)
    row.data = json.dumps(data)


def stored_target(ctx: Context, row: WebSession | None) -> str | None:
    """The target ``row`` carries, validated again (a predicate may have been withdrawn since)."""
    if row is None:
        return None
    raw = _data(row).get(DATA_KEY)
    return continue_target(ctx, raw) if isinstance(raw, str) else None


def take_target(ctx: Context, token: str | None) -> str | None:
    """The target a signed-in session still carries, used up: a sign-in that ended elsewhere than in
    ``complete_sign_in`` (the first method enrolled right after a forced first sign-in) resumes it
    once, from its last page."""
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        target = stored_target(ctx, row)
        if row is not None and target is not None:
            remember_target(row, None)
        return target


def keep_target(ctx: Context, token: str | None, target: str) -> None:
    """A signed-in session resumes at ``target`` (validated here) once it has passed what stands in
    between: forward-auth's step-up, where re-authentication comes first, then ``RESUME_PATH``."""
    valid = continue_target(ctx, target)
    if valid is None:
        return
    with ctx.db.transaction() as db:
        row = sessions.load(ctx, db, token)
        if row is not None and row.stage == Stage.SIGNED_IN.value:
            remember_target(row, valid)


@dataclass(frozen=True)
class Completion:
    """A finished sign-in: the new session's token (set it as the cookie), a remembered-device token
    to set (or None), where to send the browser, and the notices sent to the owner (by name)."""

    token: str
    continue_to: str
    device_token: str | None = None
    notices: list[str] = field(default_factory=list)


def complete_sign_in(
    ctx: Context,
    db: Session,
    user: User,
    request: RequestInfo,
    *,
    replacing: WebSession | None,
    password_at: datetime | None,
    method: str | None = None,
    remembered: RememberedDevice | None = None,
    remember_device: bool = False,
    continue_to: str | None = None,
    default_target: str = DEFAULT_TARGET,
    sign_in_method: bool = True,
    session_method: str | None = None,
    **audit_detail: Any,
) -> Completion:
    """End a sign-in in ``db``'s transaction (see the module doc).

    ``method``: the second step used (None when the password alone signs in); ``remembered``: the
    remembered device that let the second step be skipped; ``remember_device``: the user ticked
    "remember this device" (honoured when the setting allows); ``continue_to``: a target given at
    this very step (validated here), else the one the session carries, else ``default_target``;
    ``sign_in_method``: False for a method never offered at sign-in (a recovery code), which is then
    not remembered as the account's last method; ``session_method``: how the session records the
    method for ``amr`` when it differs from the kind (a synced passkey); ``audit_detail``: what the
    success event says beyond the method (``via``, ``recovery_codes_left``…). Every success event
    says whether the sign-in was phishing-resistant (a passkey: bound to our origin)."""
    now = ctx.clock.now()
    target = continue_target(ctx, continue_to) or stored_target(ctx, replacing) or default_target
    token = sessions.create(
        ctx,
        db,
        user,
        Stage.SIGNED_IN,
        request,
        password_at=password_at,
        second_step_at=now if method else None,
        via_remembered_device=remembered is not None,
        replacing=replacing,
        method=session_method or method,  # the second-step method used: OpenID Connect's ``amr`` reports it
        carry_data=False,  # a path is used up here: a later page never resumes it again
        data=None if target.startswith("/") else {DATA_KEY: target},  # another host: via RESUME_PATH
    )
    notices: list[str] = []
    if remembered is not None:
        remembered.last_used_at = now
    device_token = None
    if method and remember_device and ctx.settings.remember_device_days > 0:
        device_token = devices.issue(ctx, db, user.id, request)
        audit.record(ctx, db, "authn_device_remembered", request=request, user=user)
        notices.append("new_device")
        notify.tell_after_commit(
            ctx, db, user.email, user.language, "new_device", request,
            browser_label=devices.browser_summary(request.user_agent),
        )  # fmt: skip
    user.last_sign_in_at = now
    user.sign_in_count = (user.sign_in_count or 0) + 1
    if method and sign_in_method:
        user.last_method = method
    detail = {"method": method, **audit_detail} if method else dict(audit_detail)
    detail["phishing_resistant"] = remembered is None and factor_registry.phishing_resistant(method)
    audit.record(ctx, db, "authn_login_success", request=request, user=user, **detail)
    onward = target if target.startswith("/") else RESUME_PATH
    return Completion(token=token, continue_to=onward, device_token=device_token, notices=notices)
