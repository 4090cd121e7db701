"""Getting back in when the phone is lost: a recovery code, then "I lost my phone".

ScanSnap's "If you cannot obtain an authentication code" turns two-step verification off so that a
new phone can be enrolled. Here the user keeps two-step verification on all the way:

1. a recovery code (a look-up secret, NIST SP 800-63B §5.1.2) completes only the pending sign-in of
   the user who passed the password step, under the same per-account throttle as other codes
   (checklist T-11, RC-03), and the owner is told by email;
2. "I lost my phone" removes the lost methods at once (a thief's phone stops working), signs out
   everywhere else, forgets remembered devices and sends the session to enrollment before anything
   else; enrolling the new method issues a new set of recovery codes;
3. with no code left and no device, a person must help (``TWOSTEP_SUPPORT_EMAIL``): email alone never
   removes two-step verification, or one mailbox would be enough to take over the account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session

from twostep.domain import throttle as throttle_rules
from twostep.domain.codes import RECOVERY_CODE_COUNT, normalize_recovery_code
from twostep.domain.login_flow import Stage
from twostep.services.account import reauth
from twostep.services.core import accounts, audit, devices, notify, sessions, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import recovery
from twostep.services.factors import registry as factor_registry
from twostep.services.factors.base import Proof
from twostep.services.signin import completion, guesses, login, second_step_check
from twostep.storage.models import User, WebSession

RecoveryOutcome = Literal["signed_in", "invalid", "throttled", "restart", "no_session"]
LostPhoneOutcome = Literal["enroll", "reauth", "no_session", "nothing_chosen"]



@dataclass(frozen=True)
class RecoverPageView:
    email: str
    remaining: int
    other_methods: list[str]
    wait_seconds: int


@dataclass(frozen=True)
class RecoveryResult:
    outcome: RecoveryOutcome
    token: str | None = None
    remaining: int = 0
    wait_seconds: int = 0


@dataclass(frozen=True)
class MethodChoice:
    id: int
    kind: str
    label: str
    on_phone: bool


@dataclass(frozen=True)
class LostPhoneView:
    email: str
    fresh: bool
    methods: list[MethodChoice]
    recovery_left: int


@dataclass(frozen=True)
class LostPhoneResult:
    outcome: LostPhoneOutcome
    token: str | None = None
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Download:
    email: str
    codes: list[str]


def _signed_in(ctx: Context, db: Session, token: str | None) -> tuple[WebSession, User] | None:
    row = sessions.load(ctx, db, token)
    if row is None or row.stage != Stage.SIGNED_IN.value:
        return None
    user = db.get(User, row.user_id)
    return (row, user) if user is not None else None


def recover_page_view(ctx: Context, token: str | None) -> RecoverPageView | None:
    """What /login/recover shows; only for a sign-in that has passed the password step."""
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
        if row is None:
            return None
        user = db.get(User, row.user_id)
        if user is None:
            return None
        return RecoverPageView(
            email=user.email,
            remaining=recovery.remaining(db, user.id),
            other_methods=login.available_methods(db, user.id),
            wait_seconds=throttling.wait_seconds(db, throttling.second_step_key(user.id), ctx.clock.now()),
        )


def sign_in_with_recovery_code(ctx: Context, token: str | None, raw_code: str, request: RequestInfo) -> RecoveryResult:
    """One transaction: throttle check → compare-and-set consume → counters → audit → notice.

    The code is looked up for the pending session's user only, so another user's code never
    matches; a spent code counts as a failure (and a replay) like a wrong one.
    """
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        row = sessions.pending(ctx, db, token, Stage.SECOND_STEP)
        user = db.get(User, row.user_id) if row is not None else None
        if row is None or user is None:
            return RecoveryResult("no_session")
        email, language = user.email, user.language
        browser = devices.browser_summary(request.user_agent)

        def attempt() -> second_step_check.Attempt:
            kind = guesses.RECOVERY_CODE
            return kind, factor_registry.verify(ctx, db, user, kind, raw_code, Proof(row.id))

        checked = second_step_check.check(ctx, db, user, attempt, request, now=now)
        second_step_check.notices_after_commit(ctx, db, checked, request)
        if checked.accepted:
            left = recovery.remaining(db, user.id)
            done = completion.complete_sign_in(
                ctx,
                db,
                user,
                request,
                replacing=row,
                password_at=row.password_at,
                method="recovery_code",
                sign_in_method=False,
                recovery_codes_left=left,
            )
            new_token = done.token
            notify.tell_after_commit(
                ctx, db, email, language, "recovery_code_used", request, browser_label=browser, left=left
            )
            return RecoveryResult("signed_in", token=new_token, remaining=left)
        wait = checked.wait_seconds
        if not checked.method:  # throttled before the code was compared
            return RecoveryResult("throttled", wait_seconds=wait)
        row.code_attempts += 1
        if row.code_attempts >= throttle_rules.ATTEMPTS_PER_PENDING_LOGIN:
            db.delete(row)
            audit.record(ctx, db, "authn_login_fail_max", request=request, user=user, outcome="failure")
            return RecoveryResult("restart", wait_seconds=wait)
        return RecoveryResult("throttled" if wait else "invalid", wait_seconds=wait)


def lost_phone_view(ctx: Context, token: str | None) -> LostPhoneView | None:
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return None
        row, user = found
        return LostPhoneView(
            email=user.email,
            fresh=sessions.reauthenticated_recently(ctx, row),
            methods=[
                MethodChoice(f.id, f.kind, f.label, factor_registry.on_phone(f.kind))
                for f in accounts.confirmed_methods(db, user.id)
            ],
            recovery_left=recovery.remaining(db, user.id),
        )


def replace_lost_methods(
    ctx: Context, token: str | None, factor_ids: list[int], request: RequestInfo
) -> LostPhoneResult:
    """Removes the chosen methods now and sends the session to enrollment (forced before anything
    else); the session keeps ``must_replace_method`` so enrolling issues new recovery codes."""
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return LostPhoneResult("no_session")
        row, user = found
        if not sessions.reauthenticated_recently(ctx, row):
            return LostPhoneResult("reauth")
        chosen = [f for f in accounts.confirmed_methods(db, user.id) if f.id in set(factor_ids)]
        if not chosen:
            return LostPhoneResult("nothing_chosen")
        removed = [f.kind for f in chosen]
        for factor in chosen:
            audit.record(
                ctx,
                db,
                "authn_token_delete",
                request=request,
                user=user,
                reason="lost phone",
                method=factor.kind,
            )
            db.delete(factor)
        accounts.revoke_remembered_devices(db, user.id)
        sessions.destroy_all(db, user.id, except_id=row.id)
        user.must_enroll = True
        row.must_replace_method = True
        new_token = sessions.create(
            ctx,
            db,
            user,
            Stage.ENROLL,
            request,
            password_at=row.password_at,
            second_step_at=row.second_step_at,
            replacing=row,
        )
        email, language = user.email, user.language
        browser = devices.browser_summary(request.user_agent)
        notify.tell_after_commit(
            ctx, db, email, language, "lost_phone", request, browser_label=browser, methods=removed
        )
        return LostPhoneResult("enroll", token=new_token, removed=removed)


@dataclass(frozen=True)
class DownloadRefused:
    """``reauth``: the session is not fresh (a remembered device, or more than five minutes since the
    last second step); ``throttled``: the account's second-step throttle is running."""

    outcome: Literal["reauth", "throttled"]
    wait_seconds: int = 0


