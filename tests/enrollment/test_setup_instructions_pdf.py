"""The downloadable two-step setup instructions PDF (twostep.documents.setup_instructions)."""

from __future__ import annotations

import inspect
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from twostep.documents.setup_instructions import FONT_DIR, render_setup_instructions

SERVICE = "Acme Portal"
SUPPORT = "helpdesk@acme.example"
BASE_URL = "https://auth.acme.example"

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdffonts") is None,
    reason="poppler-utils (pdftotext, pdffonts) not installed",
)


def identity(message: str) -> str:
    return message


def render(gettext: Callable[[str], str] = identity, **overrides: str) -> bytes:
    kwargs = {"service_name": SERVICE, "support_email": SUPPORT, "base_url": BASE_URL}
    kwargs.update(overrides)
    return render_setup_instructions(gettext=gettext, **kwargs)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """Text of the PDF according to pdftotext, with all whitespace runs collapsed."""
    path = tmp_path / "setup.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return " ".join(out.stdout.decode("utf-8").split())


def test_fonts_and_license_ship_with_the_package() -> None:
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LICENSE-DejaVu.txt"):
        assert (FONT_DIR / name).is_file(), name
    assert "Bitstream" in (FONT_DIR / "LICENSE-DejaVu.txt").read_text(encoding="utf-8")


def test_is_a_pdf_and_deterministic() -> None:
    pdf = render()
    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert render() == pdf


def test_has_no_secret_parameter() -> None:
    params = set(inspect.signature(render_setup_instructions).parameters)
    # The language only picks the screenshots (of a demo account); the logo is the uploaded image.
    assert params == {"gettext", "service_name", "support_email", "base_url", "language", "logo"}


@needs_poppler
def test_english_text(tmp_path: Path) -> None:
    text = pdf_text(render(), tmp_path)
    assert f"Setting up two-step verification for {SERVICE}" in text
    assert SERVICE in text
    assert BASE_URL in text
    assert "Google Authenticator" in text
    assert "Microsoft Authenticator" in text
    assert "Google Play" in text
    assert "App Store" in text
    assert "30" in text
    assert "14 days" in text
    assert "Can't scan the code?" in text
    assert "Can't get a code?" in text
    assert "I lost my phone" in text
    assert "Remember this device" in text
    assert SUPPORT in text
    assert "contact your administrator" not in text
    assert "Page 1 of" in text


@needs_poppler
def test_without_support_email_points_to_the_administrator(tmp_path: Path) -> None:
    text = pdf_text(render(support_email=""), tmp_path)
    assert "contact your administrator" in text
    assert "@" not in text


@needs_poppler
def test_polish_diacritics_render(tmp_path: Path) -> None:
    def polish(message: str) -> str:
        return "Zażółć gęślą jaźń " + message

    text = pdf_text(render(polish, service_name="Łódź Żółw"), tmp_path)
    assert "Zażółć gęślą jaźń" in text
    assert "ZAŻÓŁĆ" not in text  # sanity: the text is not case-mangled
    assert "Łódź Żółw" in text
    assert "ąęłńóśźż" in pdf_text(render(lambda m: "ąęłńóśźż " + m), tmp_path)


@needs_poppler
def test_swedish_and_dutch_letters_render(tmp_path: Path) -> None:
    text = pdf_text(render(lambda m: "åäö ÅÄÖ " + m), tmp_path)
    assert "åäö ÅÄÖ" in text
    dutch = pdf_text(render(lambda m: "Ĳsselmeer één, reünie " + m), tmp_path)
    assert "één, reünie" in dutch


@needs_poppler
def test_never_contains_a_secret(tmp_path: Path) -> None:
    fake_secret = "JBSWY3DPEHPK3PXP"
    pdf = render()
    assert fake_secret.encode() not in pdf
    text = pdf_text(pdf, tmp_path)
    assert fake_secret not in text
    assert fake_secret not in text.replace(" ", "")


@needs_poppler
def test_dejavu_font_is_embedded(tmp_path: Path) -> None:
    path = tmp_path / "setup.pdf"
    path.write_bytes(render())
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True, timeout=60)
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.strip()]
    assert rows, out.stdout
    for row in rows:
        # name type... encoding emb sub uni object-id generation
        name, emb = row[0], row[-5]
        assert "DejaVu" in name, out.stdout
        assert emb == "yes", out.stdout


def test_step_two_follows_the_screens_in_their_order_and_with_their_names(tmp_path: Path) -> None:
    text = pdf_text(render(), tmp_path)
    step2 = text.split("Step 2:", 1)[1].split("Step 3:", 1)[0]
    order = [
        "Sign in with your email address and password.",
        "On Set up two-step verification, choose Authenticator app.",
        "On First, confirm it's your email, enter the 6-digit code",
        "shows a QR code",
        "Tap Add to an authenticator on this phone instead of scanning",
    ]
    places = [step2.find(sentence) for sentence in order]
    assert -1 not in places and places == sorted(places), places
