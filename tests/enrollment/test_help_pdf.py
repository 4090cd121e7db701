"""The setup instructions PDF as served: downloadable without signing in, linked from the sign-in, code
and enrollment pages and from /account, in the requested language, never containing a secret.

The text checks use pdftotext (Debian's poppler-utils, installed by .ci/run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support import code_for, enrolled_user, login_password, make_user, otpauth_uri, secret_of, submit_code
from twostep.domain.clock import FrozenClock
from twostep.i18n import gettext_for
from twostep.services.core.context import Context

PDF = "/help/two-step-setup.pdf"

#: Headings of the document (msgids in documents/setup_instructions.py) that every language must
#: translate, and letters each translation must show correctly (they need the embedded Unicode font).
HEADINGS = [
    "What is two-step verification?",
    "Step 1: Install an authenticator app",
    "If the QR code will not scan",
    "Step 4: Enter the 6-digit code",
    "Step 5: Save your recovery codes",
    "Even safer: a passkey",
]
LETTERS = {"pl": "ąćęłńóśźż", "nl": "éëïöü", "sv": "åäö"}


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "setup.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return " ".join(out.stdout.decode("utf-8").split())


def test_pdf_downloads_without_signing_in_and_has_the_instructions(client: TestClient, tmp_path: Path) -> None:
    response = client.get(f"{PDF}?lang=en")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-language"] == "en"
    assert 'filename="two-step-setup-en.pdf"' in response.headers["content-disposition"]
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content, tmp_path)
    for words in [
        "Setting up two-step verification for Acme",
        "Google Authenticator",
        "Microsoft Authenticator",
        "Android",
        "iPhone",
        "Scan a QR code",
        "If the QR code will not scan",
        "30 seconds",
        "Remember this device",
        "I lost my phone",
        "help@acme.test",
        "http://127.0.0.1:8000",
    ]:
        assert words in text, words


def test_pdf_is_in_the_language_asked_for(client: TestClient, tmp_path: Path) -> None:
    for language in ["en", "pl", "nl", "sv"]:
        response = client.get(f"{PDF}?lang={language}")
        assert response.headers["content-language"] == language
        assert f"two-step-setup-{language}.pdf" in response.headers["content-disposition"]
        text = pdf_text(response.content, tmp_path)
        assert gettext_for(language)("What is two-step verification?") in text


def test_without_lang_the_pdf_follows_the_page_language_and_is_not_shared_by_caches(client: TestClient) -> None:
    response = client.get(PDF, headers={"Accept-Language": "sv-SE"})
    assert response.headers["content-language"] == "sv"
    assert response.headers["cache-control"].startswith("private")
    assert "Accept-Language" in response.headers["vary"]
    client.get("/login?lang=nl")
    assert client.get(PDF).headers["content-language"] == "nl"
    assert client.get(f"{PDF}?lang=pl").headers["cache-control"].startswith("public")


@pytest.mark.parametrize("language", ["pl", "nl", "sv"])
def test_pdf_translation_with_its_letters(language: str, client: TestClient, tmp_path: Path) -> None:
    """Needs the compiled catalogs (make translations): every heading translated, and printed with
    the language's own letters intact (pdftotext reads back what the embedded font drew)."""
    translate = gettext_for(language)
    text = pdf_text(client.get(f"{PDF}?lang={language}").content, tmp_path)
    untranslated = [h for h in HEADINGS if translate(h) == h]
    assert not untranslated, f"{language}: no translation for {untranslated}"
    for heading in HEADINGS:
        assert translate(heading) in text, translate(heading)
        assert heading not in text
    expected_letters = {ch for h in HEADINGS for ch in translate(h).lower() if ch in LETTERS[language]}
    if language != "nl":  # Dutch headings may well need no diacritics at all
        assert expected_letters, f"{language}: headings without any of {LETTERS[language]}?"
    assert all(ch in text.lower() for ch in expected_letters)


def test_pdf_never_contains_the_users_secret(
    client: TestClient, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    make_user(ctx)
    login_password(client, "ada@example.com")
    secret = secret_of(otpauth_uri(client.get("/enroll/totp").text))
    response = client.get(f"{PDF}?lang=en")
    assert secret.encode() not in response.content
    assert secret not in pdf_text(response.content, tmp_path).replace(" ", "")


def test_pdf_is_linked_from_sign_in_code_enrollment_and_account_pages(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    def links(path: str) -> int:
        html = client.get(path).text
        assert 'lang="pl"' in html[:200], path
        return html.count(f'href="{PDF}?lang=pl"')

    client.get("/login?lang=pl")
    assert links("/login") >= 2  # on the page and in the footer
    make_user(ctx, "new@example.com")
    login_password(client, "new@example.com")
    assert links("/enroll") >= 2
    assert links("/enroll/totp") >= 2
    client.cookies.clear()
    client.get("/login?lang=pl")
    secret = enrolled_user(client, ctx, clock)
    login_password(client, "ada@example.com")
    assert links("/login/code") >= 2
    assert submit_code(client, code_for(secret, clock)).status_code == 303
    assert links("/account") >= 2
