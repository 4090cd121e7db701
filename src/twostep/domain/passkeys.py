"""Passkeys (WebAuthn Level 3) as pure rules: the relying party's identity, the signature counter,
the provider's name, and what a challenge is for.

Glossary:

    relying party (RP) ... twostep, as WebAuthn calls the site a passkey is for
    RP ID ................ the domain a passkey is bound to: the base URL's host, or a parent domain of
                           it (``TWOSTEP_WEBAUTHN_RP_ID``); a browser refuses any other, and never an
                           IP address (WebAuthn §5.1.3 step 7, §13.4.9)
    origin ............... scheme://host[:port] of the page that ran the ceremony; must be ours
                           (clientDataJSON ``origin``: a phishing site's origin can't be forged)
    challenge ............ 32 random bytes the authenticator signs; single use, bound to one browser
                           session and one purpose, valid ``CHALLENGE_LIFETIME``
    credential id ........ the authenticator's name for one passkey (not secret)
    AAGUID ............... the authenticator model's id (all zeros when the browser hides it)
    sign count ........... a counter some authenticators raise at every use (§6.1.1); synced passkeys
                           report 0 always
    UV ................... user verification: the authenticator checked a PIN, fingerprint or face
                           (required here: one passkey is both factors)
    BE / BS .............. backup eligible / backed up: a synced passkey (software key, ``swk``)
                           rather than one bound to a device (hardware key, ``hwk``)

The counter rule (WebAuthn §6.1.1, §7.2 step 21), as decided here:

    presented == 0 .............. accepted: the authenticator has no counter (synced passkeys);
                                  the stored value is kept
    presented > stored .......... accepted; stored := presented
    0 < presented <= stored ..... refused: a possible clone (two copies of one key counting apart),
                                  audited ``authn_passkey_counter_regressed``
"""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal
from urllib.parse import urlsplit

CHALLENGE_LIFETIME = timedelta(minutes=5)
ZERO_AAGUID = "00000000-0000-0000-0000-000000000000"
#: Longest name a user may give a passkey.
NAME_MAX = 60


class Purpose(StrEnum):
    """What a challenge was issued for; a challenge answers only its own purpose."""

    REGISTER = "register"
    SECOND_STEP = "second_step"  # after the password (sign-in) or in a signed-in session (re-auth)
    SIGN_IN = "sign_in"  # passwordless: the passkey is both factors


CounterVerdict = Literal["ok", "regressed"]


def judge_counter(stored: int, presented: int) -> CounterVerdict:
    """The counter rule in the module doc."""
    if presented == 0 or presented > stored:
        return "ok"
    return "regressed"


def counter_after(stored: int, presented: int) -> int:
    """What to store after an accepted use."""
    return max(stored, presented)


def origin_of(base_url: str) -> str:
    """``scheme://host[:port]`` of the base URL, as a browser writes it in clientDataJSON."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def rp_id_for(base_url: str, override: str = "") -> str:
    """The RP ID: ``override`` (a parent domain, for passkeys shared across subdomains) or the base
    URL's host."""
    return (override.strip().lower().strip(".") or (urlsplit(base_url).hostname or "")).lower()


def rp_id_problem(base_url: str, override: str = "") -> str | None:
    """Why passkeys can't work with this configuration, or None. A browser accepts an RP ID only if it
    is the page's host or a parent domain of it, and never an IP address."""
    host = (urlsplit(base_url).hostname or "").lower()
    rp_id = rp_id_for(base_url, override)
    if not rp_id or is_ip_address(rp_id) or is_ip_address(host):
        return f"the RP ID {rp_id!r} is an IP address (browsers allow passkeys only for domain names)"
    if host != rp_id and not host.endswith("." + rp_id):
        return f"the RP ID {rp_id!r} is not the base URL's host {host!r} or a parent domain of it"
    return None


@cache
def _providers() -> dict[str, str]:
    text = resources.files("twostep").joinpath("data/passkey_providers.json").read_text(encoding="utf-8")
    table = json.loads(text)
    return {key.lower(): str(value) for key, value in table.items() if not key.startswith("_")}


def provider_name(aaguid: str | None) -> str | None:
    """The passkey provider's name for an AAGUID ("Google Password Manager", "iCloud Keychain"…),
    from the small table shipped in ``data/passkey_providers.json``; None when unknown or hidden."""
    key = (aaguid or "").strip().lower()
    if not key or key == ZERO_AAGUID:
        return None
    return _providers().get(key)


def clean_name(raw: str) -> str:
    """A passkey's name as the user typed it: one line, trimmed, at most ``NAME_MAX`` characters."""
    return " ".join(raw.split())[:NAME_MAX]


def parse_aaguid_list(text: str) -> frozenset[str]:
    """``TWOSTEP_WEBAUTHN_ALLOWED_AAGUIDS``: comma-separated AAGUIDs (empty: any authenticator)."""
    return frozenset(piece.strip().lower() for piece in text.replace(";", ",").split(",") if piece.strip())
