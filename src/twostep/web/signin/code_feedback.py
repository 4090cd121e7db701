"""What the pages that send codes say about a send (sign-in, enrollment of an address or phone, the
password reset): the feedback texts (``web/core/messages.py``: ``CODE_TEXT``) and the email code that
goes out right after the password. Shared by ``web/signin/sign_in.py``, ``web/enrollment/email_and_phone.py``
and ``web/reset/password_reset.py``."""

from __future__ import annotations

from twostep.services.core.context import Context
from twostep.services.factors.sent_codes import SendResult
from twostep.services.signin import login
from twostep.web.core import messages
from twostep.web.core.pages import Page

TEXT = messages.CODE_TEXT


def say(page: Page, key: str, **params: object) -> str:
    return page.message(TEXT[key], **params)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


SENT_KEY, FAILED_KEY = messages.SENT_KEY, messages.FAILED_KEY


def send_feedback(page: Page, result: SendResult) -> tuple[dict[str, str], int]:
    """What a send attempt shows next to the send button, and the page's status code."""
    if result.outcome == "sent":
        return {"notice": say(page, SENT_KEY.get(result.method, "sent"), target=result.target_label)}, 200
    if result.outcome == "cooldown":
        return {"send_error": say(page, "cooldown", seconds=result.wait_seconds)}, 429
    if result.outcome == "hourly_limit":
        return {"send_error": say(page, "hourly_limit", minutes=_minutes(result.wait_seconds))}, 429
    if result.outcome == "failed":
        return {"send_error": say(page, FAILED_KEY.get(result.method, "mail_failed"))}, 503
    return {"send_error": say(page, "no_code_method")}, 400


def query_feedback(page: Page, sent: str) -> tuple[str, str]:
    """(notice, send_error) after the password step sent the email code, or failed to; the
    redirect from /login says which."""
    if sent == "1":
        return say(page, "sent"), ""
    if sent == "failed":
        return "", say(page, "mail_failed")
    if sent == "limited":
        return "", say(page, "limited")
    return "", ""


def auto_send_query(ctx: Context, token: str, page: Page) -> str:
    """Email codes go out right after the password (the Kintone page); SMS only on request."""
    result = login.send_sign_in_code(ctx, token, page.info, at_once_only=True)
    queries = {
        "sent": "?sent=1",
        "failed": "?sent=failed",
        "cooldown": "?sent=limited",
        "hourly_limit": "?sent=limited",
    }
    return queries.get(result.outcome, "")
