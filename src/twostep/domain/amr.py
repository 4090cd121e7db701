"""Authentication method references (RFC 8176) and the assurance level, from what a session really did.

    password only ............................ amr ["pwd"]                 acr sfa
    password + remembered device ............. amr ["pwd"]                 acr sfa   (the device is no factor)
    password + authenticator app (TOTP) ...... amr ["pwd", "otp", "mfa"]   acr mfa
    password + code by SMS ................... amr ["pwd", "sms", "otp", "mfa"]
    password + code by email ................. amr ["pwd", "otp", "mfa"]

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
}


def amr_for(*, password: bool, second_step_method: str | None, remembered_device: bool) -> list[str]:
    """The methods used, in a stable order; ``mfa`` only when two distinct factors were used."""
    values: list[str] = ["pwd"] if password else []
    second = () if remembered_device else METHOD_AMR.get(second_step_method or "", ())
    values.extend(second)
    if password and second:
        values.append("mfa")
    return values


def acr_for(amr: list[str]) -> str:
    return ACR_MULTI_FACTOR if "mfa" in amr else ACR_SINGLE_FACTOR
