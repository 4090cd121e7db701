"""The setup instructions PDF, downloadable without signing in, in the chosen language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twostep.documents.setup_instructions import render_setup_instructions
from twostep.i18n import LANGUAGES, gettext_for
from twostep.web.pages import build_page

router = APIRouter()


@router.get("/help/two-step-setup.pdf")
def setup_pdf(request: Request, lang: str = "") -> Response:
    language = lang if lang in LANGUAGES else build_page(request).language
    settings = request.app.state.ctx.settings
    pdf = render_setup_instructions(
        gettext=gettext_for(language),
        service_name=settings.service_name,
        support_email=settings.support_email,
        base_url=settings.base_url,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="two-step-setup-{language}.pdf"',
            "Cache-Control": "public, max-age=3600",
            "Content-Language": language,
        },
    )
