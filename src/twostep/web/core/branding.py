"""The service's identity on every page: the favicon (no more 404 in every log), the logo an
administrator uploaded (``/branding/logo``) and, when the operator sets ``TWOSTEP_ACCENT_COLOR``, a
small stylesheet with the accent's shades (the CSP allows stylesheets from this site only, never an
inline style)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from twostep.domain import colours
from twostep.services.admin import appearance

router = APIRouter()
ICON = Path(__file__).resolve().parents[2] / "static" / "icon.svg"
#: Both are the same for every request of an installation: a day in caches.
CACHE = "public, max-age=86400"


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """The SVG icon (``static/icon.svg``) at the address browsers ask for without being told."""
    return Response(ICON.read_bytes(), media_type="image/svg+xml", headers={"Cache-Control": CACHE})


def theme_css(accent: str) -> str:
    shades = colours.shades(colours.parse(accent))
    light = "".join(f"--{name}:{shades[name]};" for name in ("accent", "accent-dark", "soft"))
    dark = f"--accent:{shades['dark-accent']};--accent-dark:{shades['dark-accent-dark']};--soft:{shades['dark-soft']};"
    return f":root{{{light}}}\n@media (prefers-color-scheme: dark){{:root{{{dark}}}}}\n"


@router.get("/theme.css", include_in_schema=False)
def theme(request: Request) -> Response:
    """The accent's shades (empty when none is set: the stylesheet's own colours stay)."""
    accent = request.app.state.web.ctx.settings.accent_color
    return Response(theme_css(accent) if accent else "", media_type="text/css", headers={"Cache-Control": CACHE})


@router.get("/branding/logo", include_in_schema=False)
async def logo(request: Request, v: str = "") -> Response:
    """The uploaded logo (404 when there is none). Pages link it as ``?v=<version>``: that address
    never changes its bytes, so browsers keep it a year; without the version, or with an old one, the
    answer must be revalidated (ETag). ``nosniff`` and the format's own content type: it is an image,
    never anything a browser would run."""
    found = await run_in_threadpool(appearance.find_logo, request.app.state.web.ctx)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
    if found is None:
        return Response(status_code=404, headers={**headers, "Cache-Control": "no-store"})
    etag = f'"{found.digest[:32]}"'
    current = bool(v) and found.digest.startswith(v) and len(v) >= 16
    headers["ETag"] = etag
    headers["Cache-Control"] = "public, max-age=31536000, immutable" if current else "public, no-cache"
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=found.content_type, headers=headers)
