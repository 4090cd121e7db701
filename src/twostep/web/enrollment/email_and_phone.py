"""Enrolling a method we send codes to: a separate email address (/enroll/email) or a phone (/enroll/sms)."""

from __future__ import annotations

import functools
from typing import Annotated

import phonenumbers
from babel import Locale
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from twostep.domain.factors import channel_of
from twostep.domain.login_flow import Area
from twostep.domain.phone import region_choices
from twostep.services.enrollment import enrollment, oob_enrollment
from twostep.services.factors.sent_codes import SendResult
from twostep.services.signin import completion, views
from twostep.web.core.pages import Page, build_page
from twostep.web.enrollment import authenticator_app
from twostep.web.signin.code_feedback import say, send_feedback

router = APIRouter()
PageDep = Annotated[Page, Depends(build_page)]
FormStr = Annotated[str, Form(max_length=400)]
CodeField = Annotated[str | None, Form(max_length=64)]


#: A country for national-format numbers when the operator set none (English: no guess).
LANGUAGE_COUNTRY = {"pl": "PL", "nl": "NL", "sv": "SE"}


@functools.lru_cache(maxsize=16)
def _countries(language: str, allowed: frozenset[str]) -> tuple[tuple[str, str], ...]:
    names = Locale.parse(language).territories
    items = [
        (region, f"{names.get(region, region)} ({code})")
        for region, code in region_choices()
        if not allowed or region in allowed
    ]
    return tuple(sorted(items, key=lambda item: item[1].casefold()))


def default_country(page: Page) -> str:
    allowed = oob_enrollment.allowed_countries(page.ctx)
    configured = page.ctx.settings.default_country.strip().upper()
    for candidate in (configured, LANGUAGE_COUNTRY.get(page.language, "")):
        if candidate in phonenumbers.SUPPORTED_REGIONS and (not allowed or candidate in allowed):
            return candidate
    return next(iter(allowed)) if len(allowed) == 1 else ""


def _unavailable(page: Page, kind: str) -> Response:
    return page.render(
        "message.html",
        status_code=404,
        title=page.gettext("Set up two-step verification"),
        error=say(page, f"{kind}_unavailable"),
    )


def render_enroll_page(
    page: Page,
    kind: oob_enrollment.Kind,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    notice: str = "",
    address_step: bool = False,
    value: str = "",
    country: str = "",
) -> Response:
    view = oob_enrollment.view(page.ctx, page.session_token, kind)
    if isinstance(view, str):
        return authenticator_app.not_admitted(page, "ended" if view == "no_session" else view, f"/enroll/{kind}")
    step = "code" if view.pending_label and not address_step else "address"
    params: dict[str, object] = {"view": view, "step": step, "errors": errors or {}, "notice": notice, "value": value}
    if channel_of(kind) == "sms":  # a phone number: its country first
        params["countries"] = _countries(page.language, oob_enrollment.allowed_countries(page.ctx))
        params["country"] = country or default_country(page)
    return page.render(f"enroll_{kind}.html", status_code=status_code, **params)


def _after_send(page: Page, kind: oob_enrollment.Kind, result: SendResult, value: str, country: str) -> Response:
    if result.outcome == "no_session":
        return authenticator_app.not_admitted(page, "ended", f"/enroll/{kind}")
    field = "phone" if channel_of(kind) == "sms" else "email"
    if result.outcome == "refused":
        problem = result.problem
        if problem in ("reauth", "mailbox"):
            return authenticator_app.not_admitted(page, problem, f"/enroll/{kind}")
        if problem == "disabled":
            return _unavailable(page, kind)
        if problem == "no_pending":
            return render_enroll_page(
                page, kind, status_code=410, errors={"form": say(page, "enroll_expired")}, address_step=True
            )
        if problem == "same_as_sign_in":
            message = say(page, "same_as_sign_in", email=page.session.email if page.session else "")
        elif problem == "email_invalid":
            message = page.message("email_invalid")
        else:
            message = say(page, problem)
        return render_enroll_page(
            page, kind, status_code=422, errors={field: message}, address_step=True, value=value, country=country
        )
    feedback, status = send_feedback(page, result)
    if "notice" in feedback:
        return render_enroll_page(page, kind, notice=feedback["notice"])
    return render_enroll_page(page, kind, status_code=status, errors={"send": feedback["send_error"]})


