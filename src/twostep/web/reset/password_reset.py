"""Password reset by an emailed code (/password/forgot, /password/reset), with its real second step."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.emails import normalize_email
from twostep.domain.login_flow import Stage
from twostep.services.reset import password_reset
from twostep.web.core import messages
from twostep.web.core.code_entry import after_send, refusal, say, send_flag, shape_error
from twostep.web.core.pages import Page, build_page

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
    page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, notice: str = "", code: str = ""
) -> Response:
    return page.render(
        "password_reset.html",
        status_code=status_code,
        step="code",
        errors=errors or {},
        notice=notice,
        view=None,
        code=code,
    )


def render_reset_second_page(
    page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, sent: str = ""
) -> Response:
    view = password_reset.second_step_view(page.ctx, page.session_token)
    if view is None:
        page.set_session(None)
        return page.redirect("/password/forgot?notice=expired")
    errors = dict(errors or {})
    if not view.methods:
        errors = {"form": say(page, "reset_no_method"), **errors}
    feedback = after_send(page, sent, view.method, view.resend_in)
    if feedback.send_error:
        errors["send"] = feedback.send_error
    return page.render(
        "password_reset.html",
        status_code=max(status_code, feedback.status_code),
        step="second",
        errors=errors,
        view=view,
        just_sent=feedback.just_sent,
    )


@router.get("/password/reset", response_class=HTMLResponse)
def reset_form(page: PageDep, method: str = "", sent: str = "") -> Response:
    if page.stage is Stage.RESET_SECOND_STEP:
        if method:
            password_reset.choose_method(page.ctx, page.session_token, method)
        return render_reset_second_page(page, sent=sent)
    if password_reset.ticket_email(page.ctx, page.request.cookies.get(ticket_cookie(page))) is None:
        return page.redirect("/password/forgot")
    return render_reset_code_page(page, notice=say(page, "reset_sent"))


def _finished(page: Page) -> Response:
    """An account without two-step verification: the password changed, nobody is signed in (CR-07),
    back to the sign-in page, cookies cleared."""
    page.set_session(None)
    page.cookies_to_clear.append(ticket_cookie(page))
    return page.redirect("/login?notice=password_reset")


def signed_in_location(page: Page, token: str, continue_to: str) -> str:
    """After a real second step the reset ends signed in (services.reset: the one sign-in completion):
    the new session, the reset's ticket cookie cleared, and where the browser goes next (a code's
    form here, or the passkey script: ``web.signin.passkey``)."""
    page.set_session(token)
    page.cookies_to_clear.append(ticket_cookie(page))
    return "/account?notice=password_reset" if continue_to == "/account" else continue_to


def _signed_in(page: Page, token: str, continue_to: str) -> Response:
    return page.continue_to(signed_in_location(page, token, continue_to))


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
        return _second_step_submit(page, code or recovery_code, csrf_token)
    ticket = page.request.cookies.get(ticket_cookie(page))
    if not page.csrf_ok(csrf_token):
        return render_reset_code_page(page, status_code=400, errors={"form": page.message("csrf")}, code=code)
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
    if result.outcome == "mismatch":  # only the passwords are wrong: the emailed code stays typed
        return render_reset_code_page(
            page, status_code=422, errors={"password_confirm": page.message("passwords_differ")}, code=code
        )
    if result.outcome == "password_problem":
        return render_reset_code_page(
            page, status_code=422, errors={"password": page.message(result.problem)}, code=code
        )
    if result.outcome == "throttled":
        return render_reset_code_page(
            page, status_code=429, errors={"code": page.message("throttled", seconds=result.wait_seconds)}
        )
    return render_reset_code_page(page, status_code=401, errors={"code": say(page, "reset_code_invalid")})


def _second_step_submit(page: Page, code: str, csrf_token: str) -> Response:
    if not page.csrf_ok(csrf_token):
        return render_reset_second_page(page, status_code=400, errors={"form": page.message("csrf")})
    view = password_reset.second_step_view(page.ctx, page.session_token)
    if view is not None and view.method != password_reset.RECOVERY and (shape := shape_error(page, code)):
        return render_reset_second_page(page, status_code=422, errors={"code": shape})
    second = password_reset.confirm_second_step(page.ctx, page.session_token, code, page.info)
    if second.outcome == "signed_in" and second.token:
        return _signed_in(page, second.token, second.continue_to)
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
    if second.method == password_reset.RECOVERY:
        error = page.message(messages.RECOVER_TEXT["recovery_invalid"])
    else:
        error = refusal(page, second.outcome, second.method)
    return render_reset_second_page(page, status_code=401, errors={"code": error})


@router.post("/password/reset/send", response_class=HTMLResponse)
def reset_send_code(page: PageDep, csrf_token: FormStr = "") -> Response:
    """POST-redirect-GET: the page comes back at /password/reset, so a reload never sends again."""
    if page.stage is not Stage.RESET_SECOND_STEP:
        return page.redirect("/password/reset")
    if not page.csrf_ok(csrf_token):
        return render_reset_second_page(page, status_code=400, errors={"form": page.message("csrf")})
    result = password_reset.send_code(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/password/forgot?notice=expired")
    return page.redirect(f"/password/reset?sent={send_flag(result)}")


@router.post("/password/reset/cancel")
def reset_cancel(page: PageDep, csrf_token: FormStr = "") -> Response:
    """"Not you?" on the second step: the pending reset ends (its session and the ticket cookie), and
    the browser starts again at /login. Nothing changed, so nothing is audited."""
    if not page.csrf_ok(csrf_token):
        return page.redirect("/password/reset")
    if page.stage is Stage.RESET_SECOND_STEP:
        password_reset.cancel(page.ctx, page.session_token)
        page.set_session(None)
    page.cookies_to_clear.append(ticket_cookie(page))
    return page.redirect("/login")
