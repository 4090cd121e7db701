"""Codes we send (email, SMS): issue under a cooldown and hourly caps, deliver outside any
transaction, verify single-use and bound to user, purpose and pending request (checklist O-01..O-08).

One send is three short steps, so a slow mail server or SMS gateway never holds a database lock:

1. a transaction decides: limits (services.rate_limits), void the previous live code of this user
   and purpose, store the new code as a keyed digest (never in clear, never logged);
2. the code is handed to the mail server or to the SMS gateways (in order, with failover);
3. a transaction records the outcome. A failed hand-over voids the code and gives the cooldown
   back, so "try again" works as soon as the channel is back; the hourly caps still count it,
   so a broken gateway can't be hammered. Nothing here ever lets anyone in (fail closed, O-14).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twostep.delivery.mail import MailDeliveryError
from twostep.delivery.sms import SmsDeliveryError, SmsMessage
from twostep.domain.clock import as_utc
from twostep.domain.codes import (
    CODE_LIFETIME,
    RESEND_COOLDOWN,
    SENDS_PER_HOUR,
    CodePurpose,
    new_numeric_code,
)
from twostep.domain.factors import FactorKind, Verdict, channel_of
from twostep.domain.factors import sent_code as sent_code_factor
from twostep.domain.login_flow import Stage
from twostep.i18n import N_, gettext_for
from twostep.services.core import audit, notify, rate_limits, sessions
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.models import Factor, OneTimeCode, User, WebSession

log = logging.getLogger("twostep.codes")

#: The whole SMS (checklist O-08: the code, who it is from, how long it lasts; no link, nothing else),
#: then the origin-bound line of the WebOTP format (``@host #code``, on a line of its own at the end):
#: a phone's browser offers the code only on a page of that host, so it autofills here and nowhere else.
SMS_TEXT = N_("%(code)s is your %(service)s verification code. It expires in 10 minutes.")
SENDING_METHODS = (FactorKind.EMAIL.value, FactorKind.SMS.value)


@dataclass(frozen=True)
class Issued:
    outcome: Literal["issued", "cooldown", "hourly_limit"]
    code: str = ""
    code_id: int = 0
    wait_seconds: int = 0
    cooldown_key: str = ""
    cooldown_until: int = 0


SendOutcome = Literal["sent", "cooldown", "hourly_limit", "failed", "not_applicable", "no_session", "refused"]


@dataclass(frozen=True)
class SendResult:
    """``refused``: the caller's own check said no before anything was issued; ``problem`` says why."""

    outcome: SendOutcome
    method: str = ""
    target_label: str = ""
    wait_seconds: int = 0
    problem: str = ""


@dataclass(frozen=True)
class Prepared:
    """Decided inside the first transaction: the code, where it goes, in which language."""

    issued: Issued
    method: str
    target: str
    label: str
    language: str
    user_id: int
    purpose: CodePurpose


class DeliveryFailed(Exception):
    """The channel did not take the message; ``attempts`` are text-free summaries for the audit log."""

    def __init__(self, attempts: list[str]) -> None:
        super().__init__("; ".join(attempts))
        self.attempts = attempts


def _digest(ctx: Context, user_id: int, purpose: str, bound_to: str, code: str) -> str:
    return ctx.digester.digest(f"{user_id}:{purpose}:{bound_to}:{code}", "otc")


