"""Security notifications and code messages by email. A notification that cannot be sent is logged
and never blocks or undoes the action it reports (checklist N-04)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twostep.delivery.mail import MailDeliveryError, MailMessage
from twostep.i18n import environment
from twostep.services.core.context import Context, RequestInfo
from twostep.services.core.devices import browser_summary
from twostep.storage.database import Executor, after_commit

log = logging.getLogger("twostep.notify")


class Owner(Protocol):
    @property
    def email(self) -> str: ...
    @property
    def language(self) -> str | None: ...


def language_of(ctx: Context, language: str | None) -> str:
    return language or ctx.settings.default_language


def render_mail(ctx: Context, template: str, language: str, **params: Any) -> tuple[str, str, str]:
    """(subject, text, html) from templates/mail/<template>.txt; the first line is the subject."""
    env = environment(language)
    common = {
        "service": ctx.service_name,
        "support": ctx.settings.support_email,
        "base_url": ctx.settings.base_url,
        **params,
    }
    text = env.get_template(f"mail/{template}.txt").render(**common)
    subject, _, body = text.partition("\n")
    html = env.get_template("mail/layout.html").render(body=body.strip(), subject=subject.strip(), **common)
    return f"[{ctx.service_name}] {subject.strip()}", body.strip() + "\n", html


def send_mail(
    ctx: Context, to: str, template: str, language: str, *, reveals_account: bool = False, **params: Any
) -> None:
    """Raises MailDeliveryError: for codes the caller must tell the user it failed.
    ``reveals_account``: see ``MailMessage`` (kept out of the metrics)."""
    subject, text, html = render_mail(ctx, template, language, **params)
    ctx.mail.send(MailMessage(to=to, subject=subject, text=text, html=html, reveals_account=reveals_account))


def security_notice(
    ctx: Context, to: str, language: str | None, event: str, request: RequestInfo, **params: Any
) -> bool:
    """Tell the account owner something changed; True when the message left us."""
    try:
        send_mail(
            ctx,
            to,
            f"notice_{event}",
            language_of(ctx, language),
            when=ctx.clock.now().strftime("%Y-%m-%d %H:%M UTC"),
            ip=request.ip,
            browser=request.user_agent[:120],
            **params,
        )
    except MailDeliveryError as exc:
        log.warning("security notice %s not delivered: %s", event, exc)
        return False
    return True


@dataclass(frozen=True)
class Notice:
    """A security notice to the account owner, to send once the change it reports is committed."""

    to: str
    language: str | None
    event: str
    params: Mapping[str, Any] = field(default_factory=dict)


def send_notice(ctx: Context, notice: Notice, request: RequestInfo) -> bool:
    return security_notice(ctx, notice.to, notice.language, notice.event, request, **notice.params)


def notice_after_commit(ctx: Context, db: Executor, notice: Notice, request: RequestInfo) -> None:
    """The one way a notice follows a change: sent only after the transaction commits (never for a
    rolled-back change: checklist N-04), outside any lock the transaction held."""
    after_commit(db, lambda: send_notice(ctx, notice, request))


def tell_owner_after_commit(
    ctx: Context, db: Executor, user: Owner, event: str, request: RequestInfo, **params: Any
) -> None:
    """``tell_after_commit`` to the account's owner, naming the browser that made the change."""
    params.setdefault("browser_label", browser_summary(request.user_agent))
    tell_after_commit(ctx, db, user.email, user.language, event, request, **params)


def tell_after_commit(
    ctx: Context, db: Executor, to: str, language: str | None, event: str, request: RequestInfo, **params: Any
) -> None:
    """``notice_after_commit`` for a notice built here."""
    notice_after_commit(ctx, db, Notice(to, language, event, params), request)
