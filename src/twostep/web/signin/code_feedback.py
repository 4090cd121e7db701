"""The email code that goes out right after the password (sign-in); the texts every code page shares
live in ``web/core/code_entry.py``."""

from __future__ import annotations

from twostep.services.core.context import Context
from twostep.services.signin import login
from twostep.web.core.pages import Page


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
