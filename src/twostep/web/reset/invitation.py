"""``/password/invite``: where an invitation mail's link lands.

The link names the invitation (sealed: ``services.reset.invitation``); a valid one starts the password
reset for that address, exactly as "Forgot your password?" would (the same ticket cookie), without
sending another code: the invitation mail carries it. It answers with the reset's own page (the code
and the new password, posted to ``/password/reset``: ``web/reset/password_reset.py``), saying where
the code is. An expired or altered link says so and offers the reset.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from twostep.services.reset import invitation, password_reset
from twostep.web.core import messages
from twostep.web.core.pages import Page, build_page
from twostep.web.reset.password_reset import render_reset_code_page, ticket_cookie

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]


@router.get("/password/invite", response_class=HTMLResponse)
def accept_invitation(page: PageDep, t: str = "") -> Response:
    email = invitation.email_of_link(page.ctx, t[:2000])
    if email is None:
        return page.render(
            "invitation_expired.html",
            status_code=410 if t else 400,
            title=page.gettext("This invitation link no longer works"),
        )
    ticket = password_reset.make_ticket(page.ctx, email)
    lifetime = int(password_reset.TICKET_LIFETIME.total_seconds())
    page.cookies_to_set.append((ticket_cookie(page), ticket, lifetime))
    # The reset's own page, with the invitation's words (its code lives 7 days, not 10 minutes);
    # the form posts to /password/reset like any reset.
    return render_reset_code_page(page, notice=page.message(messages.USERS_TEXT["invitation_page"], email=email))
