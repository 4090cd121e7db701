"""The verification API's use cases: check a code for another application, send a code, list methods.

The rules are the web's, not a copy of them: the same per-account throttle key as the sign-in page
(``throttling.second_step_key``), the same TOTP check and compare-and-set consumption
(``factors.totp``), the same single-use sent codes (``factors.sent_code``), an audit event for
every verification, and the same replay notice to the account owner. One transaction per call:
key check → rate count → throttle check → verify → consume → counters → audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from twostep.domain.codes import CodePurpose
from twostep.domain.emails import normalize_email
from twostep.domain.factors import FactorKind, Verdict
from twostep.services.api import apikeys
from twostep.services.core import audit, notify, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import registry as factor_registry
from twostep.services.factors import sent_codes
from twostep.services.factors import totp as totp_factor
from twostep.services.factors.base import Proof
from twostep.services.signin import login, second_step_check
from twostep.storage.database import Executor, FastStatement
from twostep.storage.models import ApiKey, AuditEvent, Factor, OneTimeCode, Throttle, User

Outcome = Literal["valid", "invalid", "replayed", "throttled", "unknown_user"]
ChallengeOutcome = Literal["sent", "cooldown", "hourly_limit", "no_method", "unknown_user", "delivery_failed"]
Refusal = Literal["unauthorized", "rate_limited"]

API_CHALLENGE_BINDING = "api"


@dataclass(frozen=True)
class Refused:
    """The caller was turned away before any verification: no valid key, or the key's rate limit."""

    reason: Refusal
    wait_seconds: int = 0


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    method: str = FactorKind.TOTP.value
    user_id: int | None = None
    wait_seconds: int = 0
    notices: tuple[notify.Notice, ...] = ()

    @property
    def valid(self) -> bool:
        return self.outcome == "valid"


@dataclass(frozen=True)
class ChallengeResult:
    outcome: ChallengeOutcome
    user_id: int | None = None
    wait_seconds: int = 0


@dataclass(frozen=True)
class MethodsResult:
    user_id: int | None
    methods: list[str] = field(default_factory=list)


def _admit(ctx: Context, db: Session, api_key: str) -> apikeys.Caller | Refused:
    caller = apikeys.authenticate(ctx, db, api_key)
    if caller is None:
        return Refused("unauthorized")
    wait = apikeys.count_request(ctx, db, caller.key_id, ctx.settings.api_rate_limit_per_minute)
    if wait:
        return Refused("rate_limited", wait)
    return caller


_KEYS = cast(Table, ApiKey.__table__)
_USERS = cast(Table, User.__table__)
_FACTORS = cast(Table, Factor.__table__)
_THROTTLES = cast(Table, Throttle.__table__)
_USER_BY_EMAIL = select(_USERS.c.id, _USERS.c.email, _USERS.c.language).where(_USERS.c.email == bindparam("email"))
# The API key, the account and its confirmed authenticators in one indexed statement (one row per
# authenticator; no row when no key has this digest; account columns empty when no account has this
# email): one round trip to PostgreSQL. The throttle is read where the decision is written.
_KEY_AND_ACCOUNT = (
    select(
        *apikeys.KEY_COLUMNS,
        _USERS.c.id,
        _USERS.c.email,
        _USERS.c.language,
        _FACTORS.c.id.label("factor_id"),
        _FACTORS.c.secret_sealed,
        _FACTORS.c.last_used_step,
    )
    .select_from(
        _KEYS.outerjoin(_USERS, _USERS.c.email == bindparam("email"))
        .outerjoin(
            _FACTORS,
            and_(
                _FACTORS.c.user_id == _USERS.c.id,
                _FACTORS.c.kind == FactorKind.TOTP.value,
                _FACTORS.c.confirmed_at.is_not(None),
                _FACTORS.c.disabled_at.is_(None),  # a disabled authenticator is never read, so never matched
            ),
        )
    )
    .where(_KEYS.c.key_digest == bindparam("digest"))
    .order_by(_FACTORS.c.id)
)
_KEY_AND_ACCOUNT_FAST = FastStatement(_KEY_AND_ACCOUNT)
_KEY_WIDTH = len(apikeys.KEY_COLUMNS)


