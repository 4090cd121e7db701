"""The setup instructions PDF, downloadable without signing in, in the chosen language."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twostep.documents.setup_instructions import render_setup_instructions
from twostep.i18n import LANGUAGES, gettext_for
from twostep.services.admin import appearance
from twostep.web.core.pages import build_page

router = APIRouter()


@lru_cache(maxsize=32)
def _pdf(language: str, service_name: str, support_email: str, base_url: str, logo: bytes | None) -> bytes:
    """The document is the same for everyone and byte-for-byte deterministic (about 150 ms to
    draw), so each language is drawn once per configuration and logo."""
    return render_setup_instructions(
        gettext=gettext_for(language),
        service_name=service_name,
        support_email=support_email,
        base_url=base_url,
        language=language,
        logo=logo,
    )


@router.get("/help/two-step-setup.pdf")
def setup_pdf(request: Request, lang: str = "") -> Response:
    explicit = lang in LANGUAGES
    language = lang if explicit else build_page(request).language
    settings = request.app.state.ctx.settings
    logo = appearance.find_logo(request.app.state.ctx)  # the uploaded logo, in the header too
    pdf = _pdf(language, settings.service_name, settings.support_email, settings.base_url, logo and logo.data)
    headers = {
        "Content-Disposition": f'inline; filename="two-step-setup-{language}.pdf"',
        # The same document for everyone (no secret in it), so shared caches may keep it; without
        # ?lang= the language came from the cookie or Accept-Language, so only the browser may.
        "Cache-Control": "public, max-age=3600" if explicit else "private, max-age=3600",
        "Content-Language": language,
    }
    if not explicit:
        headers["Vary"] = "Accept-Language, Cookie"
    return Response(pdf, media_type="application/pdf", headers=headers)
