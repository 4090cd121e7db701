"""The service's identity on every page: the favicon (no more 404 in every log) and, when the
operator sets ``TWOSTEP_ACCENT_COLOR``, a small stylesheet with the accent's shades (the CSP allows
stylesheets from this site only, never an inline style)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twostep.domain import colours

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
