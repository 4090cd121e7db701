"""domain.logo: which uploaded files may become the logo, decided by their bytes, never their name."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from twostep.domain.logo import MAX_BYTES, LogoRefused, check_logo


def image_bytes(fmt: str, size: tuple[int, int] = (120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (23, 73, 140)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_png_jpeg_and_webp_are_accepted_with_their_dimensions_and_content_type(fmt: str, content_type: str) -> None:
    logo = check_logo(image_bytes(fmt))
    assert (logo.content_type, logo.width, logo.height) == (content_type, 120, 40)
    assert len(logo.digest) == 64


def refusal(data: bytes) -> str:
    with pytest.raises(LogoRefused) as refused:
        check_logo(data)
    return refused.value.reason


def test_svg_is_refused_by_name_whatever_it_starts_with() -> None:
    assert refusal(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') == "svg"
    assert refusal(b'\xef\xbb\xbf<?xml version="1.0"?>\n<svg/>') == "svg"


def test_a_file_that_only_starts_like_a_png_is_not_an_image() -> None:
    assert refusal(b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>") == "not_image"
    assert refusal(image_bytes("PNG")[:40]) == "not_image"  # truncated


def test_other_formats_and_text_are_not_images() -> None:
    assert refusal(image_bytes("GIF")) == "not_image"
    assert refusal(image_bytes("BMP")) == "not_image"
    assert refusal(b"just some text") == "not_image"
    assert refusal(b"") == "empty"


def test_size_limits_in_bytes_and_pixels() -> None:
    assert refusal(b"\x89PNG\r\n\x1a\n" + bytes(MAX_BYTES)) == "too_large"
    assert refusal(image_bytes("PNG", (3000, 20))) == "too_many_pixels"
    assert refusal(image_bytes("PNG", (8, 8))) == "too_small"
