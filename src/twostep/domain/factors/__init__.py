"""Second-step methods: one module per factor, one explicit registry.

Every factor answers the same question — does this submitted secret prove possession right now? —
through ``verify``; what it checks against (a seed and a last used step, or an issued code) is its
own business. A future passkey factor verifies a signed challenge through the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class FactorKind(StrEnum):
    PASSKEY = "passkey"
    TOTP = "totp"
    EMAIL = "email"
    SMS = "sms"


@dataclass(frozen=True)
class FactorSpec:
    """What every caller may know about a factor without running it.

    ``sends_code``: a code is delivered to the user (email, SMS) rather than computed by them;
    ``strength_rank``: lower is listed first (and is the default choice); ``offered_at_sign_in``:
    False for recovery codes (the way back, never a sign-in method of their own); ``ceremony``:
    ``"code"`` for a typed code, ``"json"`` for a browser ceremony (passkeys, WebAuthn: the factor
    then verifies a signed challenge through the same ``verify``); ``expires``: a code stops working
    after a while (a recovery code does not); ``templates``: its enrollment and code pages;
    ``on_phone``: lives on a phone ("I lost my phone" offers to remove it); ``mailbox``: delivers to
    an email mailbox (the password reset refuses one that is the sign-in mailbox); ``sent_at_once``:
    its code goes out as soon as a step needs it (email, the Kintone page), not only on request;
    ``channel``: how its codes travel (``"mail"``, ``"sms"``; empty when nothing is sent)."""

    kind: str
    sends_code: bool
    phishing_resistant: bool
    strength_rank: int  # lower is listed first
    offered_at_sign_in: bool = True
    ceremony: Literal["code", "json"] = "code"
    expires: bool = True
    templates: tuple[str, ...] = ()
    on_phone: bool = False
    mailbox: bool = False
    sent_at_once: bool = False
    channel: Literal["", "mail", "sms"] = ""


REGISTRY: dict[FactorKind, FactorSpec] = {
    # A passkey (WebAuthn): the only phishing-resistant method, so listed first. Several per account.
    FactorKind.PASSKEY: FactorSpec(
        FactorKind.PASSKEY,
        sends_code=False,
        phishing_resistant=True,
        strength_rank=-1,
        ceremony="json",
        templates=("enroll_passkey.html", "code.html"),
    ),
    FactorKind.TOTP: FactorSpec(
        FactorKind.TOTP,
        sends_code=False,
        phishing_resistant=False,
        strength_rank=0,
        templates=("enroll_totp.html", "code.html"),
        on_phone=True,
    ),
    FactorKind.SMS: FactorSpec(
        FactorKind.SMS,
        sends_code=True,
        phishing_resistant=False,
        strength_rank=1,
        templates=("enroll_sms.html", "code.html"),
        on_phone=True,
        channel="sms",
    ),
    FactorKind.EMAIL: FactorSpec(
        FactorKind.EMAIL,
        sends_code=True,
        phishing_resistant=False,
        strength_rank=2,
        templates=("enroll_email.html", "code.html"),
        mailbox=True,
        sent_at_once=True,
        channel="mail",
    ),
}

#: Recovery codes: a factor used only for recovery (``/login/recover``, the reset's second step).
RECOVERY_CODE = FactorSpec(
    "recovery_code",
    sends_code=False,
    phishing_resistant=False,
    strength_rank=90,
    offered_at_sign_in=False,
    expires=False,
    templates=("recover.html",),
)


@dataclass(frozen=True)
class Verdict:
    """Outcome of one verification; ``replayed`` and plain failure look alike to the user."""

    accepted: bool
    replayed: bool = False
    step: int | None = None
    drift_steps: int | None = None
    #: How the signed-in session records the method when it differs from the factor's kind (a synced
    #: passkey: ``passkey_synced``, a software key in ``amr``); None: the kind itself.
    session_method: str | None = None


def channel_of(kind: str) -> str:
    """How a factor's codes travel ("" for a factor that sends nothing, or an unknown kind)."""
    for spec in REGISTRY.values():
        if spec.kind == kind:
            return spec.channel
    return ""
