"""/enroll/mailbox: the sign-in mailbox proven by an emailed code before an account's first method is bound."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services.enrollment import mailbox_check
from twostep.web.core.pages import Page, build_page
from twostep.web.enrollment.authenticator_app import ENROLL_PAGES, not_admitted
from twostep.web.signin import code_feedback

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]


def _enroll_next(raw: str) -> str:
    return raw if raw in ENROLL_PAGES else "/enroll"


def render_mailbox_page(
    page: Page, next_path: str, *, sent: bool, status_code: int = 200, errors: dict[str, str] | None = None
) -> Response:
    view = mailbox_check.view(page.ctx, page.session_token)
    if view == "not_needed":
        return page.redirect(next_path)
    if view == "no_session":
        return not_admitted(page, "ended", next_path)
    notice = page.message("mailbox_sent", email=view.email) if sent and not errors else ""
    return page.render(
        "enroll_mailbox.html",
        status_code=status_code,
        view=view,
        next=next_path,
        sent=sent,
        notice=notice,
        errors=errors or {},
    )


@router.get("/enroll/mailbox", response_class=HTMLResponse)
def enroll_mailbox_form(page: PageDep, next: str = "", sent: str = "") -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return render_mailbox_page(page, _enroll_next(next), sent=sent == "1")


@router.post("/enroll/mailbox/send", response_class=HTMLResponse)
def enroll_mailbox_send(page: PageDep, next: OptionalForm = "", csrf_token: OptionalForm = "") -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    next_path = _enroll_next(next)
    if not page.csrf_ok(csrf_token):
        return render_mailbox_page(page, next_path, sent=False, status_code=400, errors={"form": page.message("csrf")})
    result = mailbox_check.send(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        return not_admitted(page, "ended", next_path)
    if result.outcome in ("sent", "not_applicable"):
        # POST-redirect-GET: reloading the code page never sends (and voids) another code.
        return page.redirect(f"/enroll/mailbox?sent=1&next={next_path}")
    feedback, status = code_feedback.send_feedback(page, result)
    return render_mailbox_page(
        page, next_path, sent=result.outcome != "failed", status_code=status, errors={"send": feedback["send_error"]}
    )


@router.post("/enroll/mailbox", response_class=HTMLResponse)
def enroll_mailbox_submit(
    page: PageDep,
    code: Annotated[str, Form(max_length=64)] = "",
    next: OptionalForm = "",
    csrf_token: OptionalForm = "",
) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    next_path = _enroll_next(next)
    if not page.csrf_ok(csrf_token):
        return render_mailbox_page(page, next_path, sent=True, status_code=400, errors={"form": page.message("csrf")})
    result = mailbox_check.confirm(page.ctx, page.session_token, code, page.info)
    if result.outcome in ("proven", "not_needed"):
        return page.redirect(next_path)
    if result.outcome == "no_session":
        return not_admitted(page, "ended", next_path)
    if result.outcome == "throttled":
        error = page.message("throttled", seconds=result.wait_seconds)
        return render_mailbox_page(page, next_path, sent=True, status_code=429, errors={"code": error})
    return render_mailbox_page(
        page, next_path, sent=True, status_code=401, errors={"code": page.message("mailbox_code_invalid")}
    )
