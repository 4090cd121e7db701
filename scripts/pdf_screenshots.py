"""Take the small screenshots of the real pages that the setup instructions PDF shows (issue 18).

Run by hand after a change to the pages it shows, then commit the PNG files:

    .venv/bin/python scripts/pdf_screenshots.py            # every language
    .venv/bin/python scripts/pdf_screenshots.py --lang pl  # one

It starts twostep on 127.0.0.1 with a throw-away SQLite database, drives Debian's chromium
(/usr/bin/chromium, headless, through Playwright) through the pages in each language (en, pl, nl,
sv) as a fixed demo account, and writes ``src/twostep/documents/screens/<lang>/<screen>.png``:

- ``choose.png``  the method choice (/enroll);
- ``qr.png``      the QR step of /enroll/totp;
- ``code.png``    the code field of /enroll/totp;
- ``sign-in.png`` the code page at a later sign-in (/login/code).

No real secret can end up in them: the demo accounts are in a database deleted afterwards, their
authenticator key is the fixed demo value ``DEMO_SECRET``, and the QR code is pixelated as well, so
that nobody scans the printed guide instead of their own screen. Each picture is cropped to the
panel it illustrates, scaled to at most ``WIDTH`` pixels and stored with a small palette.
"""

from __future__ import annotations

import argparse
import io
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyotp
import uvicorn
from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from twostep.app import build_context, create_app  # noqa: E402
from twostep.documents.setup_instructions import SCREENS, SCREENS_DIR  # noqa: E402
from twostep.domain import totp  # noqa: E402
from twostep.i18n import LANGUAGES  # noqa: E402
from twostep.services.core import accounts  # noqa: E402
from twostep.settings import load_settings  # noqa: E402
from twostep.storage.migrate import upgrade  # noqa: E402

#: A made-up key (base32, 160 bits) that spells what it is; never a real account's.
DEMO_SECRET = "EXAMPLEKEYEXAMPLEKEYEXAMPLEKEY23"  # noqa: S105 - made up, and says so
DEMO_PASSWORD = "demo correct horse battery"  # noqa: S105 - a throw-away demo database
DEMO_PEOPLE = {"en": "alex", "pl": "anna", "nl": "daan", "sv": "elsa"}
LOCALES = {"en": "en-GB", "pl": "pl-PL", "nl": "nl-NL", "sv": "sv-SE"}
WIDTH = 520
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_app(data_dir: Path) -> Iterator[tuple[str, object]]:
    port = free_port()
    settings = load_settings(
        data_dir=data_dir,
        service_name="Acme",
        base_url=f"http://127.0.0.1:{port}",
        enroll_mailbox_check=False,  # the demo accounts have no mailbox to read
    )
    upgrade(settings.resolved_database_url)
    ctx = build_context(settings)
    app = create_app(settings, context=ctx)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise SystemExit("twostep did not start")
    try:
        yield f"http://127.0.0.1:{port}", ctx
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def save(png: bytes, path: Path, *, pixelate: tuple[int, int, int, int] | None = None) -> None:
    """Pixelate the QR region (x0, y0, x1, y1 in the screenshot), scale to WIDTH, palette, optimise."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if pixelate is not None:
        # Coarser blocks than the code's modules, in black and white: it still looks like a QR
        # code, and no reader can decode it.
        region = image.crop(pixelate).convert("L")
        small = region.resize((15, 15), Image.Resampling.BOX)
        middle = sorted(small.getdata())[len(small.getdata()) // 2]  # about half the blocks dark
        small = small.point(lambda v: 0 if v <= middle else 255)
        image.paste(small.resize(region.size, Image.Resampling.NEAREST).convert("RGB"), pixelate[:2])
    if image.width > WIDTH:
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, format="PNG", optimize=True
    )
    print(f"{path.relative_to(ROOT)}  {image.width}×{image.height}  {path.stat().st_size // 1024} KB")


def shot(page: Page, selector: str, path: Path, *, until: str | None = None, qr: str | None = None) -> None:
    """The element ``selector`` (down to the bottom of ``until`` when given), with ``qr`` pixelated."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    bottom = box["y"] + box["height"]
    if until:
        end = page.locator(until).first.bounding_box()
        assert end is not None, until
        bottom = end["y"] + end["height"] + (16 if selector == "main" else 2)
    pad = 0 if selector == "main" else 6  # main has its own padding; a list item gets a little
    clip = {"x": box["x"], "y": box["y"] - pad, "width": box["width"] + pad, "height": bottom - box["y"] + 2 * pad}
    png = page.screenshot(clip=clip)
    region = None
    if qr:
        code = page.locator(qr).first.bounding_box()
        assert code is not None, qr
        region = (
            round(code["x"] - clip["x"]),
            round(code["y"] - clip["y"]),
            round(code["x"] - clip["x"] + code["width"]),
            round(code["y"] - clip["y"] + code["height"]),
        )
    save(png, path, pixelate=region)


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", DEMO_PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").first.click()
    page.wait_for_load_state()


def take(language: str, base: str, ctx: object, browser: object) -> None:
    out = SCREENS_DIR / language
    email = f"{DEMO_PEOPLE[language]}@example.com"
    accounts.create_user(ctx, email, DEMO_PASSWORD)  # type: ignore[arg-type]
    context = browser.new_context(locale=LOCALES[language], viewport={"width": 1000, "height": 1400})  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, base, email)
    page.goto(f"{base}/enroll?lang={language}")
    page.locator("main").first.wait_for()
    shot(page, "main", out / "choose.png", until="ul.choices")
    page.goto(f"{base}/enroll/totp")
    shot(page, "ol.steps > li:nth-child(2)", out / "qr.png", until="figure.qr", qr="figure.qr img")
    shot(page, "ol.steps > li:nth-child(3)", out / "code.png")
    page.fill("#code", pyotp.TOTP(DEMO_SECRET).now())
    page.locator("form[action='/enroll/totp'] button[type=submit]").click()
    page.wait_for_load_state()
    context.close()
    context = browser.new_context(locale=LOCALES[language], viewport={"width": 1000, "height": 1400})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/login?lang={language}")
    sign_in(page, base, email)
    page.goto(f"{base}/login/code")
    shot(page, "main", out / "sign-in.png", until="main form[action='/login/code'] button[type=submit]")
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lang", choices=sorted(LANGUAGES), action="append", help="only this language (repeatable)")
    languages = parser.parse_args().lang or list(LANGUAGES)
    totp.new_secret = lambda: DEMO_SECRET  # the demo accounts' key: made up, and says so
    with tempfile.TemporaryDirectory() as data_dir, running_app(Path(data_dir)) as (base, ctx):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            for language in languages:
                take(language, base, ctx, browser)
            browser.close()
    missing = [f"{lang}/{name}" for lang in languages for name in SCREENS if not (SCREENS_DIR / lang / name).is_file()]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}")


if __name__ == "__main__":
    main()
