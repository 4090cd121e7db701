"""The accent colour an operator may set (``TWOSTEP_ACCENT_COLOR``): parsed, checked for contrast,
and the shades the pages need, by WCAG 2.x's relative luminance and contrast ratio.

The accent is the colour of links and of a button with white text on it, so it must reach 4.5:1
against white (WCAG 1.4.3, normal text); a colour that doesn't is refused at start with the ratio
named. Dark mode needs the opposite (light text colour on a dark page), so a lighter shade of the
same hue is derived until it reaches 4.5:1 against the dark page colour.
"""

from __future__ import annotations

import re

WHITE = (255, 255, 255)
#: The dark-mode page colour (style.css ``--page`` under ``prefers-color-scheme: dark``).
DARK_PAGE = (18, 20, 24)
MIN_CONTRAST = 4.5
_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

Rgb = tuple[int, int, int]


class ColourError(ValueError):
    """Not a usable accent colour; the message says why."""


def parse(value: str) -> Rgb:
    """``#0b57d0``, ``0b57d0`` or ``#07c`` → (r, g, b)."""
    match = _HEX.fullmatch(value.strip())
    if not match:
        raise ColourError(f"{value!r} is not a colour like #0b57d0")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def hex_of(rgb: Rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def luminance(rgb: Rgb) -> float:
    """WCAG 2.x relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Rgb, b: Rgb) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def mix(a: Rgb, b: Rgb, share_of_b: float) -> Rgb:
    r, g, bl = (round(x + (y - x) * share_of_b) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def checked_accent(value: str) -> Rgb:
    """The accent, or ``ColourError`` when white text on it (and it on white) would be hard to read."""
    rgb = parse(value)
    ratio = contrast(rgb, WHITE)
    if ratio < MIN_CONTRAST:
        raise ColourError(
            f"{hex_of(rgb)} has a contrast of {ratio:.2f}:1 with white; links and buttons need at least "
            f"{MIN_CONTRAST}:1 (a darker shade of the same colour works)"
        )
    return rgb


def shades(rgb: Rgb) -> dict[str, str]:
    """The CSS custom properties the stylesheet uses: the accent, its hover shade, its soft tint,
    and the dark-mode accent (lightened until it reaches 4.5:1 on the dark page)."""
    light = rgb
    for step in range(0, 21):
        light = mix(rgb, WHITE, step / 20)
        if contrast(light, DARK_PAGE) >= MIN_CONTRAST:
            break
    return {
        "accent": hex_of(rgb),
        "accent-dark": hex_of(mix(rgb, (0, 0, 0), 0.2)),
        "soft": hex_of(mix(rgb, WHITE, 0.92)),
        "dark-accent": hex_of(light),
        "dark-accent-dark": hex_of(mix(light, WHITE, 0.25)),
        "dark-soft": hex_of(mix(rgb, DARK_PAGE, 0.8)),
    }
