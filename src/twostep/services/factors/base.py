"""The protocol every second-step factor implements, and what a verification is checked against.

A factor says what it is (``spec``: a ``domain.factors.FactorSpec``), verifies a submitted proof
with replay protection and consumption (``verify``: a compare-and-set, so of concurrent uses of one
code exactly one wins), sends a challenge or not (``challenge``), and names itself to its owner
without revealing it (``label``: masked). Enrollment (begin/confirm) is each factor's own pages and
use cases (``spec.templates``; ``services.enrollment``, ``services.oob_enrollment``). A passkey fits
the same shape: ``spec.ceremony == "json"``, ``challenge`` returns the WebAuthn options, ``verify``
checks the signed assertion (``code`` is then its JSON) and its signature counter
(``services.factors.passkey``; its options come from ``/webauthn/authenticate/options``, so its
``challenge`` sends nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from twostep.domain.codes import CodePurpose
from twostep.domain.factors import FactorSpec, Verdict
from twostep.services.core.context import Context, RequestInfo
from twostep.services.factors.sent_codes import Prepared, SendResult
from twostep.storage.models import Factor as FactorRow
from twostep.storage.models import User

#: What ``challenge`` decides inside the transaction: a code to send (``Prepared``: delivered by
#: ``sent_codes.send`` outside it), or why nothing is sent.
Challenge = Prepared | SendResult


@dataclass(frozen=True)
class Proof:
    """What the code is bound to besides the user: the pending session (``bound_to``: a code sent for
    one sign-in never passes another) and the purpose (sign-in, the API's challenge…)."""

    bound_to: str
    purpose: CodePurpose = CodePurpose.SIGN_IN
    #: Who presents it, for a factor's own audit events (a passkey's counter regression).
    request: RequestInfo | None = None


class Factor(Protocol):
    """One second-step method (see the module doc)."""

    @property
    def spec(self) -> FactorSpec: ...

    def verify(self, ctx: Context, db: Session, user: User, code: str, proof: Proof) -> Verdict:
        """Accept ``code`` at most once (consume it in ``db``'s transaction); ``replayed`` when it
        was right but already used. Never raises for bad input: a malformed code is just wrong."""
        ...

    def challenge(self, ctx: Context, db: Session, user: User, proof: Proof, request: RequestInfo) -> Challenge | None:
        """What to send for ``proof`` (None: nothing is ever sent for this factor)."""
        ...

    def label(self, factor: FactorRow, service_name: str, email: str) -> str:
        """How the owner recognises this method (masked: never the full address, number or secret)."""
        ...