def _after_confirm(page: Page, kind: oob_enrollment.Kind, result: enrollment.ConfirmResult) -> Response:
    if result.outcome == "confirmed" and result.token:
        page.set_session(result.token)
        page.session_token = result.token
        return page.render(
            "enrolled.html",
            method=kind,
            recovery_codes=result.recovery_codes,
            continue_to=completion.RESUME_PATH,  # resumes what the session carries, else My account
        )
    if result.outcome in ("reauth", "mailbox", "no_session"):
        return authenticator_app.not_admitted(page, result.outcome, f"/enroll/{kind}")
    if result.outcome == "throttled":
        return render_enroll_page(
            page, kind, status_code=429, errors={"code": page.message("throttled", seconds=result.wait_seconds)}
        )
    if result.outcome == "expired":
        return render_enroll_page(
            page, kind, status_code=410, errors={"form": say(page, "enroll_expired")}, address_step=True
        )
    return render_enroll_page(page, kind, status_code=401, errors={"code": page.message("code_invalid")})


def _enroll_gate(page: Page, kind: str) -> Response | None:
    blocked = page.guard(Area.ENROLL)
    if blocked:
        return blocked
    if kind not in views.enrollment_choices(page.ctx):
        return _unavailable(page, kind)
    return None


@router.get("/enroll/email", response_class=HTMLResponse)
def enroll_email_form(page: PageDep, change: str = "") -> Response:
    return _enroll_gate(page, "email") or render_enroll_page(page, "email", address_step=bool(change))


@router.post("/enroll/email", response_class=HTMLResponse)
def enroll_email_submit(
    page: PageDep,
    email: FormStr = "",
    code: CodeField = None,
    resend: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    blocked = _enroll_gate(page, "email")
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_enroll_page(page, "email", status_code=400, errors={"form": page.message("csrf")})
    if code is not None:
        return _after_confirm(
            page, "email", oob_enrollment.confirm(page.ctx, page.session_token, "email", code, page.info)
        )
    if resend:
        return _after_send(
            page, "email", oob_enrollment.resend(page.ctx, page.session_token, "email", page.info), "", ""
        )
    result = oob_enrollment.start_email(page.ctx, page.session_token, email, page.info)
    return _after_send(page, "email", result, email, "")


@router.get("/enroll/sms", response_class=HTMLResponse)
def enroll_sms_form(page: PageDep, change: str = "") -> Response:
    return _enroll_gate(page, "sms") or render_enroll_page(page, "sms", address_step=bool(change))


@router.post("/enroll/sms", response_class=HTMLResponse)
def enroll_sms_submit(
    page: PageDep,
    phone: FormStr = "",
    country: Annotated[str, Form(max_length=8)] = "",
    code: CodeField = None,
    resend: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    blocked = _enroll_gate(page, "sms")
    if blocked:
        return blocked
    if not page.csrf_ok(csrf_token):
        return render_enroll_page(page, "sms", status_code=400, errors={"form": page.message("csrf")})
    if code is not None:
        return _after_confirm(page, "sms", oob_enrollment.confirm(page.ctx, page.session_token, "sms", code, page.info))
    if resend:
        return _after_send(page, "sms", oob_enrollment.resend(page.ctx, page.session_token, "sms", page.info), "", "")
    country = country.strip().upper()
    result = oob_enrollment.start_sms(page.ctx, page.session_token, phone, country, page.info)
    return _after_send(page, "sms", result, phone, country)
