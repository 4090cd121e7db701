"""Proving the sign-in mailbox before an account's first method is bound.

A password alone — leaked, guessed, or imported from another system — must never be enough to bind
an attacker's authenticator to an account that has none yet. So the enrolling session first proves
that it reads the sign-in mailbox: an emailed 6-digit code, bound to this session (a code sent to
one browser never proves another), single use, ten minutes, with the usual send caps and the
second-step throttle on wrong codes. The proof lives on the session (``mailbox_proven_at``) and
dies with it. ``TWOSTEP_ENROLL_MAILBOX_CHECK=off`` turns the step off for operators without mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.codes import CodePurpose
from twostep.services.core import audit, notify, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.enrollment import enrollment
from twostep.services.factors import sent_codes
from twostep.services.factors.sent_codes import Prepared, SendResult
from twostep.storage.models import User, WebSession

NotNeeded = Literal["not_needed", "no_session"]


@dataclass(frozen=True)
class MailboxView:
    email: str
    sent: bool = False  # a code went out to this session
    resend_in: int = 0


@dataclass(frozen=True)
class ProofResult:
    outcome: Literal["proven", "invalid", "throttled", "no_session", "not_needed"]
    wait_seconds: int = 0


def _waiting(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | NotNeeded:
    """The enrolling session that still owes the proof, or why there is nothing to prove."""
    found = enrollment.enrolling_session(ctx, db, token)
    if found is None:
        return "no_session"
    row, user = found
    admitted = enrollment.admission(ctx, db, row)
    if admitted == "ended":
        return "no_session"
    return (row, user) if admitted == "mailbox" else "not_needed"


def view(ctx: Context, token: str | None) -> MailboxView | NotNeeded:
    with ctx.db.transaction() as db:
        found = _waiting(ctx, db, token)
        if isinstance(found, str):
            return found
        row, user = found
        last = sent_codes.last_sent(ctx, db, user.id, CodePurpose.MAILBOX_CHECK, row.id)
        return MailboxView(email=user.email, sent=last.sent, resend_in=last.resend_in)


def send(ctx: Context, token: str | None, request: RequestInfo) -> SendResult:
    """Email a code to the sign-in address (the one the user just typed, so not masked)."""

    def prepare(db: Session) -> Prepared | SendResult:
        found = _waiting(ctx, db, token)
        if found == "no_session":
            return SendResult("no_session")
        if found == "not_needed":
            return SendResult("not_applicable", method="email")
        row, user = found
        # The resend cooldown is per session, so another browser pressing "send" (perhaps someone
        # with the password) never makes the owner wait; the hourly caps per user still hold.
        issued = sent_codes.issue(
            ctx,
            db,
            user,
            CodePurpose.MAILBOX_CHECK,
            factor=None,
            bound_to=row.id,
            target_digest=f"session:{row.id[:40]}",
            ip=request.ip,
        )
        return Prepared(
            issued=issued,
            method="email",
            target=user.email if issued.outcome == "issued" else "",
            label=user.email,
            language=notify.language_of(ctx, user.language),
            user_id=user.id,
            purpose=CodePurpose.MAILBOX_CHECK,
        )

    return sent_codes.send(ctx, request, prepare)


def confirm(ctx: Context, token: str | None, raw_code: str, request: RequestInfo) -> ProofResult:
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _waiting(ctx, db, token)
        if isinstance(found, str):
            return ProofResult(found)
        row, user = found
        key = throttling.second_step_key(user.id)
        wait = throttling.wait_seconds(db, key, now)
        if wait:
            return ProofResult("throttled", wait_seconds=wait)
        verdict = sent_codes.verify(ctx, db, user, CodePurpose.MAILBOX_CHECK, row.id, raw_code)
        if not verdict.accepted:
            throttling.record_failure(db, key, now)
            audit.record(
                ctx, db, "authn_mailbox_check_fail", request=request, user=user, outcome="failure"
            )
            wait = throttle_rules.seconds_left(throttling.blocked_until(db, key), now)
            return ProofResult("throttled" if wait else "invalid", wait_seconds=wait)
        row.mailbox_proven_at = now
        audit.record(ctx, db, "authn_mailbox_check", request=request, user=user)
        return ProofResult("proven")
