"""What every use case needs, built once per app: settings, database, clock, crypto, channels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twostep.delivery.mail import MailSender
from twostep.delivery.sms import FailoverSmsSender
from twostep.domain.clock import Clock
from twostep.domain.passwords import PasswordHashing, PasswordPolicy
from twostep.domain.sealing import Digester, Sealer
from twostep.settings import Settings
from twostep.storage.database import Database

log = logging.getLogger("twostep")


@dataclass(frozen=True)
class RequestInfo:
    """Who is asking, for the audit log and notifications (never secrets)."""

    ip: str = ""
    user_agent: str = ""
    request_id: str = ""


@dataclass
class Context:
    settings: Settings
    db: Database
    clock: Clock
    hashing: PasswordHashing
    sealer: Sealer
    digester: Digester
    mail: MailSender
    sms: FailoverSmsSender
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    # services.policy keeps the configured settings and the administrator's overrides here.
    policy_cache: dict[str, Any] = field(default_factory=dict)
    # services.signin.completion: predicates on an absolute URL that allow it as ``continue_to``
    # (forward-auth registers its protected hosts in create_app; empty: same-origin paths only).
    continue_destinations: list[Callable[[str], bool]] = field(default_factory=list)
    # services.oidc.keys: the current ID-token signing key, re-read from the database every few seconds.
    oidc_key_cache: dict[str, Any] = field(default_factory=dict)
    # services.admin.appearance: the uploaded logo's version, re-read from the database every few seconds.
    branding_cache: dict[str, Any] = field(default_factory=dict)

    @property
    def service_name(self) -> str:
        return self.settings.service_name
