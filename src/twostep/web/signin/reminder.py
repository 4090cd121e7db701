"""The grace-period reminder after the password step: "Set up now" or "Later, N days left".

Reached only by accounts that must set up two-step verification but are still within the grace
period (services.policy); the sign-in already counted. Everyone else is sent to My account.
"Later" goes on through ``/login/continue``: back to the application the sign-in came from (the
sign-in kept its target in the session), else My account.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services.rollout import policy
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]


@router.get("/reminder", response_class=HTMLResponse)
def reminder(page: PageDep) -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked is not None or page.session is None:
        return blocked or page.redirect("/login")
    view = policy.reminder_view(page.ctx, page.session.user_id)
    if view is None:
        return page.redirect("/account")
    return page.render("reminder.html", view=view)
