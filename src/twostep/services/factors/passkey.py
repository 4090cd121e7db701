"""Passkeys (WebAuthn) behind the factor interface, and the two ceremonies every caller uses.

A passkey is one credential type for two uses: the second step after the password (``PasskeyFactor``
through the one second-step check) and, when the policy allows it, a sign-in on its own
(``services.signin.passwordless``). Either way an assertion is checked here, by ``check_assertion``:

1. the credential is one of ours (confirmed, not disabled), of the expected account when one is
   expected, and the authenticator's user handle, when it sends one, is the account's;
2. py_webauthn checks the signature over authenticatorData + SHA-256(clientDataJSON), the type
   (``webauthn.get``), the origin (ours: a phishing site's origin can't be signed for us), the RP ID
   hash, user presence and **user verification** (required: the passkey is both factors);
3. only then is the challenge consumed: one ``DELETE … RETURNING`` for (challenge, session, purpose,
   not expired) — of concurrent submissions of one assertion exactly one deletes the row (WebAuthn
   §13.4.3, replay); a genuine signature over a challenge that is gone is a replay;
4. the signature counter (``domain.passkeys.judge_counter``): a counter that went backwards is
   refused and audited as a possible clone; the stored count moves forward by compare-and-set.

Registration (``begin_registration`` / ``finish_registration``) verifies the attestation (format
``none`` unless an AAGUID allow-list is configured) and records the passkey as this session's
enrollment in progress; ``services.enrollment`` confirms it like every other method.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, or_, select, true, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_client_data_json, parse_registration_credential_json
from webauthn.helpers.base64url_to_bytes import base64url_to_bytes
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.parse_authentication_credential_json import parse_authentication_credential_json
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from twostep.domain import passkeys
from twostep.domain.codes import CodePurpose
from twostep.domain.factors import REGISTRY as SPECS
from twostep.domain.factors import FactorKind, FactorSpec, Verdict
from twostep.domain.passkeys import Purpose
from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors.base import Challenge, Proof
from twostep.storage.models import Factor, PasskeyChallenge, PasskeyCredential, User

log = logging.getLogger("twostep")

KIND = FactorKind.PASSKEY.value
#: How long the browser may take (a hint to it; the challenge itself lives CHALLENGE_LIFETIME).
TIMEOUT_MS = int(passkeys.CHALLENGE_LIFETIME.total_seconds() * 1000)
#: ES256 first (every authenticator), then EdDSA and RS256 (Windows Hello).
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
#: Largest credential JSON we read (an attestation with a certificate chain stays far below).
MAX_JSON = 64 * 1024


@dataclass(frozen=True)
class RelyingParty:
    rp_id: str
    origin: str
    name: str


def relying_party(ctx: Context) -> RelyingParty | None:
    """Who we are to the browser, from the base URL (``TWOSTEP_WEBAUTHN_RP_ID`` for a parent domain);
    None when passkeys can't work here (an IP address: browsers refuse it)."""
    settings = ctx.settings
    if passkeys.rp_id_problem(settings.base_url, settings.webauthn_rp_id) is not None:
        return None
    return RelyingParty(
        rp_id=passkeys.rp_id_for(settings.base_url, settings.webauthn_rp_id),
        origin=passkeys.origin_of(settings.base_url),
        name=ctx.service_name,
    )


def available(ctx: Context) -> bool:
    return relying_party(ctx) is not None


# --- challenges ---------------------------------------------------------------------------------


def issue_challenge(ctx: Context, db: Session, *, bound_to: str, purpose: Purpose, user_id: int | None) -> bytes:
    """A fresh challenge for this browser session and purpose. Earlier ones of the same session and
    purpose go (only the newest ceremony can finish), and so do expired ones."""
    now = ctx.clock.now()
    db.execute(
        delete(PasskeyChallenge).where(
            or_(
                (PasskeyChallenge.bound_to == bound_to) & (PasskeyChallenge.purpose == purpose.value),
                PasskeyChallenge.expires_at <= now,
            )
        )
    )
    challenge = passkeys_random_challenge()
    db.add(
        PasskeyChallenge(
            challenge=bytes_to_base64url(challenge),
            bound_to=bound_to,
            purpose=purpose.value,
            user_id=user_id,
            created_at=now,
            expires_at=now + passkeys.CHALLENGE_LIFETIME,
        )
    )
    db.flush()
    return challenge


def passkeys_random_challenge() -> bytes:
    """32 random bytes (WebAuthn §13.4.3: at least 16)."""
    return secrets.token_bytes(32)


ChallengeState = Literal["consumed", "expired", "gone"]


@dataclass(frozen=True)
class Consumed:
    state: ChallengeState
    user_id: int | None = None


