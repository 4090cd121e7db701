"""Issue 18, identity: a favicon (no 404 on every page), the operator's logo and accent colour
(``TWOSTEP_LOGO_URL``, ``TWOSTEP_ACCENT_COLOR``: validated at start), dark mode, the footer, and the
HTML mail with the code large while its text part stays as it was."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.support import RecordingMail, make_user
from twostep.app import create_app
from twostep.domain import colours
from twostep.services.core import notify
from twostep.services.core.context import Context
from twostep.settings import Settings, load_settings


def test_every_page_has_a_favicon_that_answers(client: TestClient) -> None:
    page = client.get("/login")
    assert '<link rel="icon" href="/favicon.ico" sizes="any">' in page.text
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg") and "max-age" in icon.headers["cache-control"]
    assert client.get("/static/icon.svg").status_code == 200


def test_the_footer_names_the_service_and_its_support_contact(client: TestClient) -> None:
    footer = client.get("/login").text.split('<footer class="bottom">', 1)[1]
    assert "<strong>Acme</strong>" in footer and 'href="mailto:help@acme.test"' in footer


def test_pages_follow_the_systems_dark_mode(client: TestClient) -> None:
    css = client.get("/static/style.css").text
    assert "@media (prefers-color-scheme: dark)" in css
    assert '<meta name="color-scheme" content="light dark">' in client.get("/login").text


@pytest.mark.parametrize("value", ["#ffcc00", "#7fbfff", "blue", "#12345", "javascript:alert(1)"])
def test_an_accent_colour_that_is_unreadable_or_not_a_colour_is_refused_at_start(
    tmp_path: object, value: str
) -> None:
    with pytest.raises(ValidationError, match=r"contrast|not a colour"):
        load_settings(data_dir=tmp_path, accent_color=value)  # type: ignore[arg-type]


def test_a_readable_accent_colours_links_and_buttons_with_a_lighter_shade_in_dark_mode(
    settings: Settings, ctx: Context, tmp_path: object
) -> None:
    settings = settings.model_copy(update={"accent_color": "#7a1f8f"})
    ctx.settings = settings
    client = TestClient(create_app(settings, context=ctx), base_url="http://127.0.0.1:8000")
    assert '<link rel="stylesheet" href="/theme.css">' in client.get("/login").text
    css = client.get("/theme.css").text
    assert css.startswith(":root{--accent:#7a1f8f;")
    dark = re.search(r"prefers-color-scheme: dark\)\{:root\{--accent:(#[0-9a-f]{6});", css)
    assert dark and colours.contrast(colours.parse(dark.group(1)), colours.DARK_PAGE) >= 4.5
    assert colours.contrast(colours.parse("#7a1f8f"), colours.WHITE) >= 4.5


def test_without_an_accent_no_theme_stylesheet_is_linked(client: TestClient) -> None:
    assert "/theme.css" not in client.get("/login").text
    assert client.get("/theme.css").text == ""


@pytest.mark.parametrize("value", ["http://logo.example/x.png", "//logo.example/x.png", "javascript:x", "/a b.png"])
def test_a_logo_address_that_is_neither_a_local_path_nor_https_is_refused(tmp_path: object, value: str) -> None:
    with pytest.raises(ValidationError, match="TWOSTEP_LOGO_URL"):
        load_settings(data_dir=tmp_path, logo_url=value)  # type: ignore[arg-type]


def test_a_logo_on_another_host_is_shown_and_allowed_by_the_csp_for_images_only(
    settings: Settings, ctx: Context
) -> None:
    settings = settings.model_copy(update={"logo_url": "https://cdn.acme.test/logo.svg"})
    ctx.settings = settings
    client = TestClient(create_app(settings, context=ctx), base_url="http://127.0.0.1:8000")
    page = client.get("/login")
    assert '<img class="logo" src="https://cdn.acme.test/logo.svg" alt="" height="32">' in page.text
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.acme.test;" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp  # nothing else widened


def test_the_html_mail_shows_the_code_large_and_the_text_part_is_unchanged(ctx: Context, mail: RecordingMail) -> None:
    make_user(ctx)
    subject, text, html = notify.render_mail(ctx, "code", "en", code="493817", purpose="sign_in")
    assert subject == "[Acme] Verification code"
    assert "\n    493817\n" in text and "<" not in text  # the text part as before: plain, the code indented
    assert "<pre" not in html
    assert re.search(r'<p style="[^"]*font-size:32px[^"]*">493817</p>', html)
    assert "It expires in 10 minutes and works once." in html