@dataclass(frozen=True)
class Account:
    """What a verification needs of an account (read with one prebuilt statement, no ORM object)."""

    id: int
    email: str
    language: str | None


def _find_user(db: Session, raw_email: str) -> Account | None:
    email = normalize_email(raw_email)
    if email is None:
        return None
    row = db.execute(_USER_BY_EMAIL, {"email": email}).first()
    return Account(row.id, row.email, row.language) if row is not None else None


def verify(ctx: Context, api_key: str, raw_user: str, raw_code: str, request: RequestInfo) -> VerifyResult | Refused:
    """Is ``raw_code`` a valid second step for ``raw_user`` right now? Consumes it if so.

    Never waits on the network: a replay's notice to the account owner is left to the caller
    (``send_notices``), so the web layer can run this directly on its event loop.

    Runs on raw transactions (``Database.raw_transaction``: prebuilt statements, no ORM), the same
    statements the sign-in page's rules use. PostgreSQL: one transaction. SQLite, where one writer at
    a time holds the database: the reads and the code comparison happen first without the write lock,
    and the write transaction then repeats what decides the answer — key rate count, the throttle,
    the compare-and-set — so the lock is held for a few statements only and the result is the same
    as in one transaction. A wrong authenticator code for an account with a code sent through
    ``/challenge`` waiting is checked against that code in an ORM transaction (``sent_codes``).
    """
    result = _verify(ctx, api_key, raw_user, raw_code, request)
    if isinstance(result, Refused) and result.reason == "unauthorized" and ctx.digester.has_previous_keys:
        with ctx.db.transaction() as db:  # an API key issued before a secret-key rotation: re-digest it
            adopted = apikeys.adopt_previous_digest(ctx, db, api_key)
        if adopted:
            result = _verify(ctx, api_key, raw_user, raw_code, request)
    return result


def _verify(ctx: Context, api_key: str, raw_user: str, raw_code: str, request: RequestInfo) -> VerifyResult | Refused:
    email = normalize_email(raw_user)
    digest = apikeys.presented_digest(ctx, api_key)
    if digest is None:
        return Refused("unauthorized")
    if ctx.db.concurrent_writers:
        return _verify_postgresql(ctx, api_key, digest, email, raw_code, request)
    with ctx.db.raw_statements() as tx:
        found, rows, match = _read_and_match(ctx, tx, api_key, digest, email, raw_code)
        if found is None:
            return Refused("unauthorized")
        sent_code_waiting = match is not None and not match.accepted and _challenge_pending(tx, rows[0].id)
    if sent_code_waiting:
        with ctx.db.transaction() as db:
            return _decide(ctx, db, found, rows, match, raw_code, request, sent_code_session=db)
    with ctx.db.raw_transaction() as tx:
        return _decide(ctx, tx, found, rows, match, raw_code, request)


def _verify_postgresql(
    ctx: Context, api_key: str, digest: str, email: str | None, raw_code: str, request: RequestInfo
) -> VerifyResult | Refused:
    """PostgreSQL: a right code is accepted in two statements, no transaction around them (each is
    atomic on its own): the read, then ``_ACCEPT`` — compare-and-set, throttle re-check, forgetting
    earlier failures and the audit row in one statement. Anything else (a wrong code, a replay, a
    throttled account, a lost compare-and-set) is decided again in one transaction, as the web does."""
    counted = False
    with ctx.db.raw_statements() as tx:
        found, rows, match = _read_and_match(ctx, tx, api_key, digest, email, raw_code)
        if found is None:
            return Refused("unauthorized")
        if match is not None and match.accepted:
            refused = _count(ctx, tx, found)
            if refused is not None:
                return refused
            counted = True
            accepted = _accept_in_one_statement(ctx, tx, found, rows[0], match, request)
            if accepted is not None:
                return accepted
        sent_code_waiting = match is not None and not match.accepted and _challenge_pending(tx, rows[0].id)
    if sent_code_waiting:
        with ctx.db.transaction() as db:
            return _decide(ctx, db, found, rows, match, raw_code, request, counted=counted, sent_code_session=db)
    with ctx.db.raw_transaction() as tx:
        return _decide(ctx, tx, found, rows, match, raw_code, request, counted=counted)


