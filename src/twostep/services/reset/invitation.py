"""Invitations: an account an administrator created gets its first password through the password
reset (the Kinamo flow), with a code that lives as long as the invitation instead of ten minutes.

The mail carries two things: a link to ``/password/invite?t=<token>`` and the code. The token is
sealed (AES-GCM, owner ``invitation``) and names only the address and the expiry, so it proves that we
made the link (nobody can point someone's browser at a reset for an address of their choosing) but
opens nothing on its own: the page it leads to still wants the code, which is stored only as a keyed
digest and works once (``password_reset.issue_set_password_code``). A new invitation, a resend or a
"Forgot your password?" voids the previous code.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from twostep.delivery.mail import MailDeliveryError
from twostep.domain.sealing import SealError
from twostep.services.core import notify
from twostep.services.core.context import Context
from twostep.services.reset import password_reset
from twostep.storage.models import User

log = logging.getLogger("twostep.invitation")

LIFETIME = timedelta(days=7)
_OWNER = "invitation"


@dataclass(frozen=True)
class InvitationMail:
    """An invitation to send once its transaction has committed."""

    to: str
    language: str
    code: str
    link: str
    expires_at: datetime


def link_token(ctx: Context, email: str, expires_at: datetime) -> str:
    payload = json.dumps({"e": email, "x": int(expires_at.timestamp())})
    return base64.urlsafe_b64encode(ctx.sealer.seal(payload, _OWNER)).decode().rstrip("=")


def email_of_link(ctx: Context, token: str) -> str | None:
    """The invited address, if the token is ours and its invitation has not expired."""
    if not token or len(token) > 2000:
        return None
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(ctx.sealer.open(sealed, _OWNER))
        email, expires = str(payload["e"]), int(payload["x"])
    except (ValueError, KeyError, TypeError, SealError):
        return None
    if ctx.clock.now() >= datetime.fromtimestamp(expires, UTC):
        return None
    return email


def issue(ctx: Context, db: Session, user: User) -> InvitationMail:
    """Marks ``user`` invited now and makes its code and link, inside the caller's transaction."""
    now = ctx.clock.now()
    expires_at = now + LIFETIME
    user.invited_at = now
    user.invitation_expires_at = expires_at
    code = password_reset.issue_set_password_code(ctx, db, user, expires_at)
    link = f"{ctx.settings.base_url.rstrip('/')}/password/invite?t={link_token(ctx, user.email, expires_at)}"
    return InvitationMail(user.email, notify.language_of(ctx, user.language), code, link, expires_at)


def send(ctx: Context, mail: InvitationMail) -> bool:
    """Hands the invitation to the mail server; False (and a log line without the code) on failure."""
    try:
        notify.send_mail(
            ctx,
            mail.to,
            "invitation",
            mail.language,
            code=mail.code,
            link=mail.link,
            email=mail.to,
            expires=mail.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    except MailDeliveryError as error:
        log.warning("invitation not delivered: %s", error)
        return False
    except Exception as error:  # a broken sender must not become a 500 in the console
        log.warning("invitation not delivered: %s", type(error).__name__)
        return False
    return True