def codes_for_download(
    ctx: Context, token: str | None, submitted: list[str], request: RequestInfo
) -> Download | DownloadRefused | None:
    """The posted codes as a file, but only those that are this user's unused codes.

    The answer says which submitted codes are unused ones, so it is a way to test guesses: only a
    fresh session (re-authenticated, as for any change; the codes are shown right after one) gets
    it, and every submitted code that is not an unused one counts as a wrong second-step code on the
    account's throttle (``guesses``), which refuses the download while it runs."""
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        found = _signed_in(ctx, db, token)
        if found is None:
            return None
        row, user = found
        if not reauth.is_fresh(ctx, db, row):
            return DownloadRefused("reauth")
        wait = throttling.wait_seconds(db, throttling.second_step_key(user.id), now)
        if wait:
            return DownloadRefused("throttled", wait)
        checked = submitted[: RECOVERY_CODE_COUNT]
        codes = recovery.unused_among(ctx, db, user.id, checked)
        tried = {normalize_recovery_code(raw) for raw in checked if raw.strip()}
        misses = len(tried - set(codes))
        if misses:
            failure = None
            for _ in range(misses):
                failure = guesses.second_step_failed(ctx, db, user, guesses.RECOVERY_CODE, request, now)
            assert failure is not None
            audit.record(
                ctx,
                db,
                "authn_login_fail",
                request=request,
                user=user,
                outcome="failure",
                step="recovery_codes_download",
                misses=misses,
                failures=failure.failures,
            )
        return Download(email=user.email, codes=codes)