def _accept_statement() -> Executable:
    """PostgreSQL only (data-modifying CTEs): consume the step if it is still fresh and the account is
    not blocked, forget earlier failures, write the audit row; returns how many steps were consumed."""
    audit_table = cast(Table, AuditEvent.__table__)
    consumed = (
        update(_FACTORS)
        .where(
            _FACTORS.c.id == bindparam("factor_id"),
            or_(_FACTORS.c.last_used_step.is_(None), _FACTORS.c.last_used_step < bindparam("step")),
            _FACTORS.c.disabled_at.is_(None),
            ~exists().where(
                _THROTTLES.c.key == bindparam("throttle_key"), _THROTTLES.c.blocked_until > bindparam("now")
            ),
        )
        .values(last_used_step=bindparam("new_step"), last_used_at=bindparam("now"))
        .returning(_FACTORS.c.id)
        .cte("consumed")
    )
    cleared = (
        delete(_THROTTLES)
        .where(_THROTTLES.c.key == bindparam("throttle_key"), exists(select(consumed.c.id)))
        .cte("cleared")
    )
    row = [cast_(bindparam(f"audit_{name}"), audit_table.c[name].type) for name in audit.COLUMNS]
    audited = insert(audit_table).from_select(audit.COLUMNS, select(*row).select_from(consumed)).cte("audited")
    return select(func.count()).select_from(consumed).add_cte(cleared, audited)


_ACCEPT = FastStatement(_accept_statement())


def _accept_in_one_statement(
    ctx: Context,
    db: Executor,
    caller: apikeys.Caller,
    account: AccountRow,
    match: totp_factor.TotpMatch,
    request: RequestInfo,
) -> VerifyResult | None:
    """The sign-in page's success path (``_decide``) as one atomic statement; None when it consumed
    nothing (another request took the step first, or the account is blocked): decide the long way."""
    factor_id, verdict = match.accepted[0]
    user = Account(account.id, account.email, account.language)
    detail: dict[str, Any] = {"step": "second", "method": FactorKind.TOTP.value, "via": "api", "api_key": caller.prefix}
    event = "authn_login_success"
    params = {
        "factor_id": factor_id,
        "step": verdict.step,
        "new_step": verdict.step,
        "now": ctx.clock.now(),
        "throttle_key": throttling.second_step_key(user.id),
    }
    params.update(
        {f"audit_{k}": v for k, v in audit.row(ctx, event, request=request, user=user, detail=detail).items()}
    )
    if _ACCEPT.execute(db, params).fetchone()[0] != 1:
        return None
    audit.announce(event, request=request, user=user, detail=detail)
    return VerifyResult("valid", method=FactorKind.TOTP.value, user_id=user.id)


def _read_and_match(
    ctx: Context, db: Executor, api_key: str, digest: str, email: str | None, raw_code: str
) -> tuple[apikeys.Caller | None, list[AccountRow], totp_factor.TotpMatch | None]:
    """The key and the account in one statement, and the code compared with the authenticators."""
    read = _KEY_AND_ACCOUNT_FAST.execute(db, {"digest": digest, "email": email}).fetchall()
    found = apikeys.caller_from_row(ctx, api_key, read[0] if read else None)
    rows = [AccountRow(*row[_KEY_WIDTH:]) for row in read if row[_KEY_WIDTH] is not None]
    return found, rows, _match(ctx, rows, raw_code) if found is not None else None


def _count(ctx: Context, db: Executor, caller: apikeys.Caller) -> Refused | None:
    """The key's rate count and last-use stamp."""
    wait = apikeys.count_request(ctx, db, caller.key_id, ctx.settings.api_rate_limit_per_minute)
    if wait:
        return Refused("rate_limited", wait)
    apikeys.touch(ctx, db, caller)
    return None


