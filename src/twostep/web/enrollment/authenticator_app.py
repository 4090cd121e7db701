"""Choosing a second step (/enroll) and enrolling an authenticator app (/enroll/totp): a QR code, a
wrong first code never forces a re-scan."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area
from twostep.services.enrollment import enrollment
from twostep.services.signin import completion, views
from twostep.web.core.pages import Page, build_page

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
OptionalForm = Annotated[str, Form()]


#: Where the mailbox check may send the user back to (never anywhere else).
ENROLL_PAGES = frozenset({"/enroll", "/enroll/passkey", "/enroll/totp", "/enroll/email", "/enroll/sms"})


def qr_data_uri(uri: str) -> str:
    """Drawn on our server (never a third-party QR service): a PNG as a data: URI."""
    return str(segno.make(uri, error="m").png_data_uri(scale=6, border=4))


@router.get("/enroll", response_class=HTMLResponse)
def enroll_choice(page: PageDep) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return page.render("enroll.html", methods=views.enrollment_choices(page.ctx))


@router.get("/enroll/totp", response_class=HTMLResponse)
def enroll_totp_form(page: PageDep) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    return render_totp_page(page)


def not_admitted(page: Page, refusal: str, path: str) -> Response:
    """Where a session that may not bind a method now goes instead (services.enrollment.admission)."""
    if refusal == "reauth":
        return page.redirect(f"/account/reauth?next={path}")
    if refusal == "mailbox":
        return page.redirect(f"/enroll/mailbox?next={path}")
    page.set_session(None)
    return page.redirect("/login?notice=session_expired")


def render_totp_page(page: Page, *, status_code: int = 200, error: str = "") -> Response:
    started = enrollment.start_totp(page.ctx, page.session_token)
    if isinstance(started, str):
        return not_admitted(page, started, "/enroll/totp")
    return page.render(
        "enroll_totp.html",
        status_code=status_code,
        enrollment=started,
        qr=qr_data_uri(started.uri),
        error=error,
    )


@router.post("/enroll/totp", response_class=HTMLResponse)
def enroll_totp_submit(
    page: PageDep, code: Annotated[str, Form(max_length=64)] = "", csrf_token: OptionalForm = ""
) -> Response:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_totp_page(page, status_code=400, error=page.message("csrf"))
    result = enrollment.confirm_totp(page.ctx, page.session_token, code, page.info)
    if result.outcome == "confirmed" and result.token:
        page.set_session(result.token)
        page.session_token = result.token
        return page.render(
            "enrolled.html",
            method="totp",
            recovery_codes=result.recovery_codes,
            continue_to=completion.RESUME_PATH,  # resumes what the session carries, else My account
        )
    if result.outcome in ("reauth", "mailbox", "no_session"):
        return not_admitted(page, result.outcome, "/enroll/totp")
    if result.outcome == "throttled":
        return render_totp_page(
            page, status_code=429, error=page.message("throttled", seconds=result.wait_seconds)
        )
    if result.outcome == "expired":
        return render_totp_page(page, status_code=410, error=page.message("enroll_expired"))
    if result.drift_seconds is not None:
        return render_totp_page(
            page, status_code=401, error=page.message("clock_off", seconds=abs(result.drift_seconds))
        )
    return render_totp_page(page, status_code=401, error=page.message("code_invalid"))
