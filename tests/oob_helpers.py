"""Helpers for the email/SMS code and password-reset tests: read codes from what was sent, give a
user a confirmed email address or phone, press "Send a code"."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx import Response

from tests.support import RecordingMail, RecordingSms, csrf_of
from twostep.domain.emails import mask_email
from twostep.domain.factors import FactorKind
from twostep.domain.phone import mask_phone
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.services.enrollment import oob_enrollment
from twostep.storage.models import Factor

SIX_DIGITS = re.compile(r"\b(\d{6})\b")
RESET_CODE = re.compile(r"^[ \t]+([A-Z0-9]{8})\s*$", re.MULTILINE)


def code_in(text: str) -> str:
    match = SIX_DIGITS.search(text)
    assert match, f"no 6-digit code in {text!r}"
    return match.group(1)


def mailed_code(mail: RecordingMail, address: str) -> str:
    return code_in(mail.last_to(address).text)


def texted_code(sms: RecordingSms, number: str) -> str:
    return code_in([m for m in sms.sent if m.to == number][-1].text)


def reset_code_in(text: str) -> str:
    match = RESET_CODE.search(text)
    assert match, f"no reset code in {text!r}"
    return match.group(1)


def add_factor(ctx: Context, user_id: int, kind: str, target: str) -> None:
    """A confirmed email address (normalised) or phone (E.164), stored the way enrollment stores it."""
    label = mask_email(target) if kind == FactorKind.EMAIL.value else mask_phone(target)
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        db.add(
            Factor(
                user_id=user_id,
                kind=kind,
                target_sealed=ctx.sealer.seal(target, oob_enrollment.target_owner(user_id, kind)),
                target_digest=oob_enrollment.target_digest(ctx, kind, target),
                label=label,
                created_at=now,
                confirmed_at=now,
            )
        )


def user_with(ctx: Context, login_email: str, /, **factors: str) -> int:
    """A user with confirmed factors, e.g. ``user_with(ctx, "a@x.org", email="codes@y.org", sms="+32...")``."""
    user_id = accounts.create_user(ctx, login_email, "violet staple meadow 42")
    for kind, target in factors.items():
        add_factor(ctx, user_id, kind, target)
    return user_id


def press_send(client: TestClient, path: str = "/login/code", action: str = "/login/code/send") -> Response:
    page = client.get(path)
    return client.post(action, data={"csrf_token": csrf_of(page.text)})


def post_form(client: TestClient, path: str, **data: str) -> Response:
    page = client.get(path)
    return client.post(path, data={**data, "csrf_token": csrf_of(page.text)}, follow_redirects=False)