_OTC = cast(Table, OneTimeCode.__table__)
_CHALLENGE_PENDING = FastStatement(
    select(_OTC.c.id)
    .where(
        _OTC.c.user_id == bindparam("user_id"),
        _OTC.c.purpose == CodePurpose.API_CHALLENGE.value,
        _OTC.c.voided_at.is_(None),
        _OTC.c.used_at.is_(None),
    )
    .limit(1)
)


def _challenge_pending(db: Executor, user_id: int) -> bool:
    return _CHALLENGE_PENDING.execute(db, {"user_id": user_id}).fetchone() is not None


class AccountRow(NamedTuple):
    """The account columns of a ``_KEY_AND_ACCOUNT`` row (one per authenticator; the account's repeat).
    The throttle is not read here: the writing step reads it again anyway."""

    id: int
    email: str
    language: str | None
    factor_id: int | None
    secret_sealed: bytes | None
    last_used_step: int | None


def _match(ctx: Context, rows: Sequence[AccountRow], raw_code: str) -> totp_factor.TotpMatch | None:
    """The code compared with the account's authenticators (no database work), None for no account."""
    if not rows:
        return None
    factors = [(r.factor_id, r.secret_sealed, r.last_used_step) for r in rows if r.factor_id is not None]
    return totp_factor.match_totp(ctx, rows[0].id, raw_code, factors)


def _decide(
    ctx: Context,
    db: Executor,
    caller: apikeys.Caller,
    rows: Sequence[AccountRow],
    match: totp_factor.TotpMatch | None,
    raw_code: str,
    request: RequestInfo,
    *,
    counted: bool = False,
    sent_code_session: Session | None = None,
) -> VerifyResult | Refused:
    """The writing half of a check, in one transaction: the key's rate count and last-use stamp (unless
    ``counted`` already) → the one second-step check (``second_step_check``: throttle check → consume →
    counters → audit → lock event) (the rows were read before this transaction, so the throttle is
    read again). ``sent_code_session``: ``db`` itself when a code sent through ``/challenge`` waits
    (an ORM transaction); on the raw hot path only authenticator steps are consumed."""
    refused = None if counted else _count(ctx, db, caller)
    if refused is not None:
        return refused
    if match is None:
        return VerifyResult("unknown_user", method="")
    user = Account(rows[0].id, rows[0].email, rows[0].language)
    caller_labels = second_step_check.Caller(
        detail={"step": "second", "via": "api", "api_key": caller.prefix}, replay_label=f"API: {caller.name}",
        browser=False,
    )
    checked = second_step_check.check(
        ctx, db, user, lambda: _check(ctx, db, user, raw_code, match, sent_code_session), request, caller_labels
    )
    if checked.accepted:
        audit.record(
            ctx,
            db,
            "authn_login_success",
            request=request,
            user=user,
            step="second",
            method=checked.method,
            via="api",
            api_key=caller.prefix,
        )
        return VerifyResult("valid", method=checked.method, user_id=user.id)
    method = checked.method or FactorKind.TOTP.value
    outcome: Outcome = "invalid" if checked.outcome == "accepted" else checked.outcome
    return VerifyResult(
        outcome, method=method, user_id=user.id, wait_seconds=checked.wait_seconds, notices=checked.notices
    )


def send_notices(ctx: Context, result: VerifyResult, request: RequestInfo) -> None:
    """The account owner's notices from this check (a used code came again; an authenticator was
    disabled after too many wrong codes), as the sign-in page sends them: after the commit, and here
    also after the answer (the web layer calls this in a worker thread)."""
    for notice in result.notices:
        notify.send_notice(ctx, notice, request)


