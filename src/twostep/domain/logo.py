"""The logo an administrator uploads at /admin/appearance: which files are accepted, and why.

Accepted: PNG, JPEG and WebP, at most ``MAX_BYTES`` bytes and ``MAX_SIDE`` pixels a side. The
format is decided by the file's magic bytes, never by its name or the browser's content type, and
Pillow must then read the same format's header and dimensions from it (a file that only *starts*
like a PNG is refused). The image is served back with the content type of the format found, and
``X-Content-Type-Options: nosniff``, so a browser never treats it as anything else.

Refused on purpose: SVG (it is a document that can carry script; OWASP File Upload Cheat Sheet,
"SVG"), GIF and everything else; and images so large in pixels that decoding them would be a
decompression bomb.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: About 256 KB: a logo is shown 32 px high; anything larger is a photo or a mistake.
MAX_BYTES = 256 * 1024
#: Pixels a side; also keeps decoding cheap (2048 × 2048 × 4 bytes = 16 MB at most).
MAX_SIDE = 2048
MIN_SIDE = 16

#: Magic bytes → (Pillow's format name, content type).
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG", "image/png"),
    (b"\xff\xd8\xff", 0, "JPEG", "image/jpeg"),
    (b"WEBP", 8, "WEBP", "image/webp"),  # RIFF....WEBP
)


class LogoRefused(ValueError):
    """The file is not an acceptable logo; ``reason`` is one of ``empty``, ``too_large``, ``svg``,
    ``not_image``, ``too_many_pixels``, ``too_small``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def digest(self) -> str:
        """SHA-256 of the bytes: the ETag and the version in the logo's URL."""
        return hashlib.sha256(self.data).hexdigest()


def _format_by_magic(data: bytes) -> tuple[str, str] | None:
    for magic, offset, name, content_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (name != "WEBP" or data[:4] == b"RIFF"):
            return name, content_type
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head


def check_logo(data: bytes) -> Logo:
    """The accepted logo, or ``LogoRefused`` saying why not."""
    if not data:
        raise LogoRefused("empty")
    if len(data) > MAX_BYTES:
        raise LogoRefused("too_large")
    found = _format_by_magic(data)
    if found is None:
        raise LogoRefused("svg" if _looks_like_svg(data) else "not_image")
    name, content_type = found
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[name]) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise LogoRefused("too_many_pixels")
                image.verify()  # the structure (chunks, CRCs) is sound, without decoding the pixels
    except LogoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise LogoRefused("not_image") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or corrupt
        raise LogoRefused("not_image") from error
    if width < MIN_SIDE or height < MIN_SIDE:
        raise LogoRefused("too_small")
    return Logo(data=data, content_type=content_type, width=width, height=height)
