"""Forgetting what has expired: sessions, one-time codes, remembered devices, setup tokens, abandoned
enrollments and rate-limit counters.

Rows are deleted in batches (``BATCH`` rows, one short transaction each), so no lock is held for long
and the server keeps answering; a batch selects its rows through the primary key. Safe to run in
every worker of every instance at once: a delete is idempotent, and rows another run took first are
simply not there any more. Cheap when there is nothing to do: one small indexed or scanned
``DELETE`` per table. Run by each server worker every ``TWOSTEP_PURGE_INTERVAL_SECONDS`` (default 300)
and by ``twostep purge``.

Kept on purpose: the audit log (append-only), throttles (they carry the consecutive-failure count,
which must survive; NIST SP 800-63B-4), used recovery codes (a replay must still be recognised).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, tuple_

from twostep.domain.login_flow import IDLE_TIMEOUT, Stage
from twostep.services.core.context import Context
from twostep.storage.models import (
    Factor,
    OidcAuthorizationCode,
    OidcPendingRequest,
    OidcToken,
    OneTimeCode,
    PasskeyChallenge,
    RateCounter,
    RememberedDevice,
    SetupToken,
    WebSession,
)

log = logging.getLogger("twostep.purge")

BATCH = 500
#: One-time codes and used setup tokens are kept a day after they expire (support questions: "I got a
#: code yesterday"), abandoned enrollments a day after they started.
KEEP_EXPIRED = timedelta(days=1)
#: Rate-limit windows and cooldowns that ended two days ago (services.rate_limits' own rule).
KEEP_COUNTERS_SECONDS = 2 * 86400


def _rules(now: datetime) -> dict[str, tuple[Any, tuple[Any, ...], ColumnElement[bool]]]:
    """table name → (model, primary-key expression, what has expired)."""
    epoch = int(now.timestamp())
    cutoff = epoch - KEEP_COUNTERS_SECONDS
    return {
        "sessions": (
            WebSession,
            (WebSession.id,),
            or_(
                WebSession.expires_at < now,
                and_(WebSession.stage == Stage.SIGNED_IN.value, WebSession.last_seen_at < now - IDLE_TIMEOUT),
            ),
        ),
        "one_time_codes": (OneTimeCode, (OneTimeCode.id,), OneTimeCode.expires_at < now - KEEP_EXPIRED),
        "remembered_devices": (RememberedDevice, (RememberedDevice.id,), RememberedDevice.expires_at < now),
        "setup_tokens": (
            SetupToken,
            (SetupToken.token_digest,),
            or_(SetupToken.expires_at < now, SetupToken.used_at < now - KEEP_EXPIRED),
        ),
        "abandoned_enrollments": (
            Factor,
            (Factor.id,),
            and_(Factor.confirmed_at.is_(None), Factor.created_at < now - KEEP_EXPIRED),
        ),
        "rate_counters": (
            RateCounter,
            (RateCounter.key, RateCounter.window_start),
            or_(
                and_(RateCounter.window_start != 0, RateCounter.window_start < cutoff),
                and_(RateCounter.window_start == 0, RateCounter.count < cutoff),
            ),
        ),
        # WebAuthn challenges nobody answered (services.factors.passkey): five minutes, then useless.
        "passkey_challenges": (PasskeyChallenge, (PasskeyChallenge.id,), PasskeyChallenge.expires_at < now),
        # OpenID Connect (services.oidc): waiting requests, codes a day after expiry (long enough to
        # answer a late reuse with a revocation), token pairs whose refresh token has expired.
        "oidc_pending_requests": (OidcPendingRequest, (OidcPendingRequest.id,), OidcPendingRequest.expires_at < now),
        "oidc_codes": (
            OidcAuthorizationCode,
            (OidcAuthorizationCode.code_digest,),
            OidcAuthorizationCode.expires_at < now - KEEP_EXPIRED,
        ),
        "oidc_tokens": (
            OidcToken,
            (OidcToken.id,),
            or_(
                OidcToken.refresh_expires_at < now,
                and_(OidcToken.refresh_expires_at.is_(None), OidcToken.access_expires_at < now),
            ),
        ),
    }


def purge(ctx: Context, *, batch_size: int = BATCH, pause: Callable[[], None] | None = None) -> dict[str, int]:
    """Delete everything expired, in batches; returns how many rows went, per table."""
    now = ctx.clock.now()
    removed: dict[str, int] = {}
    for name, (model, key, expired) in _rules(now).items():
        total = 0
        while True:
            with ctx.db.transaction() as db:
                batch = select(*key).where(expired).limit(batch_size)
                which = key[0] if len(key) == 1 else tuple_(*key)
                statement = delete(model).where(which.in_(batch))
                count = db.execute(statement).rowcount  # type: ignore[attr-defined]
            total += count
            if count < batch_size:
                break
            if pause is not None:
                pause()  # let other writers in between batches
        removed[name] = total
    if any(removed.values()):
        log.info("purged expired rows %s", removed, extra={"purged": removed})
    return removed


async def run_periodically(ctx: Context, interval_seconds: float, *also: Callable[[Context], object]) -> None:
    """The server's background housekeeping: ``purge``, then each of ``also`` (the caller's other
    periodic jobs: sending waiting invitations), every ``interval_seconds`` (±20 % so that several
    workers and instances spread out), each in a worker thread so the event loop keeps serving."""
    while True:
        await asyncio.sleep(interval_seconds * random.uniform(0.8, 1.2))  # jitter, not a secret
        for job in (purge, *also):
            try:
                await asyncio.to_thread(job, ctx)
            except Exception:  # a database hiccup: try again next time, never take the worker down
                log.exception("%s failed", getattr(job, "__name__", "a periodic job"))