def _check(
    ctx: Context, db: Executor, user: Account, raw_code: str, match: totp_factor.TotpMatch, orm: Session | None
) -> tuple[str, Verdict]:
    """The authenticator app first; then a code sent through ``/api/v1/challenge``, if one is live
    (``verify`` brings that case to an ORM transaction, ``orm``; a raw one only consumes authenticator steps)."""
    verdict = totp_factor.consume_totp(ctx, db, match)
    if verdict.accepted or orm is None:
        return FactorKind.TOTP.value, verdict
    pending = orm.execute(
        select(OneTimeCode.factor_id, Factor.kind)
        .join(Factor, Factor.id == OneTimeCode.factor_id)
        .where(
            OneTimeCode.user_id == user.id,
            OneTimeCode.purpose == CodePurpose.API_CHALLENGE.value,
            OneTimeCode.voided_at.is_(None),
            OneTimeCode.used_at.is_(None),
        )
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    ).first()
    if pending is None:
        return FactorKind.TOTP.value, verdict
    row = orm.get(User, user.id)
    if row is None:
        return FactorKind.TOTP.value, verdict
    proof = Proof(bound_to=API_CHALLENGE_BINDING, purpose=CodePurpose.API_CHALLENGE)
    sent = factor_registry.verify(ctx, orm, row, str(pending.kind), raw_code, proof)
    if sent.accepted or not verdict.replayed:
        return str(pending.kind), Verdict(accepted=sent.accepted, replayed=sent.replayed)
    return FactorKind.TOTP.value, verdict


def methods(ctx: Context, api_key: str, raw_user: str) -> MethodsResult | Refused:
    """The user's confirmed second-step methods, strongest first (what a caller may ask for)."""
    with ctx.db.transaction() as db:
        caller = _admit(ctx, db, api_key)
        if isinstance(caller, Refused):
            return caller
        user = _find_user(db, raw_user)
        if user is None:
            return MethodsResult(user_id=None)
        return MethodsResult(user_id=user.id, methods=login.available_methods(db, user.id))


def challenge(
    ctx: Context, api_key: str, raw_user: str, method: str, request: RequestInfo
) -> ChallengeResult | Refused:
    """Send a one-time code by email or SMS to the user's confirmed address or phone.

    The web's sending path (``sent_codes.send``): the same cooldown and hourly caps, delivery outside
    the transaction, a failed send voided and its cooldown given back, audit events either way.
    """

    refused: Refused | None = None
    user_id: int | None = None

    def prepare(db: Session) -> sent_codes.Prepared | sent_codes.SendResult:
        nonlocal refused, user_id
        caller = _admit(ctx, db, api_key)
        if isinstance(caller, Refused):
            refused = caller
            return sent_codes.SendResult("refused", problem=caller.reason)
        account = _find_user(db, raw_user)
        user = db.get(User, account.id) if account is not None else None
        if user is None:
            return sent_codes.SendResult("refused", problem="unknown_user")
        user_id = user.id
        factor = sent_codes.confirmed_factor(db, user.id, method)
        if factor is None or factor.target_sealed is None:
            return sent_codes.SendResult("not_applicable", method=method)
        issued = sent_codes.issue(
            ctx,
            db,
            user,
            CodePurpose.API_CHALLENGE,
            factor=factor,
            bound_to=API_CHALLENGE_BINDING,
            target_digest=factor.target_digest or "",
            ip=request.ip,
        )
        return sent_codes.Prepared(
            issued=issued,
            method=method,
            target=sent_codes.open_target(ctx, factor) if issued.outcome == "issued" else "",
            label=factor.label,
            language=notify.language_of(ctx, user.language),
            user_id=user.id,
            purpose=CodePurpose.API_CHALLENGE,
        )

    sent = sent_codes.send(ctx, request, prepare)
    if refused is not None:
        return refused
    outcomes: dict[str, ChallengeOutcome] = {
        "sent": "sent",
        "cooldown": "cooldown",
        "hourly_limit": "hourly_limit",
        "failed": "delivery_failed",
        "not_applicable": "no_method",
    }
    outcome = outcomes.get(sent.outcome, "unknown_user")
    return ChallengeResult(outcome, user_id=user_id, wait_seconds=sent.wait_seconds)
