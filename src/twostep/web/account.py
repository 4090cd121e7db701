"""My account: methods, remembered devices, sessions, recovery codes, password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services import account_view
from twostep.web.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]


@router.get("/account", response_class=HTMLResponse)
def account_page(page: PageDep) -> Response:
    blocked = page.guard(Area.SIGNED_IN)
    if blocked or page.session is None:
        return blocked or page.redirect("/login")
    view = account_view.overview(page.ctx, page.session.user_id, page.session.session_id)
    notice = page.request.query_params.get("notice", "")
    return page.render("account.html", view=view, notice=notice)