def issue(
    ctx: Context,
    db: Session,
    user: User,
    purpose: CodePurpose,
    *,
    factor: Factor | None,
    bound_to: str,
    target_digest: str = "",
    ip: str = "",
) -> Issued:
    """A new code voids the previous one for the same user and purpose; sends are capped.

    Cooldown: 60 s per user and destination. Caps: 5 an hour per user (all purposes together),
    5 an hour per destination (whoever asks), 20 an hour per client address.
    """
    now = ctx.clock.now()
    limits = rate_limits.store(ctx)
    cooldown_key = f"code:{user.id}:{target_digest or purpose.value}"
    cooldown = limits.start_cooldown(db, cooldown_key, int(RESEND_COOLDOWN.total_seconds()), now)
    if not cooldown.started:
        return Issued("cooldown", wait_seconds=cooldown.wait_seconds)
    rules = [rate_limits.Rule(f"send:user:{user.id}", SENDS_PER_HOUR)]
    if target_digest:
        rules.append(rate_limits.Rule(f"send:dest:{target_digest}", SENDS_PER_HOUR))
    if ip:
        rules.append(rate_limits.Rule(f"send:ip:{ip}", rate_limits.SENDS_PER_IP_PER_HOUR))
    decision = rate_limits.check(ctx, db, rules)
    if not decision.allowed:
        limits.end_cooldown(db, cooldown_key, cooldown.until)
        return Issued("hourly_limit", wait_seconds=decision.retry_after)
    db.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.user_id == user.id,
            OneTimeCode.purpose == purpose.value,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(voided_at=now)
    )
    code = new_numeric_code()
    row = OneTimeCode(
        user_id=user.id,
        factor_id=factor.id if factor else None,
        purpose=purpose.value,
        code_digest=_digest(ctx, user.id, purpose.value, bound_to, code),
        bound_to=bound_to,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
        used_at=None,
        voided_at=None,
        wrong_tries=0,
    )
    db.add(row)
    db.flush()
    return Issued("issued", code=code, code_id=row.id, cooldown_key=cooldown_key, cooldown_until=cooldown.until)


def void(db: Session, code_id: int, now: datetime) -> None:
    db.execute(update(OneTimeCode).where(OneTimeCode.id == code_id).values(voided_at=now))


def undo_failed_send(ctx: Context, db: Session, issued: Issued) -> None:
    """The code never reached anyone: void it and give the cooldown back (the hourly caps stay)."""
    void(db, issued.code_id, ctx.clock.now())
    if issued.cooldown_key:
        rate_limits.store(ctx).end_cooldown(db, issued.cooldown_key, issued.cooldown_until)


def sms_text(ctx: Context, code: str, language: str) -> str:
    text = gettext_for(language)(SMS_TEXT) % {"code": code, "service": ctx.service_name}
    return f"{text}\n\n@{web_otp_host(ctx.settings.base_url)} #{code}"


