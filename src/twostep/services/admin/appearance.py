"""Appearance: the logo an administrator uploads at /admin/appearance (in addition to
``TWOSTEP_LOGO_URL``, which it overrides while it is there).

The image lives in the database (``branding_images``), so every instance serves the same one; the
pages only need its version (the SHA-256 of its bytes, for the URL ``/branding/logo?v=…`` and the
ETag), which each instance re-reads at most every ``REFRESH_SECONDS``. What is accepted is decided
by ``domain.logo``. Every change is one transaction with its audit event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from twostep.domain.logo import Logo, LogoRefused, check_logo
from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.storage.database import is_unavailable
from twostep.storage.models import BrandingImage, User

__all__ = ["LOGO", "REFRESH_SECONDS", "LogoRefused", "StoredLogo", "find_logo", "logo_src", "remove_logo", "save_logo"]

log = logging.getLogger("twostep")

LOGO = "logo"
#: How long an instance keeps believing what it last read (another instance's upload shows this late).
REFRESH_SECONDS = 5.0
LOGO_PATH = "/branding/logo"


@dataclass(frozen=True)
class StoredLogo:
    data: bytes
    content_type: str
    digest: str
    width: int
    height: int


def find_logo(ctx: Context) -> StoredLogo | None:
    """The uploaded logo, or None when there is none."""
    with ctx.db.transaction() as db:
        row = db.get(BrandingImage, LOGO)
        if row is None:
            return None
        return StoredLogo(row.data, row.content_type, row.digest, row.width, row.height)


def _version(ctx: Context) -> str:
    cache = ctx.branding_cache
    now = time.monotonic()
    if now - cache.get("loaded", -REFRESH_SECONDS - 1.0) < REFRESH_SECONDS:
        return str(cache.get("version", ""))
    try:
        with ctx.db.transaction() as db:
            row = db.get(BrandingImage, LOGO)
            version = row.digest if row is not None else ""
    except SQLAlchemyError as error:
        # The error page still renders, with the last logo known; the next try is REFRESH_SECONDS away
        # (not one connection attempt per page while the database is down).
        if is_unavailable(error):
            ctx.db.outage.failed(error)  # one line per outage, not a traceback per page
        else:
            log.exception("could not read the uploaded logo's version")
        cache["loaded"] = now
        return str(cache.get("version", ""))
    cache["loaded"], cache["version"] = now, version
    return version


def logo_src(ctx: Context) -> str:
    """What the page header shows: the uploaded logo (versioned URL) first, else ``TWOSTEP_LOGO_URL``,
    else ""."""
    version = _version(ctx)
    if version:
        return f"{LOGO_PATH}?v={version[:16]}"
    return ctx.settings.logo_url


def save_logo(ctx: Context, data: bytes, *, actor_id: int | None, request: RequestInfo) -> Logo:
    """Check the file (``LogoRefused`` when refused, nothing stored) and make it the logo."""
    logo = check_logo(data)
    now = ctx.clock.now()
    with ctx.db.transaction() as db:
        row = db.get(BrandingImage, LOGO)
        replaced = row is not None
        if row is None:
            row = BrandingImage(name=LOGO)
            db.add(row)
        row.data, row.content_type, row.digest = logo.data, logo.content_type, logo.digest
        row.width, row.height, row.updated_at, row.updated_by = logo.width, logo.height, now, actor_id
        audit.record(
            ctx,
            db,
            "branding_logo_uploaded",
            request=request,
            actor=db.get(User, actor_id) if actor_id is not None else None,
            content_type=logo.content_type,
            size=len(logo.data),
            width=logo.width,
            height=logo.height,
            replaced=replaced,
        )
    ctx.branding_cache.clear()
    return logo


def remove_logo(ctx: Context, *, actor_id: int | None, request: RequestInfo) -> bool:
    """Remove the uploaded logo (``TWOSTEP_LOGO_URL`` applies again); False when there was none."""
    with ctx.db.transaction() as db:
        row = db.get(BrandingImage, LOGO)
        if row is None:
            return False
        db.delete(row)
        audit.record(
            ctx,
            db,
            "branding_logo_removed",
            request=request,
            actor=db.get(User, actor_id) if actor_id is not None else None,
        )
    ctx.branding_cache.clear()
    return True
