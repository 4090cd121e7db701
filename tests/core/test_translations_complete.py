"""Every user-facing message is translated into every language, with the same placeholders.

The messages are extracted fresh from the sources (with babel.cfg, exactly as `make extract-messages`
does), so a new `_("...")` or `N_("...")` without a translation fails here, not in front of a user.
After adding strings: `make extract-messages`, translate the new entries in
src/twostep/locale/<lang>/LC_MESSAGES/messages.po, then `make translations`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from twostep import i18n

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = sorted(code for code in i18n.LANGUAGES if code != "en")

# A %-directive: optional "(name)", flags, width, precision and a conversion. A "%" that does not
# start a valid directive makes `text % params` raise at render time.
_DIRECTIVE = re.compile(r"%(?:\((?P<name>\w+)\))?(?P<conv>[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%])?")

MsgId = str | tuple[str, ...]


def _wanted_directory(path: str) -> bool:
    # The same directories `make extract-messages` skips (--ignore-dirs='.* ._ node_modules').
    name = Path(path).name
    return not name.startswith((".", "_")) and name != "node_modules"


@lru_cache(maxsize=1)
def extracted() -> dict[MsgId, tuple[str, ...]]:
    """msgid -> "file:line" locations, extracted from the sources as `make extract-messages` does."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    messages: dict[MsgId, tuple[str, ...]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, directory_filter=_wanted_directory
    ):
        msgid: MsgId = tuple(message) if isinstance(message, (tuple, list)) else message
        if isinstance(msgid, tuple):
            msgid = tuple(part for part in msgid if part)  # ngettext's count argument is None
        messages[msgid] = (*messages.get(msgid, ()), f"{filename}:{lineno}")
    return messages


@lru_cache(maxsize=4)
def catalog(language: str) -> Catalog:
    path = ROOT / "src" / "twostep" / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return read_po(po, locale=language)


def _key(message: Message) -> MsgId:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else message.id


def _forms(message: Message) -> list[str | None]:
    string = message.string
    return list(string) if isinstance(string, (tuple, list)) else [string]


def placeholders(text: str) -> tuple[set[str], bool]:
    """The named %-placeholders in `text`, and whether every "%" starts a valid directive."""
    names: set[str] = set()
    well_formed = True
    for match in _DIRECTIVE.finditer(text):
        if match.group("conv") is None:
            well_formed = False
        elif match.group("name"):
            names.add(match.group(0))
    return names, well_formed


def problems_in(language: str) -> list[str]:
    translated = {_key(message): message for message in catalog(language) if message.id}
    problems: list[str] = []
    for msgid, where in extracted().items():
        label = f"{msgid!r} ({where[0]})"
        message = translated.get(msgid)
        if message is None:
            problems.append(f"missing from the .po: {label}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {label}")
        forms = [form or "" for form in _forms(message)]
        if not all(forms):
            problems.append(f"untranslated: {label}")
            continue
        ids = list(msgid) if isinstance(msgid, tuple) else [msgid]
        id_sets = [placeholders(text)[0] for text in ids]
        allowed = set().union(*id_sets)
        required = set.intersection(*id_sets)  # a singular may leave out %(num)s
        for form in forms:
            names, well_formed = placeholders(form)
            if not well_formed:
                problems.append(f"stray '%' (write '%%'): {label} -> {form!r}")
            if not required <= names <= allowed:
                problems.append(f"placeholders {sorted(names)} != {sorted(allowed)}: {label} -> {form!r}")
    return problems


def test_extraction_finds_the_messages() -> None:
    messages = extracted()
    assert "Sign in" in messages
    assert "Enter the 6-digit code." in messages  # an N_() marker in Python
    assert len(messages) > 100


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_the_same_placeholders(language: str) -> None:
    problems = problems_in(language)
    assert not problems, (
        f"{len(problems)} problem(s) in the {language} catalog; run `make extract-messages`, translate, "
        "then `make translations`:\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_header_is_usable(language: str) -> None:
    po = catalog(language)
    assert not po.fuzzy, "a fuzzy header makes `pybabel compile` skip the whole catalog"
    assert str(po.locale) == language
    assert po.num_plurals == {"pl": 3}.get(language, 2)


@pytest.mark.parametrize("language", TRANSLATED)
def test_compiled_catalog_is_loaded_and_current(language: str) -> None:
    loaded = i18n.translations(language)
    assert isinstance(loaded, Translations), f"no compiled {language} catalog; run `make translations`"
    assert i18n.gettext_for(language)("Sign in") != "Sign in"
    stale: list[str] = []
    for message in catalog(language):
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, (tuple, list)):
            singular, plural = message.id[0], message.id[1]
            for n in (1, 2, 5, 22):
                expected = _forms(message)[loaded.plural(n)]
                if loaded.ngettext(singular, plural, n) != expected:
                    stale.append(f"{singular!r} (n={n})")
        elif loaded.gettext(message.id) != message.string:
            stale.append(repr(message.id))
    assert not stale, "the .mo differs from the .po; run `make translations`:\n  " + "\n  ".join(stale)


def test_polish_pages_render_translated_text_and_all_three_plural_forms() -> None:
    template = i18n.environment("pl").from_string(
        '{{ _("Sign in") }} · {{ _("Page %(page)s of %(pages)s", page=1, pages=2) }}'
        "{% for n in (1, 2, 5) %} · "
        '{{ ngettext("Later, %(num)s day left", "Later, %(num)s days left", n) }}{% endfor %}'
    )
    assert template.render() == (
        "Zaloguj się · Strona 1 z 2 · Później (został 1 dzień) · Później (zostały 2 dni) · Później (zostało 5 dni)"
    )