def web_otp_host(base_url: str) -> str:
    """The host (and a non-default port) of the base URL, as the WebOTP origin-bound line names it."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "localhost").lower()
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{host}:{parts.port}" if parts.port and parts.port != default_port else host


def last_sent(ctx: Context, db: Session, user_id: int, purpose: CodePurpose, bound_to: str) -> LastSent:
    """Whether a code went out for this pending step (``bound_to``), and how long until a new one may
    be asked for: what the page shows under the field ("Didn't get it? Send a new code", in N s)."""
    row = db.execute(
        select(OneTimeCode.created_at, OneTimeCode.voided_at)
        .where(OneTimeCode.user_id == user_id, OneTimeCode.purpose == purpose.value, OneTimeCode.bound_to == bound_to)
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    ).first()
    if row is None or row.voided_at is not None:  # none yet, or its delivery failed (voided)
        return LastSent(sent=False)
    return LastSent(sent=True, resend_in=_resend_in(ctx, as_utc(row.created_at)))


def _resend_in(ctx: Context, created_at: datetime) -> int:
    left = (created_at + RESEND_COOLDOWN - ctx.clock.now()).total_seconds()
    return max(0, int(-(-left // 1)))


@dataclass(frozen=True)
class LastSent:
    sent: bool
    resend_in: int = 0


def deliver(ctx: Context, method: str, target: str, code: str, language: str, purpose: CodePurpose) -> list[str]:
    """Hand a code to its channel; returns what each gateway did, raises DeliveryFailed.

    Any exception from a channel counts as a failed send: a broken sender must never become a 500
    (or, worse, a way past the second step).
    """
    if channel_of(method) == "sms":
        try:
            attempts = ctx.sms.send(SmsMessage(to=target, text=sms_text(ctx, code, language)))
        except SmsDeliveryError as exc:
            raise DeliveryFailed([f"{a.gateway}: {a.detail}" for a in exc.attempts]) from None
        except Exception as exc:
            raise DeliveryFailed([f"sms: {type(exc).__name__}"]) from None
        return [f"{a.gateway}: {a.detail}" for a in attempts]
    template = "reset_code" if purpose is CodePurpose.PASSWORD_RESET else "code"
    try:
        notify.send_mail(
            ctx,
            target,
            template,
            language,
            reveals_account=purpose is CodePurpose.PASSWORD_RESET,
            code=code,
            purpose=purpose.value,
        )
    except MailDeliveryError as exc:
        raise DeliveryFailed([f"mail: {exc}"]) from None
    except Exception as exc:
        raise DeliveryFailed([f"mail: {type(exc).__name__}"]) from None
    return ["mail: accepted"]


def send(ctx: Context, request: RequestInfo, prepare: Callable[[Session], Prepared | SendResult]) -> SendResult:
    """Run ``prepare`` in a transaction, deliver outside it, then record what happened."""
    with ctx.db.transaction() as db:
        prepared = prepare(db)
        if isinstance(prepared, SendResult):
            return prepared
        if prepared.issued.outcome != "issued":
            return SendResult(
                prepared.issued.outcome,
                method=prepared.method,
                target_label=prepared.label,
                wait_seconds=prepared.issued.wait_seconds,
            )
    method, purpose = prepared.method, prepared.purpose.value
    try:
        attempts = deliver(
            ctx, prepared.method, prepared.target, prepared.issued.code, prepared.language, prepared.purpose
        )
    except DeliveryFailed as failure:
        log.warning("%s code not delivered: %s", prepared.method, failure)
        with ctx.db.transaction() as db:
            undo_failed_send(ctx, db, prepared.issued)
            audit.record(
                ctx,
                db,
                "authn_code_send_fail",
                request=request,
                user=db.get(User, prepared.user_id),
                outcome="failure",
                attempts=failure.attempts,
                method=method,
                purpose=purpose,
            )
        return SendResult("failed", method=prepared.method, target_label=prepared.label)
    with ctx.db.transaction() as db:
        user = db.get(User, prepared.user_id)
        audit.record(
            ctx, db, "authn_code_sent", request=request, user=user, attempts=attempts, method=method, purpose=purpose
        )
    return SendResult("sent", method=prepared.method, target_label=prepared.label)


def open_target(ctx: Context, factor: Factor) -> str:
    """The address or E.164 number, decrypted only to send (sealed to ``user:<id>:<kind>``)."""
    return ctx.sealer.open(factor.target_sealed or b"", f"user:{factor.user_id}:{factor.kind}")


def confirmed_factor(db: Session, user_id: int, method: str) -> Factor | None:
    """The user's confirmed, usable factor of this kind (at most one: a new one replaces the old)."""
    return db.scalar(
        select(Factor)
        .where(
            Factor.user_id == user_id,
            Factor.kind == method,
            Factor.confirmed_at.is_not(None),
            Factor.disabled_at.is_(None),  # disabled after too many wrong codes (services.guesses)
        )
        .order_by(Factor.id.desc())
        .limit(1)
    )


