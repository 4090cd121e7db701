"""Password reset by an emailed code (/password/forgot, /password/reset), with its real second step."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.emails import normalize_email
from twostep.domain.login_flow import Stage
from twostep.services.reset import password_reset
from twostep.web.core.pages import Page, build_page
from twostep.web.signin.code_feedback import say, send_feedback

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
FormStr = Annotated[str, Form(max_length=400)]
PasswordField = Annotated[str, Form(max_length=1024)]


def ticket_cookie(page: Page) -> str:
    return ("__Host-" if page.ctx.settings.uses_https else "") + "twostep_reset"


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_form(page: PageDep, notice: str = "") -> Response:
    errors = {}
    if notice == "restart":
        errors["form"] = say(page, "reset_restart")
    elif notice == "expired":
        errors["form"] = say(page, "reset_expired")
    return page.render("password_forgot.html", email="", errors=errors)


@router.post("/password/forgot", response_class=HTMLResponse)
def forgot_submit(
    page: PageDep, background: BackgroundTasks, email: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    """The same answer for every well-formed address: a ticket cookie and a redirect (CR-01)."""
    if not page.csrf_ok(csrf_token):
        return page.render("password_forgot.html", status_code=400, email=email, errors={"form": page.message("csrf")})
    address = normalize_email(email)
    if address is None:
        return page.render(
            "password_forgot.html", status_code=422, email=email, errors={"email": page.message("email_invalid")}
        )
    if page.stage is Stage.RESET_SECOND_STEP:
        password_reset.cancel(page.ctx, page.session_token)
        page.set_session(None)
    request = password_reset.request_reset(page.ctx, address, page.info)
    if request.mail is not None:
        background.add_task(password_reset.deliver_reset_mail, page.ctx, request.mail, page.info)
    lifetime = int(password_reset.TICKET_LIFETIME.total_seconds())
    page.cookies_to_set.append((ticket_cookie(page), request.ticket, lifetime))
    return page.redirect("/password/reset")


def render_reset_code_page(
    page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, notice: str = ""
) -> Response:
    return page.render(
        "password_reset.html", status_code=status_code, step="code", errors=errors or {}, notice=notice, view=None
    )


def render_reset_second_page(
    page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, notice: str = ""
) -> Response:
    view = password_reset.second_step_view(page.ctx, page.session_token)
    if view is None:
        page.set_session(None)
        return page.redirect("/password/forgot?notice=expired")
    if not view.methods:
        errors = {"form": say(page, "reset_no_method"), **(errors or {})}
    return page.render(
        "password_reset.html", status_code=status_code, step="second", errors=errors or {}, notice=notice, view=view
    )


@router.get("/password/reset", response_class=HTMLResponse)
def reset_form(page: PageDep, method: str = "") -> Response:
    if page.stage is Stage.RESET_SECOND_STEP:
        if method:
            password_reset.choose_method(page.ctx, page.session_token, method)
        return render_reset_second_page(page)
    if password_reset.ticket_email(page.ctx, page.request.cookies.get(ticket_cookie(page))) is None:
        return page.redirect("/password/forgot")
    return render_reset_code_page(page, notice=say(page, "reset_sent"))


def _finished(page: Page) -> Response:
    """No automatic sign-in after a reset (CR-07): back to the sign-in page, cookies cleared."""
    page.set_session(None)
    page.cookies_to_clear.append(ticket_cookie(page))
    return page.redirect("/login?notice=password_reset")


@router.post("/password/reset", response_class=HTMLResponse)
def reset_submit(
    page: PageDep,
    code: FormStr = "",
    recovery_code: FormStr = "",
    password: PasswordField = "",
    password_confirm: PasswordField = "",
    csrf_token: FormStr = "",
) -> Response:
    if page.stage is Stage.RESET_SECOND_STEP:
        if not page.csrf_ok(csrf_token):
            return render_reset_second_page(page, status_code=400, errors={"form": page.message("csrf")})
        second = password_reset.confirm_second_step(page.ctx, page.session_token, code or recovery_code, page.info)
        if second.outcome == "done":
            return _finished(page)
        if second.outcome == "restart":
            page.set_session(None)
            return page.redirect("/password/forgot?notice=restart")
        if second.outcome == "no_session":
            page.set_session(None)
            return page.redirect("/password/forgot?notice=expired")
        if second.outcome == "throttled":
            error = page.message("throttled", seconds=second.wait_seconds)
            return render_reset_second_page(page, status_code=429, errors={"code": error})
        return render_reset_second_page(page, status_code=401, errors={"code": page.message("code_invalid")})
    ticket = page.request.cookies.get(ticket_cookie(page))
    if not page.csrf_ok(csrf_token):
        return render_reset_code_page(page, status_code=400, errors={"form": page.message("csrf")})
    result = password_reset.confirm_code(
        page.ctx, ticket, code, password, password_confirm, current_token=page.session_token, request=page.info
    )
    if result.outcome == "done":
        return _finished(page)
    if result.outcome == "second_step" and result.token:
        page.set_session(result.token)
        return page.redirect("/password/reset")
    if result.outcome == "no_ticket":
        return page.redirect("/password/forgot?notice=expired")
    if result.outcome == "mismatch":
        return render_reset_code_page(
            page, status_code=422, errors={"password_confirm": page.message("passwords_differ")}
        )
    if result.outcome == "password_problem":
        return render_reset_code_page(page, status_code=422, errors={"password": page.message(result.problem)})
    if result.outcome == "throttled":
        return render_reset_code_page(
            page, status_code=429, errors={"code": page.message("throttled", seconds=result.wait_seconds)}
        )
    return render_reset_code_page(page, status_code=401, errors={"code": say(page, "reset_code_invalid")})


@router.post("/password/reset/send", response_class=HTMLResponse)
def reset_send_code(page: PageDep, csrf_token: FormStr = "") -> Response:
    if page.stage is not Stage.RESET_SECOND_STEP:
        return page.redirect("/password/reset")
    if not page.csrf_ok(csrf_token):
        return render_reset_second_page(page, status_code=400, errors={"form": page.message("csrf")})
    result = password_reset.send_code(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/password/forgot?notice=expired")
    feedback, status = send_feedback(page, result)
    if "notice" in feedback:
        return render_reset_second_page(page, notice=feedback["notice"])
    return render_reset_second_page(page, status_code=status, errors={"send": feedback["send_error"]})