def consume_challenge(ctx: Context, db: Session, challenge: bytes, *, bound_to: str, purpose: Purpose) -> Consumed:
    """Use the challenge up: one atomic ``DELETE … RETURNING`` (compare-and-set), so of concurrent
    answers exactly one finds it, on any number of workers. ``expired``: it existed but is too old
    (deleted now); ``gone``: used already, never issued, or another session's or purpose's."""
    now = ctx.clock.now()
    encoded = bytes_to_base64url(challenge)
    found = db.execute(
        delete(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge == encoded,
            PasskeyChallenge.bound_to == bound_to,
            PasskeyChallenge.purpose == purpose.value,
            PasskeyChallenge.expires_at > now,
        )
        .returning(PasskeyChallenge.user_id)
    ).first()
    if found is not None:
        return Consumed("consumed", found[0])
    stale = db.execute(
        delete(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge == encoded,
            PasskeyChallenge.bound_to == bound_to,
            PasskeyChallenge.purpose == purpose.value,
        )
        .returning(PasskeyChallenge.id)
    ).first()
    return Consumed("expired" if stale is not None else "gone")


# --- reading credentials ------------------------------------------------------------------------


def usable_credentials(db: Session, user_id: int) -> list[PasskeyCredential]:
    """The account's confirmed, not disabled passkeys."""
    return list(
        db.scalars(
            select(PasskeyCredential)
            .join(Factor, Factor.id == PasskeyCredential.factor_id)
            .where(
                PasskeyCredential.user_id == user_id,
                Factor.confirmed_at.is_not(None),
                Factor.disabled_at.is_(None),
            )
            .order_by(PasskeyCredential.id)
        )
    )


def passkey_methods(methods: Iterable[Factor]) -> list[Factor]:
    """The passkeys among an account's methods (My account's list, the console's removal)."""
    return [factor for factor in methods if factor.kind == KIND]


def passkey_method(methods: Iterable[Factor], factor_id: int) -> Factor | None:
    return next((factor for factor in passkey_methods(methods) if factor.id == factor_id), None)


def credentials_of(db: Session, factor_ids: list[int]) -> list[PasskeyCredential]:
    """The credentials behind these passkey methods (My account, the admin's user page)."""
    if not factor_ids:
        return []
    return list(db.scalars(select(PasskeyCredential).where(PasskeyCredential.factor_id.in_(factor_ids))))


def _descriptor(row: PasskeyCredential) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in row.transports.split(","):
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id), transports=transports or None)


def user_handle(ctx: Context, user_id: int) -> bytes:
    """The opaque id the authenticator keeps for the account (WebAuthn §14.6.1: no personal data):
    a keyed digest of the account number, the same for every passkey of the account."""
    return bytes.fromhex(ctx.digester.digest(str(user_id), "webauthn-user-handle"))


# --- registration -------------------------------------------------------------------------------


def begin_registration(ctx: Context, db: Session, user: User, *, bound_to: str) -> str | None:
    """The options for ``navigator.credentials.create()`` (JSON), with a challenge bound to this
    session; None when passkeys can't work here."""
    rp = relying_party(ctx)
    if rp is None:
        return None
    challenge = issue_challenge(ctx, db, bound_to=bound_to, purpose=Purpose.REGISTER, user_id=user.id)
    allow_list = passkeys.parse_aaguid_list(ctx.settings.webauthn_allowed_aaguids)
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=user_handle(ctx, user.id),
        user_display_name=user.name or user.email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.DIRECT if allow_list else AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(row) for row in usable_credentials(db, user.id)],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json(options)


RegistrationOutcome = Literal["registered", "invalid", "expired", "not_allowed", "duplicate"]


@dataclass(frozen=True)
class Registration:
    outcome: RegistrationOutcome
    factor_id: int | None = None
    provider: str | None = None


def _client_challenge(client_data_json: bytes) -> bytes | None:
    try:
        return parse_client_data_json(client_data_json).challenge
    except Exception:  # malformed: the caller answers "invalid"
        return None