def prepare_second_step(
    ctx: Context, db: Session, user: User, method: str | None, bound_to: str, request: RequestInfo
) -> Prepared | SendResult:
    """A sign-in (or reset second-step) code for the user's confirmed email address or phone."""
    if method not in SENDING_METHODS:
        return SendResult("not_applicable", method=method or "")
    factor = confirmed_factor(db, user.id, method)
    if factor is None or factor.target_sealed is None:
        return SendResult("not_applicable", method=method)
    issued = issue(
        ctx,
        db,
        user,
        CodePurpose.SIGN_IN,
        factor=factor,
        bound_to=bound_to,
        target_digest=factor.target_digest or "",
        ip=request.ip,
    )
    return Prepared(
        issued=issued,
        method=method,
        target=open_target(ctx, factor) if issued.outcome == "issued" else "",
        label=factor.label,
        language=notify.language_of(ctx, user.language),
        user_id=user.id,
        purpose=CodePurpose.SIGN_IN,
    )


def send_for_session(
    ctx: Context,
    token: str | None,
    request: RequestInfo,
    *,
    stage: Stage,
    choose: Callable[[Session, User, WebSession], str | None],
) -> SendResult:
    """Send a code for the method chosen in a pending session (sign-in, reset second step)."""

    def prepare(db: Session) -> Prepared | SendResult:
        row = sessions.pending(ctx, db, token, stage)
        user = db.get(User, row.user_id) if row is not None else None
        if row is None or user is None:
            return SendResult("no_session")
        method = choose(db, user, row)
        return prepare_second_step(ctx, db, user, method, row.id, request)

    return send(ctx, request, prepare)


def verify(
    ctx: Context,
    db: Session,
    user: User,
    purpose: CodePurpose,
    bound_to: str,
    raw_code: str,
    factor_id: int | None = None,
    *,
    factor_ids: Sequence[int] | None = None,
) -> Verdict:
    """Checks the one live code; a wrong try counts on the code; success consumes it atomically."""
    now = ctx.clock.now()
    query = select(OneTimeCode).where(
        OneTimeCode.user_id == user.id,
        OneTimeCode.purpose == purpose.value,
        OneTimeCode.bound_to == bound_to,
        OneTimeCode.voided_at.is_(None),
    )
    if factor_id is not None:
        query = query.where(OneTimeCode.factor_id == factor_id)
    if factor_ids is not None:
        query = query.where(OneTimeCode.factor_id.in_(list(factor_ids)))
    row = db.scalar(query.order_by(OneTimeCode.id.desc()).limit(1))
    if row is None:
        return Verdict(accepted=False)
    verdict = sent_code_factor.verify(
        raw_code,
        matches=lambda code: ctx.digester.matches(
            f"{user.id}:{purpose.value}:{bound_to}:{code}", row.code_digest, "otc"
        ),
        expires_at=as_utc(row.expires_at),
        used=row.used_at is not None,
        wrong_tries=row.wrong_tries,
        now=now,
    )
    if not verdict.accepted:
        if row.used_at is None:
            row.wrong_tries += 1
        return verdict
    consumed = db.execute(
        update(OneTimeCode).where(OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None)).values(used_at=now)
    )
    if not consumed.rowcount:  # type: ignore[attr-defined]
        return Verdict(accepted=False, replayed=True)
    return verdict


def verify_second_step_code(
    ctx: Context, db: Session, user: User, row: WebSession, method: str, raw_code: str
) -> Verdict:
    """A sent code for this pending session, sent through this method (email or SMS) only."""
    factor_ids = db.scalars(
        select(Factor.id).where(Factor.user_id == user.id, Factor.kind == method, Factor.confirmed_at.is_not(None))
    ).all()
    if not factor_ids:
        return Verdict(accepted=False)
    verdict = verify(ctx, db, user, CodePurpose.SIGN_IN, row.id, raw_code, factor_ids=factor_ids)
    if verdict.accepted:
        db.execute(update(Factor).where(Factor.id.in_(factor_ids)).values(last_used_at=ctx.clock.now()))
    return verdict


def verify_sign_in_code(ctx: Context, db: Session, user: User, row: WebSession, method: str, raw_code: str) -> Verdict:
    return verify_second_step_code(ctx, db, user, row, method, raw_code)
