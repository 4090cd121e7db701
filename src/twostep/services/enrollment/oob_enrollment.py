"""Enrolling a second step we send codes to: a separate email address (the Kintone page) or a
mobile number (the Kinamo page). Either becomes usable only after a code sent there comes back
(purpose ADDRESS_CHECK, checklist O-11); until then it is a pending factor that lives 10 minutes.

* The address must differ from the sign-in address — the same mailbox that can reset the password
  must not also pass the second step (DESIGN "Decisions", checklist F1). "+tags" and Gmail dots
  don't make a different mailbox, so they don't count as different.
* Numbers are parsed with phonenumbers (domain.phone), stored as E.164 sealed to
  ``user:<id>:sms``, with a keyed digest in ``target_digest`` (one record per number whatever the
  spelling; per-number rate limits) and a masked label (``+32 ••• •• •• 56``) for display.
* A user has at most one address and one number: confirming a new one replaces the old, which
  is announced to the sign-in address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete
from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.codes import CodePurpose
from twostep.domain.emails import mask_email, normalize_email
from twostep.domain.factors import channel_of
from twostep.domain.phone import PhoneNumberProblem, display_phone, mask_phone, normalize_phone
from twostep.services.core import accounts, audit, notify, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.enrollment import enrollment
from twostep.services.factors import registry as factor_registry
from twostep.services.factors import sent_codes
from twostep.services.factors.sent_codes import Prepared, SendResult
from twostep.storage.models import Factor, User

Kind = Literal["email", "sms"]
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


@dataclass(frozen=True)
class OobView:
    kind: str
    sign_in_email: str
    pending_label: str  # masked address or number awaiting its code; "" when none
    #: The address or number just typed, in full: the owner is looking at it during enrollment (only
    #: sign-in masks it), so a typo is seen at once. "" when none.
    pending_target: str = ""
    resend_in: int = 0  # seconds until "Send a new code" may send again


def target_owner(user_id: int, kind: str) -> str:
    return f"user:{user_id}:{kind}"


def target_digest(ctx: Context, kind: str, value: str) -> str:
    return ctx.digester.digest(value, f"{kind}-target")


def mailbox_key(address: str) -> str:
    """The mailbox an address delivers to: "+tag" dropped, and Gmail's dots and domain alias."""
    local, _, domain = address.lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def allowed_countries(ctx: Context) -> frozenset[str]:
    return frozenset(c.strip().upper() for c in ctx.settings.sms_allowed_countries.split(",") if c.strip())


def view(ctx: Context, token: str | None, kind: Kind) -> OobView | Literal["reauth", "mailbox", "no_session"]:
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return "no_session"
        row, user = found
        admitted = enrollment.admission(ctx, db, row)
        if admitted != "ok":
            return "no_session" if admitted == "ended" else admitted
        pending = enrollment.pending_factor(ctx, db, row, kind)
        if pending is None:
            return OobView(kind=kind, sign_in_email=user.email, pending_label="")
        last = sent_codes.last_sent(ctx, db, user.id, CodePurpose.ADDRESS_CHECK, f"factor:{pending.id}")
        return OobView(
            kind=kind,
            sign_in_email=user.email,
            pending_label=pending.label,
            pending_target=_shown(kind, sent_codes.open_target(ctx, pending)),
            resend_in=last.resend_in,
        )


def _shown(kind: str, target: str) -> str:
    return display_phone(target) if channel_of(kind) == "sms" else target


def _refused(problem: str) -> SendResult:
    return SendResult("refused", problem=problem)


def _start(ctx: Context, token: str | None, request: RequestInfo, kind: Kind, value: str, label: str) -> SendResult:
    digest = target_digest(ctx, kind, value)

    def prepare(db: Session) -> Prepared | SendResult:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return SendResult("no_session")
        row, user = found
        admitted = enrollment.admission(ctx, db, row)
        if admitted == "ended":
            return SendResult("no_session")
        if admitted != "ok":
            return _refused(admitted)
        if factor_registry.delivers_to_mailbox(kind) and mailbox_key(value) == mailbox_key(user.email):
            return _refused("same_as_sign_in")
        now = ctx.clock.now()
        pending = enrollment.pending_factor(ctx, db, row, kind)
        created = False
        if pending is None or pending.target_digest != digest:
            if pending is not None:
                db.delete(pending)
            pending = Factor(
                user_id=user.id,
                kind=kind,
                target_sealed=ctx.sealer.seal(value, target_owner(user.id, kind)),
                target_digest=digest,
                label=label,
                created_at=now,
                pending_session=row.id,
            )
            db.add(pending)
            db.flush()
            created = True
        return _issue(ctx, db, user, pending, request, drop_if_refused=created)

    return sent_codes.send(ctx, request, prepare)


