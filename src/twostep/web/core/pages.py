"""Per-request page context: language, session, CSRF token, and rendering with translations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from twostep.domain.authz import ReturnUrl
from twostep.domain.login_flow import Area, Stage, home_for, may_enter
from twostep.i18n import LANGUAGES, environment, gettext_for, negotiate
from twostep.services.admin import appearance
from twostep.services.core.context import Context, RequestInfo
from twostep.services.rollout import policy
from twostep.services.signin import completion, passwordless, views
from twostep.web.core.links import same_origin_path
from twostep.web.core.messages import MESSAGES, support_contact
from twostep.web.core.security import (
    CookieNames,
    Csrf,
    TrustedProxies,
    clear_cookie,
    client_ip,
    new_presession_value,
    set_cookie,
)


@dataclass
class WebState:
    """Everything the handlers share, built once in create_app."""

    ctx: Context
    csrf: Csrf
    cookies: CookieNames
    trusted_proxies: TrustedProxies


@dataclass
class Page:
    request: Request
    web: WebState
    language: str
    session_token: str | None
    session: views.SessionInfo | None
    presession: str
    new_presession: bool
    set_language_cookie: str | None = None
    cookies_to_set: list[tuple[str, str, int | None]] = field(default_factory=list)
    cookies_to_clear: list[str] = field(default_factory=list)

    @property
    def ctx(self) -> Context:
        return self.web.ctx

    @property
    def stage(self) -> Stage | None:
        return Stage(self.session.stage) if self.session else None

    @property
    def info(self) -> RequestInfo:
        return RequestInfo(
            ip=client_ip(self.request, self.web.trusted_proxies),
            user_agent=self.request.headers.get("user-agent", "")[:300],
            request_id=getattr(self.request.state, "request_id", ""),
        )

    @property
    def passkey_sign_in(self) -> bool:
        """Offer "Sign in with a passkey" and autofill on /login (policy ``passkey_sign_in``)."""
        return passwordless.allowed(self.ctx)

    @property
    def passkey_next(self) -> str:
        """Where a passkey sign-in from this page continues (``?next=`` or forward-auth's ``?rd=``,
        validated by the one function), for the script."""
        params = self.request.query_params
        return completion.continue_target(self.ctx, params.get("next") or params.get("rd")) or ""

    @property
    def logo_src(self) -> str:
        """The header's logo: the one an administrator uploaded (a versioned ``/branding/logo``), else
        ``TWOSTEP_LOGO_URL``, else "" (the service name alone)."""
        return appearance.logo_src(self.ctx)

    @property
    def csrf_token(self) -> str:
        return self.web.csrf.token_for(self.session_token or self.presession)

    def csrf_ok(self, submitted: str | None) -> bool:
        return self.web.csrf.valid(self.session_token or self.presession, submitted)

    def gettext(self, message: str) -> str:
        return gettext_for(self.language)(message)

    def message(self, code: str, **params: Any) -> str:
        params.setdefault(
            "support",
            support_contact(self.ctx.settings.support_email)
            if self.ctx.settings.support_email
            # Translators: fills %(support)s in "... Contact %(support)s." when no support email is set.
            else self.gettext("your administrator"),
        )
        params.setdefault("min", self.ctx.password_policy.min_length)
        params.setdefault("max", self.ctx.password_policy.max_length)
        text = self.gettext(MESSAGES.get(code, code))
        try:
            return text % params
        except (KeyError, ValueError, TypeError):
            return text

    def render(self, template: str, *, status_code: int = 200, **params: Any) -> HTMLResponse:
        env = environment(self.language)
        html = env.get_template(template).render(
            page=self,
            service=self.ctx.service_name,
            support_email=self.ctx.settings.support_email,
            languages=LANGUAGES,
            language_links=language_links(self.request),
            lang=self.language,
            csrf_token=self.csrf_token,
            session=self.session,
            path=same_origin_path(self.request.url.path),
            remember_days=self.ctx.settings.remember_device_days,
            **params,
        )
        response = HTMLResponse(html, status_code=status_code)
        self.finish(response)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        """303 to a path on this site; anything else (another host) goes to the start page instead."""
        response = RedirectResponse(same_origin_path(url), status_code=303)
        self.finish(response)
        return response

    def continue_to(self, target: str) -> RedirectResponse:
        """303 to where a finished sign-in continues: ``target`` came from
        ``services.signin.completion`` (a same-origin path, or an absolute URL on a host a registered
        predicate allowed), and is checked once more here."""
        if not target.startswith("/") and completion.continue_target(self.ctx, target) == target:
            response = RedirectResponse(target, status_code=303)
            self.finish(response)
            return response
        return self.redirect(target)

    def redirect_to_protected(self, url: ReturnUrl) -> RedirectResponse:
        """303 to a protected application's address (forward-auth's ``rd``), which only
        ``domain.authz.return_url`` produces: a host this installation protects, never another site."""
        response = RedirectResponse(url, status_code=303)
        self.finish(response)
        return response

    def set_session(self, token: str | None) -> None:
        names = self.web.cookies
        if token:
            self.cookies_to_set.append((names.session, token, None))
        else:
            self.cookies_to_clear.append(names.session)

    def finish(self, response: Response) -> Response:
        names = self.web.cookies
        if self.new_presession:
            set_cookie(response, names, names.presession, self.presession)
        if self.set_language_cookie:
            set_cookie(response, names, names.language, self.set_language_cookie, max_age=365 * 86400)
        for name, value, max_age in self.cookies_to_set:
            set_cookie(response, names, name, value, max_age=max_age)
        for name in self.cookies_to_clear:
            clear_cookie(response, names, name)
        return response

    def guard(self, area: Area) -> RedirectResponse | None:
        """Fail closed: a session outside its stage's area is sent to where it belongs."""
        if may_enter(self.stage, area):
            return None
        if self.stage is None:
            return self.redirect("/login")
        return self.redirect(home_for(self.stage))


