"""Authentication method references (RFC 8176) and the assurance level, from what a session really did.

    password only ............................ amr ["pwd"]                 acr sfa
    password + remembered device ............. amr ["pwd"]                 acr sfa   (the device is no factor)
    password + authenticator app (TOTP) ...... amr ["pwd", "otp", "mfa"]   acr mfa
    password + code by SMS ................... amr ["pwd", "sms", "otp", "mfa"]
    password + code by email ................. amr ["pwd", "otp", "mfa"]
    passkey alone (passwordless, UV) ......... amr ["hwk", "user", "mfa"]   acr mfa
    synced passkey alone ..................... amr ["swk", "user", "mfa"]
    password + passkey ....................... amr ["pwd", "hwk", "user", "mfa"]

A passkey is verified with user verification (a PIN or biometric on the authenticator) every time,
so it is two factors by itself (possession + the authenticator's own check): ``mfa`` without a
password. A remembered device never adds one.

A method this table does not know adds nothing: we never claim more than we saw. The acr values are
the REFEDS assurance profiles, which relying parties already recognise.
"""

from __future__ import annotations

ACR_SINGLE_FACTOR = "https://refeds.org/profile/sfa"
ACR_MULTI_FACTOR = "https://refeds.org/profile/mfa"

#: RFC 8176 §2 values per twostep second-step method.
METHOD_AMR: dict[str, tuple[str, ...]] = {
    "totp": ("otp",),
    "sms": ("sms", "otp"),
    "email": ("otp",),
    "passkey": ("hwk", "user"),  # bound to one device (not backed up)
    "passkey_synced": ("swk", "user"),  # synced between devices by its provider
}
#: Methods that are two factors on their own (a passkey with user verification).
BOTH_FACTORS = frozenset({"passkey", "passkey_synced"})


def counts_as_both_factors(method: str | None) -> bool:
    return (method or "") in BOTH_FACTORS


def amr_for(*, password: bool, second_step_method: str | None, remembered_device: bool) -> list[str]:
    """The methods used, in a stable order; ``mfa`` only when two distinct factors were used."""
    values: list[str] = ["pwd"] if password else []
    second = () if remembered_device else METHOD_AMR.get(second_step_method or "", ())
    values.extend(second)
    if second and (password or counts_as_both_factors(second_step_method)):
        values.append("mfa")
    return values


def acr_for(amr: list[str]) -> str:
    return ACR_MULTI_FACTOR if "mfa" in amr else ACR_SINGLE_FACTOR
