"""The setup PDF shows small screenshots of the real pages, in the reader's language, next to the
steps they illustrate (issue 18), and its step-by-step text names the labels those pages show.

The screenshots are made by ``scripts/pdf_screenshots.py`` (run by hand); these tests fail when one
is missing or too large, when a PDF lacks its language's pictures, and when the pages' labels and
the PDF's text drift apart. Images are listed and extracted with poppler's pdfimages."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support import login_password, make_user
from twostep.documents import setup_instructions
from twostep.documents.setup_instructions import SCREENS, SCREENS_DIR, render_setup_instructions
from twostep.i18n import LANGUAGES, gettext_for


def render(language: str, logo: bytes | None = None) -> bytes:
    return render_setup_instructions(
        gettext=gettext_for(language),
        service_name="Acme",
        support_email="help@acme.test",
        base_url="https://auth.acme.test",
        language=language,
        logo=logo,
    )


def image_list(pdf: bytes, tmp_path: Path) -> list[tuple[int, int]]:
    """(width, height) of every image drawn in the PDF, by ``pdfimages -list``."""
    path = tmp_path / "setup.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True, timeout=60)
    rows = [line.split() for line in out.stdout.splitlines()[2:] if line.strip()]
    return [(int(row[3]), int(row[4])) for row in rows]


def extracted(pdf: bytes, tmp_path: Path) -> list[Image.Image]:
    path = tmp_path / "setup.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdfimages", "-png", str(path), str(tmp_path / "img")], check=True, timeout=60)
    return [Image.open(file).convert("RGB") for file in sorted(tmp_path.glob("img-*.png"))]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "setup.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return " ".join(out.stdout.decode("utf-8").split())


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_language_has_every_screenshot_small_and_cropped(language: str) -> None:
    for name in SCREENS:
        path = SCREENS_DIR / language / name
        assert path.is_file(), f"{path} is missing: run scripts/pdf_screenshots.py --lang {language}"
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert 300 <= image.width <= 600 and image.height <= 600, (path, image.size)
        assert path.stat().st_size < 60 * 1024, path


def test_the_screenshots_together_stay_well_under_a_megabyte() -> None:
    total = sum(path.stat().st_size for path in SCREENS_DIR.rglob("*.png"))
    assert total < 512 * 1024, total
    assert {path.parent.name for path in SCREENS_DIR.rglob("*.png")} == set(LANGUAGES)


def test_the_screenshots_are_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"documents/screens/*/*.png"' in pyproject


def test_the_qr_code_in_the_screenshot_cannot_be_scanned() -> None:
    for language in LANGUAGES:
        found = subprocess.run(
            ["zbarimg", "-q", str(SCREENS_DIR / language / "qr.png")], capture_output=True, timeout=60
        )
        assert found.returncode != 0 and b"otpauth" not in found.stdout, language


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_pdf_of_each_language_embeds_that_languages_screenshots(language: str, tmp_path: Path) -> None:
    pdf = render(language)
    expected = [Image.open(SCREENS_DIR / language / name).convert("RGB") for name in SCREENS]
    assert image_list(pdf, tmp_path) == [image.size for image in expected]
    for shown, screenshot in zip(extracted(pdf, tmp_path), expected, strict=True):
        assert shown.tobytes() == screenshot.tobytes()  # this language's picture, not another's
    assert render(language) == pdf  # still byte-for-byte deterministic


def test_a_missing_screenshot_leaves_its_step_without_a_picture_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partial = tmp_path / "screens"
    (partial / "en").mkdir(parents=True)
    (partial / "en" / "qr.png").write_bytes((SCREENS_DIR / "en" / "qr.png").read_bytes())
    monkeypatch.setattr(setup_instructions, "SCREENS_DIR", partial)
    assert len(image_list(render("en"), tmp_path)) == 1
    assert image_list(render("xx"), tmp_path) == []  # an unknown language: no pictures, no error


def test_an_uploaded_logo_heads_the_pdf(tmp_path: Path) -> None:
    logo = io.BytesIO()
    Image.new("RGB", (200, 60), (200, 30, 30)).save(logo, format="WEBP")
    sizes = image_list(render("en", logo.getvalue()), tmp_path)
    assert sizes[0] == (200, 60) and len(sizes) == len(SCREENS) + 1


def labels(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()).replace("&#39;", "'")


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_pdf_names_the_labels_the_pages_show_in_each_language(
    client: TestClient, ctx: object, language: str, tmp_path: Path
) -> None:
    """The words in bold in steps 2 and 4 are the pages' own labels (the same msgids), so a label
    changed on a page shows up here until the PDF follows."""
    make_user(ctx)  # type: ignore[arg-type]
    login_password(client, "ada@example.com")
    choose = client.get(f"/enroll?lang={language}").text
    heading = labels(choose, r"<h1>(.*?)</h1>")
    app_choice = labels(choose, r'href="/enroll/totp">.*?<strong class="choice">(.*?)</strong>')
    totp_page = client.get("/enroll/totp").text
    field = labels(totp_page, r'<label for="code">(.*?)</label>')
    button = labels(totp_page, r'<form method="post" action="/enroll/totp".*?<button type="submit">(.*?)</button>')
    phone_link = labels(totp_page, r'<a class="button" href="otpauth://[^"]*">(.*?)</a>')
    cant_scan = labels(totp_page, r"<summary>(.*?)</summary>")
    text = pdf_text(render(language), tmp_path)
    step2 = text.split(gettext_for(language)("Step 3: Scan the QR code with the app"), 1)[0]
    for label in (heading, app_choice, phone_link):
        assert label in step2, (language, label)
    for label in (field, button, cant_scan):
        assert label in text, (language, label)
