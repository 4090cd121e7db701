"""The one registry of second-step factors and the one dispatch every caller uses.

``FACTORS`` lists every factor once. ``verify`` runs the factor a method names (an unknown or
unusable method is simply a wrong code: fail closed); ``sign_in_kinds`` and ``available_methods``
give the order every list of methods uses (strongest first, ``spec.strength_rank``); ``label`` names
a method on My account.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from twostep.domain.factors import Verdict
from twostep.services.core import accounts
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors import passkey, recovery_code, sent_code, totp
from twostep.services.factors.base import Challenge, Factor, Proof
from twostep.storage.models import Factor as FactorRow
from twostep.storage.models import User

#: Every factor, by kind. Adding a method: one line here.
FACTORS: dict[str, Factor] = {
    factor.spec.kind: factor
    for factor in (passkey.FACTOR, totp.FACTOR, sent_code.SMS, sent_code.EMAIL, recovery_code.FACTOR)
}
#: Other names a caller's method may go by (the reset page's ``?method=recovery``).
ALIASES = {"recovery": recovery_code.FACTOR.spec.kind, "passkey_synced": passkey.FACTOR.spec.kind}


def find(method: str | None) -> Factor | None:
    return FACTORS.get(ALIASES.get(method or "", method or ""))


def sign_in_kinds() -> list[str]:
    """The methods offered at sign-in, strongest first."""
    offered = [f for f in FACTORS.values() if f.spec.offered_at_sign_in]
    return [f.spec.kind for f in sorted(offered, key=lambda f: f.spec.strength_rank)]


def sending_kinds() -> list[str]:
    return [kind for kind in sign_in_kinds() if FACTORS[kind].spec.sends_code]


def sends_code(method: str | None) -> bool:
    found = find(method)
    return found is not None and found.spec.sends_code


def on_phone(kind: str) -> bool:
    found = find(kind)
    return found is not None and found.spec.on_phone


def delivers_to_mailbox(kind: str) -> bool:
    found = find(kind)
    return found is not None and found.spec.mailbox


def sent_at_once(method: str | None) -> bool:
    found = find(method)
    return found is not None and found.spec.sent_at_once


def phishing_resistant(method: str | None) -> bool:
    """A sign-in with this method can't be relayed by a look-alike site (a passkey: WebAuthn binds
    it to our origin). Marked on every ``authn_login_success``."""
    found = find(method)
    return found is not None and found.spec.phishing_resistant


def ceremony(kind: str | None) -> str:
    """``code`` (typed) or ``json`` (a browser ceremony: a passkey)."""
    found = find(kind)
    return found.spec.ceremony if found is not None else "code"


def rank(kind: str) -> int:
    found = find(kind)
    return found.spec.strength_rank if found is not None else 99


def available_methods(db: Session, user_id: int) -> list[str]:
    """The sign-in methods a second step may use now: confirmed and not disabled, strongest first."""
    kinds = {factor.kind for factor in accounts.confirmed_methods(db, user_id) if factor.disabled_at is None}
    return [kind for kind in sign_in_kinds() if kind in kinds]


def verify(ctx: Context, db: Session, user: User, method: str, code: str, proof: Proof) -> Verdict:
    """The one dispatch: the named factor verifies (and consumes) ``code``."""
    factor = find(method)
    if factor is None:
        return Verdict(accepted=False)
    return factor.verify(ctx, db, user, code, proof)


def challenge(
    ctx: Context, db: Session, user: User, method: str | None, proof: Proof, request: RequestInfo
) -> Challenge | None:
    factor = find(method)
    return factor.challenge(ctx, db, user, proof, request) if factor is not None else None


def label(factor: FactorRow, service_name: str, email: str) -> str:
    found = find(factor.kind)
    return found.label(factor, service_name, email) if found is not None else factor.label
