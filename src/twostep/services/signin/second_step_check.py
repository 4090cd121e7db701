"""The one second-step check: every place a second-step code is judged goes through ``check``.

Sign-in (``login.second_step``), sign-in with a recovery code (``recovery_login``), re-authentication
(``reauth.confirm_code``), the password reset's second step (``password_reset.confirm_second_step``)
and the verification API (``verification_api._decide``) differ only in what they do around it (the
pending session, the new session, the API's answer). The rule itself is here, once, in the caller's
transaction (DESIGN "every verification is one transaction"):

1. throttle check on the account's one second-step key (``throttling.second_step_key``): while it
   blocks, the code is not even compared, but the refusal is audited like any other check;
2. verify through the factor registry (the caller's ``verify``: it consumes the code or step with a
   compare-and-set, so a replay loses);
3. on success, earlier failures are forgotten;
4. on failure, ``guesses.second_step_failed`` counts it (and disables the method at the ceiling), an
   ``authn_token_reuse`` (a used code again) or the caller's failure event is written, an
   ``authn_login_lock`` event when the failure started a wait (the API writes it too), and the owner's
   notices — a replayed code, a disabled method — are handed back to be sent after the commit.

A replay right after the same person's own success is not an alarm: the natural retype of a code
that just signed this browser in (a double click, the next page asking again) is refused and audited
like any replay, but sends no "a code was used twice" mail when this account passed a second step
in the last ``OWN_SUCCESS_WINDOW`` from the same client address and browser (the audit log says so). A replay
from anywhere else still mails the owner at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import bindparam, or_, select

from twostep.domain.factors import Verdict
from twostep.services.core import audit, devices, notify, throttling
from twostep.services.core.context import Context, RequestInfo
from twostep.services.signin import completion, guesses
from twostep.storage.database import Executor, FastStatement
from twostep.storage.models import AuditEvent

Outcome = Literal["accepted", "invalid", "replayed", "throttled"]
#: What a code was judged by (the method) and the verdict: the caller's ``verify`` returns it.
Attempt = tuple[str, Verdict]


@dataclass(frozen=True)
class Caller:
    """How one caller's events read in the audit log (the audit vocabulary stays the caller's).

    ``fail_event``: the event for a wrong code; ``reason``: its reason; ``detail``: what every event of
    this caller carries (``step``, ``via``, ``api_key``…); ``replay_label``: how the replay notice names
    the client (the browser by default); ``browser``: the caller is a page a person uses (a replay
    right after their own success there sends no alarm; the API's callers are other programs)."""

    fail_event: str = "authn_login_fail"
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=lambda: {"step": "second"})
    replay_label: str = ""
    browser: bool = True


#: How recent an own success makes a replay from the same browser the owner's retype (two TOTP periods).
OWN_SUCCESS_WINDOW = timedelta(seconds=90)


SIGN_IN = Caller()


@dataclass(frozen=True)
class Checked:
    outcome: Outcome
    method: str = ""
    wait_seconds: int = 0
    failures: int = 0
    #: To send after the commit (``notify.notice_after_commit``, or the API's answer path).
    notices: tuple[notify.Notice, ...] = ()
    #: Accepted: how the session records the method when it differs from the kind (the verdict's,
    #: e.g. a synced passkey); None: the method itself.
    session_method: str | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def replayed(self) -> bool:
        return self.outcome == "replayed" or any(n.event == "replay" for n in self.notices)


def check(
    ctx: Context,
    db: Executor,
    user: guesses.Owner,
    verify: Callable[[], Attempt],
    request: RequestInfo,
    caller: Caller = SIGN_IN,
    *,
    now: datetime | None = None,
) -> Checked:
    """Throttle check → verify → counters → audit, in ``db``'s transaction (see the module doc)."""
    now = now or ctx.clock.now()
    key = throttling.second_step_key(user.id)
    has_failures, wait = throttling.state(db, key, now)
    if wait:  # refused unchecked, but audited like every other check
        audit.record(
            ctx, db, caller.fail_event, request=request, user=user, outcome="failure", reason="throttled",
            seconds=wait, **caller.detail,
        )  # fmt: skip
        return Checked("throttled", wait_seconds=wait)
    method, verdict = verify()
    if verdict.accepted:
        if has_failures:  # earlier failures are forgotten (one write, only when there were any)
            throttling.clear(db, key)
        return Checked("accepted", method, session_method=verdict.session_method)
    failure = guesses.second_step_failed(ctx, db, user, method, request, now)
    own = verdict.replayed and _own_recent_success(db, user.id, request, now, caller)
    quiet: dict[str, Any] = {"after_own_success": True} if own else {}
    audit.record(
        ctx,
        db,
        "authn_token_reuse" if verdict.replayed else caller.fail_event,
        request=request,
        user=user,
        outcome="failure",
        reason=caller.reason,
        method=method,
        failures=failure.failures,
        **quiet,
        **caller.detail,
    )
    wait = failure.wait_seconds
    if wait:
        audit.record(
            ctx, db, "authn_login_lock", request=request, user=user, outcome="failure", method=method,
            seconds=wait, failures=failure.failures, **caller.detail,
        )  # fmt: skip
    notices: list[notify.Notice] = []
    if verdict.replayed and not own:
        label = caller.replay_label or devices.browser_summary(request.user_agent)
        notices.append(notify.Notice(user.email, user.language, "replay", {"browser_label": label}))
    if failure.disabled:
        notices.append(guesses.disabled_notice(user.email, user.language, failure.failures, request))
    outcome: Outcome = "throttled" if wait else ("replayed" if verdict.replayed else "invalid")
    return Checked(outcome, method, wait_seconds=wait, failures=failure.failures, notices=tuple(notices))


#: "This person just passed a second step here": a sign-in (the reset's second step ends in one
#: too), or a re-authentication, from this address and browser, recently. A prebuilt statement, so
#: it runs on the ORM session and on the verification API's raw transactions alike.
_OWN_SUCCESS = FastStatement(
    select(AuditEvent.id)
    .where(
        AuditEvent.user_id == bindparam("user_id"),
        AuditEvent.at >= bindparam("since"),
        or_(AuditEvent.event == completion.SUCCESS_EVENT, AuditEvent.event == "session_renewed"),
        AuditEvent.outcome == "success",
        AuditEvent.ip == bindparam("ip"),
        AuditEvent.user_agent == bindparam("user_agent"),
    )
    .limit(1)
)


def _own_recent_success(db: Executor, user_id: int, request: RequestInfo, now: datetime, caller: Caller) -> bool:
    """Did this account pass a second step in the last ``OWN_SUCCESS_WINDOW`` from this very client
    (address and browser)? Then a replay here is the owner retyping, not someone else's code. Read
    from the audit log, which outlives the session (the owner may have signed out in between)."""
    if not caller.browser or not (request.ip or request.user_agent):
        return False
    params = {
        "user_id": user_id,
        "since": now - OWN_SUCCESS_WINDOW,
        "ip": request.ip[:64],
        "user_agent": request.user_agent[:300],
    }
    return _OWN_SUCCESS.execute(db, params).fetchone() is not None


def notices_after_commit(ctx: Context, db: Executor, checked: Checked, request: RequestInfo) -> None:
    """The check's notices, sent once ``db``'s transaction has committed."""
    for notice in checked.notices:
        notify.notice_after_commit(ctx, db, notice, request)
