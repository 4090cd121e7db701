"""The contract every registered second-step factor keeps (``services.factors.base.Factor``), run
against each one in the manner of django-otp's shared test mixins: a right code is accepted once and
a replay refused, of concurrent uses exactly one wins, wrong tries end in a wait even for the right
code, codes expire (unless the factor says they never do), labels are masked, and nothing secret is
logged. A new factor gets an arrangement in ``ARRANGE`` (the first test fails until it has one)."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.passkey_support import BASE_URL, SoftAuthenticator, b64url
from tests.support import code_for, make_user
from twostep.domain import totp
from twostep.domain.clock import FrozenClock
from twostep.domain.codes import CodePurpose
from twostep.domain.emails import mask_email
from twostep.domain.passkeys import Purpose
from twostep.domain.phone import mask_phone
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, recovery, registry, sent_codes
from twostep.services.factors.base import Proof
from twostep.services.signin import second_step_check
from twostep.storage.models import Factor, User

EMAIL = "ada@example.com"
TARGETS = {"email": "ada.codes@example.org", "sms": "+447700900123"}
PENDING = "pending-session-1"


@dataclass
class Arranged:
    """A user with the factor set up, the proof a code is bound to, and a way to get a right code
    (for a sent code: issue and "deliver" one; for the app: compute it; recovery: one of the codes)."""

    user_id: int
    proof: Proof
    right_code: Callable[[], str]
    secret: str  # what must never be logged or shown: the seed, the address or number, the codes


def _factor_row(ctx: Context, clock: FrozenClock, user_id: int, kind: str, **columns: object) -> Factor:
    with ctx.db.transaction() as db:
        row = Factor(user_id=user_id, kind=kind, created_at=clock.now(), confirmed_at=clock.now(), **columns)
        db.add(row)
        db.flush()
        db.expunge(row)
    return row


def _totp(ctx: Context, clock: FrozenClock) -> Arranged:
    user_id = make_user(ctx, EMAIL)
    secret = totp.new_secret()
    _factor_row(ctx, clock, user_id, "totp", label="", secret_sealed=ctx.sealer.seal(secret, f"user:{user_id}:totp"))
    return Arranged(user_id, Proof(PENDING), lambda: code_for(secret, clock), secret)


def _sent(kind: str) -> Callable[[Context, FrozenClock], Arranged]:
    def arrange(ctx: Context, clock: FrozenClock) -> Arranged:
        user_id = make_user(ctx, EMAIL)
        target = TARGETS[kind]
        label = mask_email(target) if kind == "email" else mask_phone(target)
        row = _factor_row(
            ctx, clock, user_id, kind, label=label, target_sealed=ctx.sealer.seal(target, f"user:{user_id}:{kind}")
        )

        def right_code() -> str:
            with ctx.db.transaction() as db:
                user = db.get(User, user_id)
                assert user is not None
                factor = db.get(Factor, row.id)
                issued = sent_codes.issue(ctx, db, user, CodePurpose.SIGN_IN, factor=factor, bound_to=PENDING)
            assert issued.outcome == "issued", issued
            return issued.code

        return Arranged(user_id, Proof(PENDING), right_code, target)

    return arrange


def _passkey(ctx: Context, clock: FrozenClock) -> Arranged:
    """A passkey registered through the real ceremony (a software authenticator); a "code" is one
    signed assertion over a challenge issued for the pending sign-in."""
    ctx.settings = ctx.settings.model_copy(update={"base_url": BASE_URL})  # WebAuthn needs a domain name
    user_id = make_user(ctx, EMAIL)
    authenticator = SoftAuthenticator()
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None
        options = json.loads(passkey.begin_registration(ctx, db, user, bound_to=PENDING) or "{}")
        registered = passkey.finish_registration(
            ctx, db, user, json.dumps(authenticator.create(options)), bound_to=PENDING, request=RequestInfo()
        )
        factor = db.get(Factor, registered.factor_id)
        assert factor is not None
        factor.confirmed_at, factor.pending_session = clock.now(), None

    def right_code() -> str:
        with ctx.db.transaction() as db:
            issued = passkey.begin_authentication(
                ctx, db, bound_to=PENDING, purpose=Purpose.SECOND_STEP, user_id=user_id
            )
        return json.dumps(authenticator.get(json.loads(issued or "{}")))

    return Arranged(user_id, Proof(PENDING), right_code, b64url(authenticator.credential_id))


def _recovery_code(ctx: Context, clock: FrozenClock) -> Arranged:
    user_id = make_user(ctx, EMAIL)
    with ctx.db.transaction() as db:
        codes = recovery.regenerate(ctx, db, user_id)
    left = iter(codes)
    return Arranged(user_id, Proof(PENDING), lambda: next(left), codes[0])


ARRANGE: dict[str, Callable[[Context, FrozenClock], Arranged]] = {
    "passkey": _passkey,
    "totp": _totp,
    "email": _sent("email"),
    "sms": _sent("sms"),
    "recovery_code": _recovery_code,
}
KINDS = sorted(registry.FACTORS)


def verify(ctx: Context, arranged: Arranged, kind: str, code: str) -> tuple[bool, bool]:
    """(accepted, replayed), in one transaction of its own."""
    with ctx.db.transaction() as db:
        user = db.get(User, arranged.user_id)
        assert user is not None
        verdict = registry.verify(ctx, db, user, kind, code, arranged.proof)
    return verdict.accepted, verdict.replayed


def wrong(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def test_every_registered_factor_has_a_contract_arrangement() -> None:
    assert set(registry.FACTORS) == set(ARRANGE)
    # strongest first (a passkey: phishing-resistant); recovery codes not offered
    assert registry.sign_in_kinds() == ["passkey", "totp", "sms", "email"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_right_code_is_accepted_once_and_its_replay_is_refused(ctx: Context, clock: FrozenClock, kind: str) -> None:
    arranged = ARRANGE[kind](ctx, clock)
    code = arranged.right_code()
    assert verify(ctx, arranged, kind, code) == (True, False)
    accepted, replayed = verify(ctx, arranged, kind, code)
    assert not accepted and replayed


@pytest.mark.parametrize("kind", KINDS)
def test_of_concurrent_uses_of_one_code_exactly_one_wins(ctx: Context, clock: FrozenClock, kind: str) -> None:
    arranged = ARRANGE[kind](ctx, clock)
    code = arranged.right_code()
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def submit() -> None:
        try:
            start.wait(timeout=10)
            results.append(verify(ctx, arranged, kind, code)[0])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and sorted(results) == [False] * 5 + [True]


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_tries_end_in_a_wait_even_for_the_right_code(ctx: Context, clock: FrozenClock, kind: str) -> None:
    """Through the one second-step check, as every caller uses the factor."""
    arranged = ARRANGE[kind](ctx, clock)
    code = arranged.right_code()
    outcomes = []
    with ctx.db.transaction() as db:
        user = db.get(User, arranged.user_id)
        assert user is not None
        for attempt in [wrong(code)] * 5 + [code]:
            checked = second_step_check.check(
                ctx, db, user, lambda a=attempt: (kind, registry.verify(ctx, db, user, kind, a, arranged.proof)),
                RequestInfo(),
            )  # fmt: skip
            outcomes.append(checked.outcome)
    assert outcomes[:4] == ["invalid"] * 4 and outcomes[4:] == ["throttled", "throttled"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_code_expires_unless_the_factor_says_it_never_does(ctx: Context, clock: FrozenClock, kind: str) -> None:
    arranged = ARRANGE[kind](ctx, clock)
    code = arranged.right_code()
    clock.advance(minutes=11)
    accepted, _ = verify(ctx, arranged, kind, code)
    assert accepted is not registry.FACTORS[kind].spec.expires


@pytest.mark.parametrize("kind", KINDS)
def test_the_label_never_shows_the_whole_secret_or_target(ctx: Context, clock: FrozenClock, kind: str) -> None:
    arranged = ARRANGE[kind](ctx, clock)
    with ctx.db.transaction() as db:
        rows = list(db.query(Factor).filter(Factor.user_id == arranged.user_id))
    for row in rows:
        label = registry.label(row, "twostep", EMAIL)
        assert arranged.secret not in label
    if kind in TARGETS:  # a sent-code method is named, masked
        [row] = rows
        assert registry.label(row, "twostep", EMAIL) not in ("", TARGETS[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_secret_reaches_the_logs(
    ctx: Context, clock: FrozenClock, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    arranged = ARRANGE[kind](ctx, clock)
    code = arranged.right_code()
    verify(ctx, arranged, kind, wrong(code))
    verify(ctx, arranged, kind, code)
    verify(ctx, arranged, kind, code)
    logged = caplog.text
    assert code not in logged and wrong(code) not in logged and arranged.secret not in logged


def test_a_code_is_bound_to_what_it_was_issued_for(ctx: Context, clock: FrozenClock) -> None:
    """A sent code for one pending sign-in never passes for another, nor for another purpose."""
    for kind in registry.sending_kinds():
        arranged = ARRANGE[kind](ctx, clock)
        code = arranged.right_code()
        arranged.proof = Proof("another-session")
        assert verify(ctx, arranged, kind, code)[0] is False
        arranged.proof = Proof(PENDING, CodePurpose.API_CHALLENGE)
        assert verify(ctx, arranged, kind, code)[0] is False
        with ctx.db.transaction() as db:
            db.query(User).delete()
        clock.advance(minutes=2)


def test_no_caller_dispatches_on_a_method_name() -> None:
    """Source scan: outside the factor modules (and the domain's specs), no comparison of a method
    with a factor name — callers go through the registry (``spec`` flags and ``verify``)."""
    import twostep

    root = Path(twostep.__file__).parent
    pattern = re.compile(
        r"""(==|!=)\s*(FactorKind\.\w+|"(totp|sms|email|recovery_code)")|\b(FactorKind\.\w+|"(totp|sms|email)")\s*(==|!=)"""
    )
    # A query selecting one factor's rows (the TOTP import, the API's TOTP read) is not a dispatch, nor
    # is choosing a delivery channel (``FactorSpec.channel``: "mail" or "sms").
    query = re.compile(r"(Factor|_FACTORS\.c)\.kind ==|channel_of\(")
    allowed = {"services/factors", "domain"}
    offenders = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if any(relative.startswith(prefix) for prefix in allowed):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not query.search(code):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
