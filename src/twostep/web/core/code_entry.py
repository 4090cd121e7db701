"""What every page that asks for a code says (sign-in, enrollment, re-authentication, the reset):
the shape of a typed code ("codes have 6 digits"), why a code was refused in its method's words,
and what a send did (POST-redirect-GET flags, ``?sent=``). The texts are ``web/core/messages.py``'s."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain import totp
from twostep.services.factors import registry as factor_registry
from twostep.services.factors.sent_codes import SendResult
from twostep.web.core import messages
from twostep.web.core.pages import Page

TEXT = messages.CODE_TEXT


def say(page: Page, key: str, **params: object) -> str:
    return page.message(TEXT[key], **params)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


FAILED_KEY = messages.FAILED_KEY


def shape_error(page: Page, code: str) -> str:
    """What is wrong with a typed code before anything is compared ("codes have 6 digits"), or "".
    A code of the wrong shape can't be right: it is answered at once and counts as no guess."""
    problem = totp.code_shape(code)
    if not problem:
        return ""
    if problem == "empty":
        return page.message("code_format")
    if problem == "not_digits":
        return page.message("code_digits")
    return page.message("code_length", count=len("".join(code.split()).replace("-", "")))


def refusal(page: Page, outcome: str, method: str, wait_seconds: int = 0) -> str:
    """Why a code of the right shape was refused, in the words of its method: an app's code that was
    just used means "wait for the next one" (about N s); a code we sent means "send a new code"."""
    if outcome == "throttled":
        return page.message("throttled", seconds=wait_seconds)
    sent = factor_registry.sends_code(method)
    if outcome == "replayed":
        if sent:
            return page.message("sent_code_replayed")
        return page.message("code_replayed", seconds=totp.seconds_to_next_step(page.ctx.clock.now()))
    return page.message("sent_code_invalid" if sent else "code_invalid")


#: POST-redirect-GET for "send a code": what the send did travels as ``?sent=<flag>`` (ids only).
SEND_FLAGS = {"sent": "1", "failed": "failed", "cooldown": "wait", "hourly_limit": "limited", "not_applicable": "none"}


def send_flag(result: SendResult) -> str:
    if result.outcome == "hourly_limit":  # the minutes travel too: "try again in 17 minutes"
        return f"hour{min(60, _minutes(result.wait_seconds))}"
    return SEND_FLAGS.get(result.outcome, "none")


@dataclass(frozen=True)
class Sent:
    """What the page says after a send: the sent line as a status, or the send's error, and the status code."""

    just_sent: bool = False
    send_error: str = ""
    status_code: int = 200


def after_send(page: Page, flag: str, method: str, resend_in: int) -> Sent:
    if flag == "1":
        return Sent(just_sent=True)
    if flag == "failed":
        return Sent(send_error=say(page, FAILED_KEY.get(method, "mail_failed")), status_code=503)
    if flag == "wait" and resend_in:
        return Sent(send_error=say(page, "cooldown", seconds=resend_in), status_code=429)
    if flag.startswith("hour") and flag[4:].isdigit() and len(flag) <= 6:
        return Sent(send_error=say(page, "hourly_limit", minutes=max(1, min(60, int(flag[4:])))), status_code=429)
    if flag in ("wait", "limited"):
        return Sent(send_error=say(page, "limited"), status_code=429)
    if flag == "none":
        return Sent(send_error=say(page, "no_code_method"), status_code=400)
    return Sent()