def build_offline_page(request: Request) -> Page:
    """A page without the database (no session, no policy overrides): for the "temporarily
    unavailable" page, in the language the switcher's cookie or the browser asks for."""
    web: WebState = request.app.state.web
    names = web.cookies
    presession = request.cookies.get(names.presession, "")
    language = resolve_language(
        chosen=request.query_params.get("lang", ""),
        saved=None,
        cookie=request.cookies.get(names.language, ""),
        accept_language=request.headers.get("accept-language", ""),
        default=web.ctx.settings.default_language,
        pending=False,
    )
    return Page(
        request=request,
        web=web,
        language=language,
        session_token=None,
        session=None,
        presession=presession or new_presession_value(),
        new_presession=False,
    )


#: Stages whose sessions may write the account's saved language: a fully signed-in user, and an
#: account enrolling its first method (which has no second step yet). A session that has only
#: passed the password of an account *with* a second step changes nothing on the account.
SAVES_LANGUAGE = frozenset({Stage.SIGNED_IN.value, Stage.ENROLL.value})


def resolve_language(
    *, chosen: str, saved: str | None, cookie: str, accept_language: str, default: str, pending: bool
) -> str:
    """The page language, first match wins:

    1. ``?lang=`` on this request (the language switcher on every page), which is also remembered
       in a cookie and, for a signed-in user, saved on the account;
    2. the account's saved preference, then the switcher's cookie — in the other order while a
       sign-in is pending, so a choice made on the code page sticks before the preference may change;
    3. ``Accept-Language``; 4. the configured default.
    """
    if chosen in LANGUAGES:
        return chosen
    known = [value for value in ((cookie, saved) if pending else (saved, cookie)) if value in LANGUAGES]
    return known[0] if known else (negotiate(accept_language) or default)


def language_links(request: Request) -> dict[str, str]:
    """The switcher's links: this page with ``lang`` set and every other query parameter kept. The
    path comes from the request, so it goes through ``same_origin_path`` (``//evil.example/x`` → ``/``)."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    here = same_origin_path(request.url.path)
    return {code: f"{here}?{urlencode([*params, ('lang', code)])}" for code in LANGUAGES}


def build_page(request: Request) -> Page:
    web: WebState = request.app.state.web
    names = web.cookies
    if not getattr(request.state, "request_id", ""):
        request.state.request_id = uuid.uuid4().hex
    policy.apply(web.ctx)  # the administrator's /admin/policy overrides (re-read every few seconds)
    token = request.cookies.get(names.session)
    session = views.session_info(web.ctx, token) if token else None
    if session is None:
        token = None
    presession = request.cookies.get(names.presession, "")
    new_presession = not presession or len(presession) > 64
    if new_presession:
        presession = new_presession_value()
    chosen = request.query_params.get("lang", "")
    set_language_cookie = None
    if chosen in LANGUAGES:
        set_language_cookie = chosen
        if session is not None and session.stage in SAVES_LANGUAGE:
            views.save_language(web.ctx, session.user_id, chosen)
            session = views.session_info(web.ctx, token)
    language = resolve_language(
        chosen=chosen,
        saved=session.language if session else None,
        cookie=request.cookies.get(names.language, ""),
        accept_language=request.headers.get("accept-language", ""),
        default=web.ctx.settings.default_language,
        pending=session is not None and session.stage not in SAVES_LANGUAGE,
    )
    request.state.user_id = session.user_id if session else None  # for the access log
    return Page(
        request=request,
        web=web,
        language=language,
        session_token=token,
        session=session,
        presession=presession,
        new_presession=new_presession,
        set_language_cookie=set_language_cookie,
    )