def _loads(raw: str) -> dict[str, Any] | None:
    if len(raw) > MAX_JSON:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def finish_registration(
    ctx: Context, db: Session, user: User, raw_credential: str, *, bound_to: str, request: RequestInfo
) -> Registration:
    """Verify ``navigator.credentials.create()``'s answer and keep the new passkey as this session's
    enrollment in progress (a ``factors`` row without ``confirmed_at``, bound to the session), which
    ``services.enrollment.confirm_passkey`` then confirms like any method."""
    rp = relying_party(ctx)
    data = _loads(raw_credential)
    if rp is None or data is None:
        return _registration_failed(ctx, db, user, request, "malformed")
    try:
        parsed = parse_registration_credential_json(data)
    except Exception:
        return _registration_failed(ctx, db, user, request, "malformed")
    challenge = _client_challenge(parsed.response.client_data_json)
    if challenge is None:
        return _registration_failed(ctx, db, user, request, "malformed")
    consumed = consume_challenge(ctx, db, challenge, bound_to=bound_to, purpose=Purpose.REGISTER)
    if consumed.state != "consumed" or consumed.user_id != user.id:
        _registration_failed(ctx, db, user, request, f"challenge_{consumed.state}")
        return Registration("expired")
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except Exception as error:  # py_webauthn's refusal (or a malformed part it choked on)
        return _registration_failed(ctx, db, user, request, _reason(error))
    allow_list = passkeys.parse_aaguid_list(ctx.settings.webauthn_allowed_aaguids)
    if allow_list and verified.aaguid.lower() not in allow_list:
        _registration_failed(ctx, db, user, request, "aaguid_not_allowed", aaguid=verified.aaguid)
        return Registration("not_allowed")
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.scalar(select(PasskeyCredential.id).where(PasskeyCredential.credential_id == credential_id)) is not None:
        _registration_failed(ctx, db, user, request, "duplicate")
        return Registration("duplicate")
    now = ctx.clock.now()
    # One passkey in progress per session: an earlier unconfirmed one (the user tried twice) goes.
    db.execute(
        delete(Factor).where(
            Factor.user_id == user.id,
            Factor.kind == KIND,
            Factor.confirmed_at.is_(None),
            Factor.pending_session == bound_to,
        )
    )
    provider = passkeys.provider_name(verified.aaguid)
    factor = Factor(user_id=user.id, kind=KIND, label=provider or "", created_at=now, pending_session=bound_to)
    db.add(factor)
    db.flush()
    transports = ",".join(str(t.value) for t in parsed.response.transports or [])
    db.add(
        PasskeyCredential(
            factor_id=factor.id,
            user_id=user.id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports[:200],
            aaguid=verified.aaguid.lower(),
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
            user_handle=bytes_to_base64url(user_handle(ctx, user.id)),
            created_at=now,
        )
    )
    db.flush()
    return Registration("registered", factor_id=factor.id, provider=provider)