def _issue(
    ctx: Context, db: Session, user: User, pending: Factor, request: RequestInfo, *, drop_if_refused: bool
) -> Prepared:
    issued = sent_codes.issue(
        ctx,
        db,
        user,
        CodePurpose.ADDRESS_CHECK,
        factor=pending,
        bound_to=f"factor:{pending.id}",
        target_digest=pending.target_digest or "",
        ip=request.ip,
    )
    if issued.outcome == "issued":
        pending.created_at = ctx.clock.now()  # the enrollment lives as long as its newest code
    elif drop_if_refused:
        db.delete(pending)
    return Prepared(
        issued=issued,
        method=pending.kind,
        target=sent_codes.open_target(ctx, pending) if issued.outcome == "issued" else "",
        label=pending.label,
        language=notify.language_of(ctx, user.language),
        user_id=user.id,
        purpose=CodePurpose.ADDRESS_CHECK,
    )


def start_email(ctx: Context, token: str | None, raw_email: str, request: RequestInfo) -> SendResult:
    address = normalize_email(raw_email)
    if address is None:
        return _refused("email_invalid")
    return _start(ctx, token, request, "email", address, mask_email(address))


def start_sms(ctx: Context, token: str | None, raw_phone: str, country: str, request: RequestInfo) -> SendResult:
    if not ctx.settings.sms_enabled:
        return _refused("disabled")
    try:
        number = normalize_phone(raw_phone, default_region=country or None, allowed_countries=allowed_countries(ctx))
    except PhoneNumberProblem as problem:
        return _refused(f"phone_{problem.reason}")
    return _start(ctx, token, request, "sms", number, mask_phone(number))


def resend(ctx: Context, token: str | None, kind: Kind, request: RequestInfo) -> SendResult:
    """Send the pending address or number a new code (the previous one stops working)."""

    def prepare(db: Session) -> Prepared | SendResult:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return SendResult("no_session")
        row, user = found
        admitted = enrollment.admission(ctx, db, row)
        if admitted == "ended":
            return SendResult("no_session")
        if admitted != "ok":
            return _refused(admitted)
        pending = enrollment.pending_factor(ctx, db, row, kind)
        if pending is None:
            return _refused("no_pending")
        return _issue(ctx, db, user, pending, request, drop_if_refused=False)

    return sent_codes.send(ctx, request, prepare)


def confirm(
    ctx: Context, token: str | None, kind: Kind, raw_code: str, request: RequestInfo
) -> enrollment.ConfirmResult:
    """The code from the new address or phone activates it (and replaces an older one of its kind)."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = enrollment.enrolling_session(ctx, db, token)
        if found is None:
            return enrollment.ConfirmResult("no_session")
        row, user = found
        refused = enrollment.refusal(ctx, db, row)
        if refused is not None:
            return refused
        key = throttling.second_step_key(user.id)
        wait = throttling.wait_seconds(db, key, now)
        if wait:
            return enrollment.ConfirmResult("throttled", wait_seconds=wait)
        pending = enrollment.pending_factor(ctx, db, row, kind)
        if pending is None:
            return enrollment.ConfirmResult("expired")
        verdict = sent_codes.verify(
            ctx, db, user, CodePurpose.ADDRESS_CHECK, f"factor:{pending.id}", raw_code, factor_id=pending.id
        )
        if not verdict.accepted:
            throttling.record_failure(db, key, now)
            audit.record(ctx, db, "authn_token_enroll_fail", request=request, user=user, outcome="failure", method=kind)
            wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
            return enrollment.ConfirmResult("throttled" if wait else "invalid", wait_seconds=wait)
        replaced = [(f.id, f.label) for f in accounts.confirmed_methods(db, user.id) if f.kind == kind]
        result = enrollment.activate(ctx, db, row, user, pending, None, request)
        if replaced:
            db.execute(delete(Factor).where(Factor.id.in_([factor_id for factor_id, _ in replaced])))
            audit.record(ctx, db, "authn_token_revoked", request=request, user=user, method=kind, reason="replaced")
            for _, old_label in replaced:
                notify.tell_owner_after_commit(ctx, db, user, "method_removed", request, method=kind, label=old_label)
        return result
