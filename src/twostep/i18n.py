"""Translations (Babel catalogs in locale/) and one Jinja2 environment per language.

Catalogs are compiled from the .po files during install (`make`); where no .mo file exists (an
installed wheel, a fresh clone) the .po file is compiled in memory once, at first use.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

LANGUAGES: dict[str, str] = {"en": "English", "pl": "Polski", "nl": "Nederlands", "sv": "Svenska"}
PACKAGE_DIR = Path(__file__).parent
LOCALE_DIR = PACKAGE_DIR / "locale"
TEMPLATE_DIR = PACKAGE_DIR / "templates"


def N_(message: str) -> str:
    """Marks a message for extraction without translating it yet."""
    return message


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    if language == "en" or language not in LANGUAGES:
        return NullTranslations()
    messages = LOCALE_DIR / language / "LC_MESSAGES"
    if not (messages / "messages.mo").exists() and (messages / "messages.po").exists():
        with (messages / "messages.po").open("rb") as po:
            compiled = BytesIO()
            write_mo(compiled, read_po(po, locale=language))
        compiled.seek(0)
        return Translations(compiled, domain="messages")
    return Translations.load(str(LOCALE_DIR), [language], domain="messages")


def gettext_for(language: str) -> Callable[[str], str]:
    return translations(language).gettext


@lru_cache(maxsize=8)
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def negotiate(accept_language: str) -> str | None:
    """The first of our languages named in an Accept-Language header, by quality."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, index, primary))
    return sorted(choices)[0][2] if choices else None