def _reason(error: Exception) -> str:
    """A short, non-secret reason for the audit log (py_webauthn's message names the failed check)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def _registration_failed(
    ctx: Context, db: Session, user: User, request: RequestInfo, reason: str, **detail: Any
) -> Registration:
    audit.record(
        ctx, db, "authn_token_enroll_fail", request=request, user=user, outcome="failure", reason=reason,
        method=KIND, **detail,
    )  # fmt: skip
    return Registration("invalid")


# --- authentication -----------------------------------------------------------------------------


def begin_authentication(
    ctx: Context, db: Session, *, bound_to: str, purpose: Purpose, user_id: int | None
) -> str | None:
    """Options for ``navigator.credentials.get()`` (JSON). With an account (the second step, re-auth)
    its passkeys are listed; without (passwordless, autofill) the list is empty and the
    authenticator offers its discoverable passkeys for our RP ID."""
    rp = relying_party(ctx)
    if rp is None:
        return None
    allow = [_descriptor(row) for row in usable_credentials(db, user_id)] if user_id is not None else []
    challenge = issue_challenge(ctx, db, bound_to=bound_to, purpose=purpose, user_id=user_id)
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


AssertionOutcome = Literal["accepted", "invalid", "replayed", "expired", "regressed", "unknown"]


@dataclass(frozen=True)
class Assertion:
    """What an assertion proved. ``user_id``: the passkey's owner (None when unknown);
    ``synced``: the passkey may live on several devices (a software key in ``amr``)."""

    outcome: AssertionOutcome
    user_id: int | None = None
    factor_id: int | None = None
    synced: bool = False
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def session_method(self) -> str:
        return "passkey_synced" if self.synced else KIND


def enrolled_session_method(db: Session, factor_id: int) -> str:
    """The session's second-step method right after this passkey was registered (with user
    verification): a synced passkey is a software key in ``amr``, as at sign-in."""
    row = db.scalar(select(PasskeyCredential).where(PasskeyCredential.factor_id == factor_id))
    synced = row is not None and row.backup_eligible
    return Assertion("accepted", synced=synced).session_method


def _credential_row(db: Session, credential_id: str) -> PasskeyCredential | None:
    if not credential_id or len(credential_id) > 1400:
        return None
    return db.scalar(
        select(PasskeyCredential)
        .join(Factor, Factor.id == PasskeyCredential.factor_id)
        .where(
            PasskeyCredential.credential_id == credential_id,
            Factor.confirmed_at.is_not(None),
            Factor.disabled_at.is_(None),
        )
    )


def check_assertion(
    ctx: Context,
    db: Session,
    raw_credential: str,
    *,
    bound_to: str,
    purpose: Purpose,
    request: RequestInfo,
    user_id: int | None = None,
) -> Assertion:
    """The one check of a passkey assertion (see the module doc), in ``db``'s transaction."""
    rp = relying_party(ctx)
    data = _loads(raw_credential)
    if rp is None or data is None:
        return Assertion("invalid", reason="malformed")
    try:
        parsed = parse_authentication_credential_json(data)
    except Exception:
        return Assertion("invalid", reason="malformed")
    row = _credential_row(db, parsed.id)
    if row is None:
        return Assertion("unknown", reason="unknown_credential")
    if user_id is not None and row.user_id != user_id:
        return Assertion("invalid", reason="another_account")
    handle = parsed.response.user_handle
    if handle is not None and bytes_to_base64url(handle) != row.user_handle:
        return Assertion("invalid", user_id=row.user_id, reason="user_handle")
    challenge = _client_challenge(parsed.response.client_data_json)
    if challenge is None:
        return Assertion("invalid", user_id=row.user_id, reason="malformed")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,  # checked against our store below, after the signature
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=0,  # the counter is judged by our own rule, below
            require_user_verification=True,
        )
    except Exception as error:
        return Assertion("invalid", user_id=row.user_id, reason=_reason(error))
    consumed = consume_challenge(ctx, db, challenge, bound_to=bound_to, purpose=purpose)
    if consumed.state != "consumed":
        outcome: AssertionOutcome = "expired" if consumed.state == "expired" else "replayed"
        return Assertion(outcome, user_id=row.user_id, reason=f"challenge_{consumed.state}")
    presented = verified.new_sign_count
    if passkeys.judge_counter(row.sign_count, presented) == "regressed":
        owner = db.get(User, row.user_id)
        audit.record(
            ctx, db, "authn_passkey_counter_regressed", request=request, user=owner, outcome="failure",
            reason="possible_clone", factor_id=row.factor_id, stored=row.sign_count, presented=presented,
        )  # fmt: skip
        log.warning("passkey %s: signature counter went back (%s after %s): possible clone",
                    row.factor_id, presented, row.sign_count)  # fmt: skip
        return Assertion("regressed", user_id=row.user_id, factor_id=row.factor_id, reason="counter_regressed")
    now = ctx.clock.now()
    # Compare-and-set: the counter only moves forward (a counter-less authenticator, 0, moves nothing).
    counter_moves = true() if presented == 0 else PasskeyCredential.sign_count < presented
    moved = db.execute(
        update(PasskeyCredential)
        .where(PasskeyCredential.id == row.id, counter_moves)
        .values(
            sign_count=passkeys.counter_after(row.sign_count, presented),
            last_used_at=now,
            backed_up=verified.credential_backed_up,
        )
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], moved).rowcount != 1:  # another request moved the counter past this one meanwhile
        return Assertion("replayed", user_id=row.user_id, factor_id=row.factor_id, reason="counter_race")
    db.execute(update(Factor).where(Factor.id == row.factor_id).values(last_used_at=now))
    db.expire(row)
    synced = row.backup_eligible or verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    return Assertion("accepted", user_id=row.user_id, factor_id=row.factor_id, synced=synced)


# --- the factor ---------------------------------------------------------------------------------


class PasskeyFactor:
    """A passkey behind the ``Factor`` protocol: ``code`` is the assertion's JSON; a challenge is
    fetched by the browser (``/webauthn/authenticate/options``), never sent."""

    spec: FactorSpec = SPECS[FactorKind.PASSKEY]

    def verify(self, ctx: Context, db: Session, user: User, code: str, proof: Proof) -> Verdict:
        if proof.purpose is not CodePurpose.SIGN_IN:  # the API's sent-code challenge: not a ceremony
            return Verdict(accepted=False)
        result = check_assertion(
            ctx, db, code, bound_to=proof.bound_to, purpose=Purpose.SECOND_STEP,
            request=proof.request or RequestInfo(), user_id=user.id,
        )  # fmt: skip
        session_method = result.session_method if result.accepted else None
        return Verdict(accepted=result.accepted, replayed=result.outcome == "replayed", session_method=session_method)

    def challenge(self, ctx: Context, db: Session, user: User, proof: Proof, request: RequestInfo) -> Challenge | None:
        return None  # the browser asks for its options itself; nothing is delivered

    def label(self, factor: Factor, service_name: str, email: str) -> str:
        return factor.label  # the name the user gave it (or its provider's); never key material


FACTOR = PasskeyFactor()
