"""/admin/appearance: the logo an administrator uploads, previews and removes, served at
/branding/logo and shown in every page's header (over TWOSTEP_LOGO_URL)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlalchemy.exc import OperationalError

from tests.admin.test_admin import ROOT, count, events, reauthenticate, signed_in
from tests.support import csrf_of
from twostep.app import create_app
from twostep.domain.clock import FrozenClock
from twostep.services.admin import appearance
from twostep.services.core.context import Context
from twostep.settings import Settings
from twostep.storage.models import BrandingImage


def image_bytes(fmt: str, size: tuple[int, int] = (120, 40), colour: tuple[int, int, int] = (23, 73, 140)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def upload(client: TestClient, data: bytes, filename: str = "logo.png", content_type: str = "image/png") -> Response:
    page = client.get("/admin/appearance")
    return client.post(
        "/admin/appearance/logo",
        data={"csrf_token": csrf_of(page.text)},
        files={"logo": (filename, data, content_type)},
        follow_redirects=False,
    )


def remove(client: TestClient) -> Response:
    page = client.get("/admin/appearance")
    return client.post("/admin/appearance/logo/remove", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)


def header_logo(client: TestClient) -> str:
    found = re.search(r'<a class="brand" href="/"><img class="logo" src="([^"]+)"', client.get("/login").text)
    return found.group(1) if found else ""


def field_error(page: Response) -> str:
    found = re.search(r'<p class="error" id="logo-error" role="alert">([^<]+)</p>', page.text)
    assert found and 'aria-describedby="logo-error logo-hint" aria-invalid="true"' in page.text, page.text
    return found.group(1)


def test_an_uploaded_logo_is_previewed_served_with_safe_headers_and_shown_in_every_header(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    assert header_logo(client) == "" and client.get("/branding/logo").status_code == 404
    png = image_bytes("PNG")
    done = upload(client, png)
    assert done.status_code == 303 and done.headers["location"] == "/admin/appearance?notice=logo_saved"
    page = client.get(done.headers["location"])
    assert "The logo is saved." in page.text and 'id="logo-preview"' in page.text
    assert "120 × 40 pixels" in page.text
    src = header_logo(client)
    assert re.fullmatch(r"/branding/logo\?v=[0-9a-f]{16}", src), src
    served = client.get(src)
    assert served.status_code == 200 and served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"] and "max-age=31536000" in served.headers["cache-control"]
    assert client.get(src, headers={"If-None-Match": served.headers["etag"]}).status_code == 304
    unversioned = client.get("/branding/logo")
    assert unversioned.status_code == 200 and "no-cache" in unversioned.headers["cache-control"]
    uploaded = events(ctx, "branding_logo_uploaded")
    assert len(uploaded) == 1 and uploaded[0].actor_id is not None and '"replaced": false' in uploaded[0].detail


def test_replacing_the_logo_changes_its_address_and_type_and_removing_it_ends_it(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    upload(client, image_bytes("PNG"))
    first = header_logo(client)
    jpeg = image_bytes("JPEG", colour=(200, 30, 30))
    assert upload(client, jpeg, "logo.jpg", "image/jpeg").status_code == 303
    second = header_logo(client)
    assert second != first and client.get(second).headers["content-type"] == "image/jpeg"
    assert "immutable" not in client.get(first).headers["cache-control"]  # an old version is revalidated
    webp = image_bytes("WEBP")
    assert upload(client, webp, "logo.webp", "image/webp").status_code == 303
    assert client.get(header_logo(client)).headers["content-type"] == "image/webp"
    assert count(ctx, BrandingImage) == 1
    assert '"replaced": true' in events(ctx, "branding_logo_uploaded")[-1].detail
    gone = remove(client)
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/appearance?notice=logo_removed"
    assert "The logo is removed." in client.get(gone.headers["location"]).text
    assert header_logo(client) == "" and client.get("/branding/logo").status_code == 404
    assert count(ctx, BrandingImage) == 0 and len(events(ctx, "branding_logo_removed")) == 1


def test_the_uploaded_logo_wins_over_the_configured_logo_url_until_it_is_removed(
    settings: Settings, ctx: Context, clock: FrozenClock
) -> None:
    settings = settings.model_copy(update={"logo_url": "/static/icon.svg"})
    ctx.settings = settings
    client = TestClient(create_app(settings, context=ctx), base_url="http://127.0.0.1:8000")
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    assert header_logo(client) == "/static/icon.svg"
    assert "TWOSTEP_LOGO_URL" in client.get("/admin/appearance").text
    upload(client, image_bytes("PNG"))
    assert header_logo(client).startswith("/branding/logo?v=")
    remove(client)
    assert header_logo(client) == "/static/icon.svg"


def test_svg_too_large_and_not_an_image_are_refused_next_to_the_field_and_nothing_is_stored(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'
    refused = upload(client, svg, "logo.svg", "image/svg+xml")
    assert refused.status_code == 422 and "SVG files are not accepted" in field_error(refused)
    disguised = upload(client, svg, "logo.png", "image/png")  # the name and type lie; the bytes don't
    assert disguised.status_code == 422 and "SVG files are not accepted" in field_error(disguised)
    big = upload(client, b"\x89PNG\r\n\x1a\n" + bytes(300 * 1024))
    assert big.status_code == 422 and "larger than 256 KB" in field_error(big)
    photo = upload(client, b"\x89PNG\r\n\x1a\n" + bytes(3 * 1024 * 1024))  # over the 1 MB of other forms
    assert photo.status_code == 422 and "larger than 256 KB" in field_error(photo)
    text = upload(client, b"hello, not an image", "logo.png")
    assert text.status_code == 422 and "not a PNG, JPEG or WebP image" in field_error(text)
    gif = upload(client, image_bytes("GIF"), "logo.gif", "image/gif")
    assert gif.status_code == 422 and "not a PNG, JPEG or WebP image" in field_error(gif)
    page = client.get("/admin/appearance")
    nothing = client.post("/admin/appearance/logo", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert nothing.status_code == 422 and "Choose an image file" in field_error(nothing)
    assert count(ctx, BrandingImage) == 0 and events(ctx, "branding_logo_uploaded") == []


def test_logo_changes_need_the_csrf_token_and_fresh_reauthentication(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = signed_in(client, ctx, clock, ROOT, is_admin=True)
    forged = client.post(
        "/admin/appearance/logo",
        data={"csrf_token": "forged"},
        files={"logo": ("logo.png", image_bytes("PNG"), "image/png")},
    )
    assert forged.status_code == 400 and count(ctx, BrandingImage) == 0
    clock.advance(minutes=6)
    stale = upload(client, image_bytes("PNG"))
    assert stale.status_code == 303 and stale.headers["location"] == "/account/reauth?next=/admin/appearance"
    assert count(ctx, BrandingImage) == 0
    reauthenticate(client, secret, clock, "/admin/appearance")
    assert upload(client, image_bytes("PNG")).status_code == 303 and count(ctx, BrandingImage) == 1
    clock.advance(minutes=6)
    assert remove(client).headers["location"] == "/account/reauth?next=/admin/appearance"
    assert count(ctx, BrandingImage) == 1


def test_a_non_administrator_cannot_upload_or_remove_a_logo(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, "eve@example.com", is_admin=False)
    token = csrf_of(client.get("/account").text)
    assert client.get("/admin/appearance").status_code == 403
    refused = client.post(
        "/admin/appearance/logo",
        data={"csrf_token": token},
        files={"logo": ("logo.png", image_bytes("PNG"), "image/png")},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert client.post("/admin/appearance/logo/remove", data={"csrf_token": token}).status_code == 403
    assert count(ctx, BrandingImage) == 0 and len(events(ctx, "authz_fail")) == 3


def test_the_appearance_page_is_in_the_admin_navigation_and_marked_current(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    page = client.get("/admin/appearance")
    assert '<a href="/admin/appearance" aria-current="page">Appearance</a>' in page.text
    assert '<a href="/admin/appearance">Appearance</a>' in client.get("/admin/policy").text
    assert 'enctype="multipart/form-data"' in page.text and 'accept="image/png,image/jpeg,image/webp"' in page.text


def test_the_setup_pdf_carries_the_uploaded_logo_in_its_header(
    client: TestClient, ctx: Context, clock: FrozenClock, tmp_path: Path
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)

    def images(pdf: bytes) -> list[str]:
        path = tmp_path / "setup.pdf"
        path.write_bytes(pdf)
        listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True)
        return [" ".join(line.split()[3:5]) for line in listing.stdout.splitlines()[2:] if line.strip()]

    before = images(client.get("/help/two-step-setup.pdf?lang=en").content)
    assert "150 50" not in before
    upload(client, image_bytes("PNG", (150, 50)))
    after = images(client.get("/help/two-step-setup.pdf?lang=en").content)
    assert after == ["150 50", *before]


def test_pages_still_render_with_the_configured_logo_when_the_database_cannot_say_which_logo(
    settings: Settings, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.settings = settings.model_copy(update={"logo_url": "/static/icon.svg"})

    def broken() -> None:
        raise OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(ctx.db, "transaction", broken)
    assert appearance.logo_src(ctx) == "/static/icon.svg"
