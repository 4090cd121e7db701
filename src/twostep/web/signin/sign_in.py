"""The sign-in pages: home, password, second step (and sending its code), first-run setup link, logout."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.login_flow import Area, Stage, home_for
from twostep.services.core import accounts
from twostep.services.enrollment import mailbox_check, setup
from twostep.services.signin import completion, login, views
from twostep.web.core import code_entry
from twostep.web.core.pages import Page, build_page
from twostep.web.signin import code_feedback, return_address

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
FormStr = Annotated[str, Form()]
OptionalForm = Annotated[str, Form()]


@router.get("/", response_class=HTMLResponse)
def home(page: PageDep) -> Response:
    if page.stage is None:
        return page.redirect("/login")
    return page.redirect(home_for(page.stage))


def _continue_to(page: Page) -> str | None:
    """Where the browser goes after sign-in: ``?next=`` (our own pages) or ``?rd=`` (forward-auth),
    validated by the one function (``completion.continue_target``)."""
    params = page.request.query_params
    return completion.continue_target(page.ctx, params.get("next") or params.get("rd"))


def _fresh(page: Page) -> bool:
    """``fresh=1``: a full sign-in even in a signed-in browser, and a remembered device does not skip
    the second step (OpenID Connect's ``prompt=login`` and ``max_age``)."""
    return page.request.query_params.get("fresh") == "1"


def _login_action(target: str | None, fresh: bool = False) -> str:
    """The login form posts back to /login with the target in the query (the fields stay as they are)."""
    query = {"next": target, **({"fresh": "1"} if fresh else {})} if target else {}
    return f"/login?{urlencode(query)}" if query else "/login"


@router.get("/login", response_class=HTMLResponse)
def login_form(page: PageDep) -> Response:
    target = _continue_to(page)
    rd = page.request.query_params.get("rd", "")  # forward-auth's return address (web.return_address)
    if page.stage is Stage.SIGNED_IN and not _fresh(page):
        if rd:  # forward-auth's address: its rules decide, with a step-up if they ask
            return return_address.resume_signed_in(page, rd)
        return page.continue_to(target or "/account")
    notice = page.request.query_params.get("notice", "")
    return page.render(
        "login.html",
        email="",
        errors={},
        notice=notice,
        login_action=_login_action(target, _fresh(page)),
        rd=return_address.safe_rd(page, rd) or "",
    )


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    page: PageDep,
    email: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: OptionalForm = "",
    rd: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    kept = {"rd": return_address.safe_rd(page, rd) or ""}  # forward-auth's return address, kept on errors
    target = _continue_to(page) or completion.continue_target(page.ctx, rd)
    page.request.state.login_action = _login_action(target, _fresh(page))
    if not page.csrf_ok(csrf_token):
        return page.render("login.html", **kept, status_code=400, email=email, errors={"form": page.message("csrf")})
    if not email.strip():
        return page.render(
            "login.html", **kept, status_code=422, email=email, errors={"email": page.message("email_invalid")}
        )
    result = login.password_step(
        page.ctx,
        email,
        password,
        device_token=None if _fresh(page) else page.request.cookies.get(page.web.cookies.device),
        current_token=page.session_token,
        request=page.info,
        continue_to=target,
    )
    if result.outcome == "not_email":
        return page.render(
            "login.html", **kept, status_code=422, email=email, errors={"email": page.message("not_email")}
        )
    if result.outcome == "throttled":
        return page.render(
            "login.html",
            **kept,
            status_code=429,
            email=email,
            errors={"form": page.message("throttled", seconds=result.wait_seconds)},
        )
    if result.outcome == "invalid" or result.token is None:
        return page.render(
            "login.html", **kept, status_code=401, email=email, errors={"form": page.message("login_invalid")}
        )
    page.set_session(result.token)
    if result.outcome == "signed_in":
        return page.continue_to(result.continue_to)
    step = {"second_step": "/login/code", "enroll": "/enroll", "remind": "/reminder"}[result.outcome]
    if result.outcome == "second_step":
        step += code_feedback.auto_send_query(page.ctx, result.token, page)  # email codes: at once (issue 3)
    if result.outcome == "remind" and result.continue_to not in (completion.RESUME_PATH, completion.DEFAULT_TARGET):
        # The reminder's "Later" and the enrollment's "Continue" lead to RESUME_PATH, which resumes
        # the application the sign-in came from (an OpenID Connect authorization, a page of this site).
        completion.keep_target(page.ctx, result.token, result.continue_to)
    if result.outcome == "enroll":
        # The first method needs the sign-in mailbox proven: its code goes out now, so the page
        # that asks for it already has it (issue 18: first sign-in to enrolled in three pages).
        mailbox_check.send(page.ctx, result.token, page.info)
    return page.redirect(step)


@router.get("/login/code", response_class=HTMLResponse)
def code_form(page: PageDep, method: str = "", sent: str = "") -> Response:
    if page.stage is not Stage.SECOND_STEP:
        return page.guard(Area.SECOND_STEP) or page.redirect("/account")
    if method:
        login.choose_method(page.ctx, page.session_token, method)
    return render_code_page(page, sent=sent)


def render_code_page(page: Page, *, status_code: int = 200, error: str = "", sent: str = "") -> Response:
    view = views.code_page_view(page.ctx, page.session_token)
    if view is None:
        return page.redirect("/login?notice=session_expired")
    feedback = code_entry.after_send(page, sent, view.method, view.resend_in)
    return page.render(
        "code.html",
        status_code=max(status_code, feedback.status_code),
        view=view,
        error=error,
        notice="",
        send_error=feedback.send_error,
        just_sent=feedback.just_sent,
    )


@router.post("/login/code", response_class=HTMLResponse)
def code_submit(
    page: PageDep,
    code: Annotated[str, Form(max_length=64)] = "",
    remember_device: OptionalForm = "",
    csrf_token: OptionalForm = "",
) -> Response:
    if page.stage is not Stage.SECOND_STEP:
        return page.guard(Area.SECOND_STEP) or page.redirect("/account")
    if not page.csrf_ok(csrf_token):
        return render_code_page(page, status_code=400, error=page.message("csrf"))
    if shape := code_entry.shape_error(page, code):
        return render_code_page(page, status_code=422, error=shape)
    result = login.second_step(
        page.ctx, page.session_token, code, remember_device=remember_device == "1", request=page.info
    )
    if result.outcome == "signed_in" and result.token:
        page.set_session(result.token)
        if result.device_token:
            page.cookies_to_set.append(
                (page.web.cookies.device, result.device_token, page.ctx.settings.remember_device_days * 86400)
            )
        return page.continue_to(result.continue_to)
    if result.outcome == "restart":
        page.set_session(None)
        return page.redirect("/login?notice=restart")
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    error = code_entry.refusal(page, result.outcome, result.method, result.wait_seconds)
    return render_code_page(page, status_code=429 if result.outcome == "throttled" else 401, error=error)


@router.post("/logout")
def logout(page: PageDep, csrf_token: OptionalForm = "") -> Response:
    if page.csrf_ok(csrf_token):
        signed_in = page.stage is Stage.SIGNED_IN
        login.logout(page.ctx, page.session_token, page.info)
        page.set_session(None)
        # "Sign out" says so on the next page; "Cancel" (or "Not you?") before sign-in just starts again.
        response = page.redirect("/login?notice=signed_out" if signed_in else "/login")
        response.headers["Clear-Site-Data"] = '"cache"'
        return response
    return page.redirect("/")


@router.get("/setup/{token}", response_class=HTMLResponse)
def setup_form(page: PageDep, token: str) -> Response:
    if not setup.setup_link_valid(page.ctx, token):
        return page.render(
            "message.html",
            status_code=404,
            title=page.gettext("Setup link"),
            error=page.message("setup_invalid"),
        )
    return page.render("setup.html", token=token, email="", errors={})


@router.post("/setup/{token}", response_class=HTMLResponse)
def setup_submit(
    page: PageDep,
    token: str,
    email: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_confirm: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: OptionalForm = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return page.render(
            "setup.html", status_code=400, token=token, email=email, errors={"form": page.message("csrf")}
        )
    if password != password_confirm:
        return page.render(
            "setup.html",
            status_code=422,
            token=token,
            email=email,
            errors={"password_confirm": page.message("passwords_differ")},
        )
    try:
        session_token = setup.create_first_admin(page.ctx, token, email, password, page.info)
    except accounts.AccountError as error:
        return page.render(
            "setup.html",
            status_code=422,
            token=token,
            email=email,
            errors={error.field or "form": page.message(error.code)},
        )
    if session_token is None:
        return page.render(
            "message.html",
            status_code=404,
            title=page.gettext("Setup link"),
            error=page.message("setup_invalid"),
        )
    page.set_session(session_token)
    return page.redirect("/enroll")


@router.post("/login/code/send", response_class=HTMLResponse)
def send_sign_in_code(page: PageDep, csrf_token: FormStr = "") -> Response:
    """POST-redirect-GET: the code page comes back at /login/code, so a reload never sends again."""
    if page.stage is not Stage.SECOND_STEP:
        return page.guard(Area.SECOND_STEP) or page.redirect("/account")
    if not page.csrf_ok(csrf_token):
        return render_code_page(page, status_code=400, error=page.message("csrf"))
    result = login.send_sign_in_code(page.ctx, page.session_token, page.info)
    if result.outcome == "no_session":
        page.set_session(None)
        return page.redirect("/login?notice=session_expired")
    return page.redirect(f"/login/code?sent={code_entry.send_flag(result)}")
