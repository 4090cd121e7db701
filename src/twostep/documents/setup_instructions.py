"""Render the downloadable "setting up two-step verification" instructions as a PDF.

The document is generic: it is the same for every user and never contains a secret, a
setup key, a QR code or a recovery code, so it can be downloaded without signing in.

Step 2 to 4 show small screenshots of the real pages in the reader's language
(``screens/<lang>/*.png``, taken by ``scripts/pdf_screenshots.py`` with a made-up demo account and
the QR code pixelated), each next to the step it illustrates, with a caption. The header shows the
logo an administrator uploaded, when there is one.

Every human-readable string is written literally as ``_("...")`` inside
:func:`render_setup_instructions` so that Babel's extractor finds it. Labels of buttons
in twostep itself (for example "Can't get a code?") use the same msgids as the web
pages, so the PDF and the screens stay consistent in every language.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from PIL import Image

__all__ = ["FONT_DIR", "SCREENS", "SCREENS_DIR", "render_setup_instructions", "screen_path"]

#: Fonts shipped inside the package (DejaVu, see LICENSE-DejaVu.txt there).
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
#: Screenshots of the real pages, one folder per language (scripts/pdf_screenshots.py makes them).
SCREENS_DIR = Path(__file__).resolve().parent / "screens"
#: Every language has each of these: the method choice, the QR step and the code field of
#: /enroll/totp, and the code page at a later sign-in.
SCREENS = ("choose.png", "qr.png", "code.png", "sign-in.png")

_FONT = "DejaVuSans"
# A fixed date keeps the output byte-for-byte identical for the same inputs.
_CREATION_DATE = datetime(2024, 1, 1, tzinfo=UTC)

# Layout, in millimetres / points.
_MARGIN = 20.0
_TOP_MARGIN = 18.0
_BOTTOM_MARGIN = 20.0
_BODY_SIZE = 10.5
_LINE_HEIGHT = 1.45
_INDENT = 8.0
# A heading needs at least this much room below it, or it moves to the next page.
_KEEP_WITH_NEXT = 32.0

_INK = (33, 37, 41)
_ACCENT = (23, 73, 140)
_MUTED = (95, 103, 112)
_RULE = (200, 208, 218)

# Private markers around emphasised text (button labels, the address, ...). Control
# characters are stripped from every input, so they cannot be injected.
_EM_ON = "\x02"
_EM_OFF = "\x03"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EM_SPLIT = re.compile(f"({_EM_ON}|{_EM_OFF})")


def screen_path(language: str, name: str) -> Path | None:
    """The screenshot ``name`` in ``language``, or None when that language has none."""
    if name not in SCREENS or not re.fullmatch(r"[a-z]{2}", language):
        return None
    path = SCREENS_DIR / language / name
    return path if path.is_file() else None


def _clean(value: str) -> str:
    """Remove control characters (and so our markers) from a caller-supplied value."""
    return _CONTROL_CHARS.sub("", value).strip()


def _em(value: str) -> str:
    """Mark a value (usually a translated button label) to be printed in bold."""
    return f"{_EM_ON}{_clean(value)}{_EM_OFF}"


class _SetupPDF(FPDF):
    """FPDF with the footer of this document: a caption on the left, page numbers on the right."""

    def __init__(self, *, caption: str, page_label: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._caption = caption
        self._page_label = page_label

    def footer(self) -> None:
        self.set_y(-_BOTTOM_MARGIN + 7)
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.line(_MARGIN, self.y, self.w - _MARGIN, self.y)
        self.set_y(self.y + 1.5)
        self.set_font(_FONT, "", 8)
        self.set_text_color(*_MUTED)
        width = self.w - 2 * _MARGIN
        # "{nb}" is replaced by the total page count when the document is written.
        page_text = self._page_label % {"page": self.page_no(), "pages": "{nb}"}
        room = width - self.get_string_width(page_text.replace("{nb}", "99")) - 6
        caption = self._caption
        if self.get_string_width(caption) > room:
            while caption and self.get_string_width(caption + "…") > room:
                caption = caption[:-1]
            caption = caption.rstrip() + "…"
        self.set_x(_MARGIN)
        self.cell(width, 5, caption, align="L")
        self.set_x(_MARGIN)
        self.cell(width, 5, page_text, align="R")


class _Writer:
    """Small layout helper: headings, paragraphs, numbered steps and bullets."""

    def __init__(self, pdf: FPDF, links: Mapping[str, str]) -> None:
        self.pdf = pdf
        self.links = links

    def _rich(
        self,
        text: str,
        *,
        size: float = _BODY_SIZE,
        color: tuple[int, int, int] = _INK,
        bold: bool = False,
        indent: float = 0.0,
        bullet: str = "",
        bullet_color: tuple[int, int, int] = _ACCENT,
        space_after: float = 2.0,
    ) -> None:
        pdf = self.pdf
        with pdf.text_columns(line_height=_LINE_HEIGHT) as region:
            if bullet:
                pdf.set_font(_FONT, "B", size)
                pdf.set_text_color(*bullet_color)
            with region.paragraph(
                indent=indent,
                bullet_string=bullet,
                bullet_r_margin=2.5 if bullet else None,
                bottom_margin=space_after,
            ) as paragraph:
                emphasised = False
                for piece in _EM_SPLIT.split(text):
                    if piece == _EM_ON:
                        emphasised = True
                    elif piece == _EM_OFF:
                        emphasised = False
                    elif piece:
                        link = self.links.get(piece) if emphasised else None
                        pdf.set_font(_FONT, "B" if (bold or emphasised) else "", size)
                        pdf.set_text_color(*(_ACCENT if link else color))
                        paragraph.write(piece, link=link)
        pdf.set_text_color(*_INK)

    def title(self, text: str, subtitle: str) -> None:
        self._rich(text, size=20, color=_ACCENT, bold=True, space_after=2.5)
        self._rich(subtitle, size=11, color=_MUTED, space_after=3)
        self.rule(thick=True)

    def rule(self, *, thick: bool = False) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*(_ACCENT if thick else _RULE))
        pdf.set_line_width(0.6 if thick else 0.25)
        pdf.line(_MARGIN, pdf.y, pdf.w - _MARGIN, pdf.y)
        pdf.set_y(pdf.y + 4)

    def heading(self, text: str) -> None:
        pdf = self.pdf
        if pdf.y > pdf.t_margin + 1:
            pdf.set_y(pdf.y + 4)
        if pdf.y + _KEEP_WITH_NEXT > pdf.page_break_trigger:
            pdf.add_page()
        self._rich(text, size=13.5, color=_ACCENT, bold=True, space_after=1)
        self.rule()
        pdf.set_y(pdf.y - 1.5)

    def subheading(self, text: str) -> None:
        pdf = self.pdf
        if pdf.y + _KEEP_WITH_NEXT * 0.7 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.set_y(pdf.y + 1)
        self._rich(text, size=11, bold=True, space_after=1.5)

    def para(self, text: str, *, muted: bool = False) -> None:
        self._rich(text, color=_MUTED if muted else _INK, space_after=2.5)

    def steps(self, *items: str) -> None:
        for number, item in enumerate(items, start=1):
            self._rich(item, indent=_INDENT, bullet=f"{number}.", space_after=1.8)
        self.pdf.set_y(self.pdf.y + 1)

    def screenshot(self, path: Path | None, caption: str, *, width: float = 80.0) -> None:
        """The screenshot, indented like the steps, framed, with its caption below; on the next page
        when it doesn't fit. Nothing when the language has no such screenshot."""
        if path is None:
            return
        pdf = self.pdf
        with Image.open(path) as image:
            height = width * image.height / image.width
        if pdf.y + height + 12 > pdf.page_break_trigger:
            pdf.add_page()
        x, y = _MARGIN + _INDENT, pdf.y + 1
        pdf.image(path, x=x, y=y, w=width)
        pdf.set_draw_color(*_RULE)
        pdf.set_line_width(0.3)
        pdf.rect(x, y, width, height)
        pdf.set_y(y + height + 1.5)
        pdf.set_x(x)
        pdf.set_font(_FONT, "", 8.5)
        pdf.set_text_color(*_MUTED)
        pdf.multi_cell(pdf.w - _MARGIN - x, 4, _clean(caption), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*_INK)
        pdf.set_y(pdf.y + 3)

    def logo(self, data: bytes | None) -> None:
        """The uploaded logo, 12 mm high, above the title (checked by domain.logo when uploaded)."""
        if not data:
            return
        pdf = self.pdf
        try:
            info = pdf.image(io.BytesIO(data), x=_MARGIN, y=pdf.y, h=12)
        except Exception:  # a logo fpdf2 cannot read must never stop the guide
            return
        pdf.set_y(pdf.y + float(info.rendered_height) + 3)

    def bullets(self, *items: str) -> None:
        for item in items:
            self._rich(item, indent=_INDENT, bullet="•", space_after=1.5)
        self.pdf.set_y(self.pdf.y + 1)


def render_setup_instructions(
    *,
    gettext: Callable[[str], str],
    service_name: str,
    support_email: str,
    base_url: str,
    language: str = "en",
    logo: bytes | None = None,
) -> bytes:
    """Return the A4 PDF "Setting up two-step verification for <service>".

    ``gettext`` translates one message (pass the translations of ``language``, whose
    screenshots the document shows); ``support_email`` may be empty, then readers are sent to
    their administrator; ``logo`` is the uploaded logo's bytes, if any. The same inputs always
    give the same bytes.
    """
    _ = gettext
    service = _clean(service_name)
    url = _clean(base_url)
    support = _clean(support_email)

    # Emphasised values: the service's address and support contact are clickable.
    links = {url: url}
    if support:
        links[support] = f"mailto:{support}"
    s_url = _em(url)
    plus = _em("+")

    # Labels of buttons and options, printed in bold. Labels of twostep's own pages use
    # the same msgids as those pages.
    # Translators: the button in the Google Play Store that installs an app.
    install = _em(_("Install"))
    # Translators: the button in Apple's App Store that downloads an app.
    get = _em(_("Get"))
    # Translators: option in Google Authenticator and Microsoft Authenticator after tapping +.
    scan_qr = _em(_("Scan a QR code"))
    # Translators: account type in Microsoft Authenticator after tapping +.
    other_account = _em(_("Other account"))
    # Translators: account type in Microsoft Authenticator after tapping +.
    work_account = _em(_("Work or school account"))
    # Translators: option in Google Authenticator after tapping +.
    enter_key = _em(_("Enter a setup key"))
    # Translators: link below the camera view in Microsoft Authenticator.
    enter_manually = _em(_("Or enter code manually"))
    # Translators: the "Type of key" choice in Google Authenticator.
    time_based = _em(_("Time based"))
    cant_scan = _em(_("Can't scan the code?"))
    cant_get = _em(_("Can't get a code?"))
    lost_phone = _em(_("I lost my phone"))
    remember = _em(_("Remember this device"))

    title = _("Setting up two-step verification for %(service)s") % {"service": service}

    pdf = _SetupPDF(
        caption=title,
        page_label=_("Page %(page)s of %(pages)s"),
    )
    pdf.add_font(_FONT, "", FONT_DIR / "DejaVuSans.ttf")
    pdf.add_font(_FONT, "B", FONT_DIR / "DejaVuSans-Bold.ttf")
    pdf.set_margins(_MARGIN, _TOP_MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_BOTTOM_MARGIN)
    pdf.set_creation_date(_CREATION_DATE)
    pdf.set_title(title)
    pdf.set_subject(_("How to set up two-step verification with an authenticator app"))
    pdf.set_author(service)
    pdf.set_creator("twostep")
    pdf.add_page()
    w = _Writer(pdf, links)
    w.logo(logo)

    w.title(
        title,
        _("A step-by-step guide to protecting your %(service)s account at %(url)s.")
        % {"service": service, "url": s_url},
    )
    w.para(
        _("This guide contains no passwords, codes or keys, so it is safe to print and to share with colleagues."),
        muted=True,
    )

    # --- What and why -----------------------------------------------------------------
    w.heading(_("What is two-step verification?"))
    w.para(
        _(
            "Two-step verification adds a second check when you sign in. After your "
            "password, %(service)s asks for a short code from your phone. Even if someone "
            "learns your password, they cannot sign in without your phone."
        )
        % {"service": service}
    )
    w.para(_("Setting it up takes about five minutes, and you only need to do it once."))

    # --- What you need ----------------------------------------------------------------
    w.heading(_("What you need"))
    w.bullets(
        _("A smartphone (Android or iPhone) with an authenticator app. Step 1 shows how to get one."),
        _("Your email address and password for %(service)s.") % {"service": service},
        _(
            "Preferably a computer or tablet to open %(service)s on, so that you can scan "
            "the code on its screen with your phone."
        )
        % {"service": service},
    )

    # --- Step 1: install the app ------------------------------------------------------
    w.heading(_("Step 1: Install an authenticator app"))
    w.para(
        _(
            "You can use any authenticator app. Google Authenticator and Microsoft "
            "Authenticator are both free and easy to use. If you already have one, go to step 2."
        )
    )
    w.subheading(_("On an Android phone"))
    w.steps(
        _("Open the Google Play Store."),
        _("Search for “Google Authenticator” or “Microsoft Authenticator”."),
        _("Tap %(install)s and wait until the app is installed.") % {"install": install},
    )
    w.subheading(_("On an iPhone"))
    w.steps(
        _("Open the App Store."),
        _("Search for “Google Authenticator” or “Microsoft Authenticator”."),
        _("Tap %(get)s and wait until the app is installed.") % {"get": get},
    )
    w.para(
        _("Check that the app is published by Google LLC or Microsoft Corporation, so that you get the real app."),
        muted=True,
    )

    # --- Step 2: sign in ----------------------------------------------------------------
    # The same pages, in the same order, with the same names as the screens (issue 18).
    w.heading(_("Step 2: Sign in to %(service)s") % {"service": service})
    w.steps(
        _("On your computer, open %(url)s in a web browser.") % {"url": s_url},
        _("Sign in with your email address and password."),
        _("On %(page)s, choose %(app)s.")
        % {"page": _em(_("Set up two-step verification")), "app": _em(_("Authenticator app"))},
        _("On %(page)s, enter the 6-digit code we have just emailed to you. It confirms that the mailbox is yours.")
        % {"page": _em(_("First, confirm it's your email"))},
        _("%(service)s shows a QR code: a square made of small black and white blocks. Keep this page open.")
        % {"service": service},
    )
    w.para(
        _("Setting up on the phone itself? Tap %(link)s instead of scanning: the app opens with the account filled in.")
        % {"link": _em(_("Add to an authenticator on this phone"))},
        muted=True,
    )
    w.screenshot(
        screen_path(language, "choose.png"),
        _("%(page)s: choose %(app)s.") % {"page": _("Set up two-step verification"), "app": _("Authenticator app")},
    )

    # --- Step 3: scan the QR code ------------------------------------------------------
    w.heading(_("Step 3: Scan the QR code with the app"))
    w.screenshot(
        screen_path(language, "qr.png"),
        _("The QR code on %(service)s (blurred in this guide: scan the one on your own screen).")
        % {"service": service},
    )
    w.subheading(_("In Google Authenticator"))
    w.steps(
        _("Open Google Authenticator on your phone."),
        _("Tap %(plus)s, then %(scan)s.") % {"plus": plus, "scan": scan_qr},
        _("Point the camera at the QR code on your computer screen. The account is added by itself."),
    )
    w.subheading(_("In Microsoft Authenticator"))
    w.steps(
        _("Open Microsoft Authenticator on your phone."),
        _("Tap %(plus)s, then choose %(other)s (or %(work)s if your organisation tells you to).")
        % {"plus": plus, "other": other_account, "work": work_account},
        _("Tap %(scan)s if the camera does not open by itself.") % {"scan": scan_qr},
        _("Point the camera at the QR code on your computer screen. The account is added by itself."),
    )
    w.para(
        _("The app now shows %(service)s with a 6-digit code. The code changes every 30 seconds.")
        % {"service": service}
    )

    # --- If scanning fails --------------------------------------------------------------
    w.heading(_("If the QR code will not scan"))
    w.para(
        _(
            "You can type a key into the app instead. This also works if you only have "
            "your phone and cannot scan your own screen."
        )
    )
    w.steps(
        _("Below the QR code, choose %(cant_scan)s. %(service)s shows a key: letters and numbers in groups of four.")
        % {"cant_scan": cant_scan, "service": service},
        _("In Google Authenticator, tap %(plus)s, then %(enter_key)s.") % {"plus": plus, "enter_key": enter_key},
        _("In Microsoft Authenticator, tap %(plus)s, choose %(other)s, then %(manual)s.")
        % {"plus": plus, "other": other_account, "manual": enter_manually},
        _("Enter %(service)s as the account name, and type the key exactly as shown. You can leave out the spaces.")
        % {"service": service},
        _("Make sure the key is time-based (in Google Authenticator, choose %(time_based)s), then add the account.")
        % {"time_based": time_based},
    )

    # --- Step 4: enter the code ----------------------------------------------------------
    w.heading(_("Step 4: Enter the 6-digit code"))
    w.steps(
        _("Type the 6-digit code that the app shows into %(field)s and choose %(button)s.")
        % {"field": _em(_("Enter the 6-digit code from the app")), "button": _em(_("Activate"))},
        _(
            "The app shows a new code every 30 seconds. If a code is rejected, wait for the "
            "next one and try again. You do not need to scan the QR code again."
        ),
        _(
            "If the page says that your phone's clock is off, turn on automatic date and time "
            "in your phone's settings, then try again."
        ),
    )
    w.screenshot(
        screen_path(language, "code.png"),
        _("Type the code into %(field)s, then choose %(button)s.")
        % {"field": _("Enter the 6-digit code from the app"), "button": _("Activate")},
    )
    w.para(
        _("That's it! From now on, %(service)s asks for a code from the app each time you sign in.")
        % {"service": service}
    )
    w.screenshot(
        screen_path(language, "sign-in.png"),
        _("%(page)s: the code from the app at every sign-in.") % {"page": _("Two-step verification")},
    )

    # --- Step 5: recovery codes ----------------------------------------------------------
    w.heading(_("Step 5: Save your recovery codes"))
    w.para(
        _(
            "After setup, %(service)s shows a list of recovery codes. They let you sign in "
            "when you cannot use your phone."
        )
        % {"service": service}
    )
    w.bullets(
        _("Print them or write them down, and keep them in a safe place, away from your phone."),
        _("Each recovery code works only once. Cross it out after you use it."),
        _("Never share them. Nobody from %(service)s will ever ask you for them.") % {"service": service},
    )

    # --- Remember this device ------------------------------------------------------------
    w.heading(_("Remember this device"))
    w.para(
        _(
            "When you enter a code, you can tick %(remember)s. %(service)s will then not ask "
            "for a code in that browser for 14 days. Do not use this on shared or public computers."
        )
        % {"remember": remember, "service": service}
    )

    # --- Lost or replaced phone ---------------------------------------------------------
    w.heading(_("Lost or replaced your phone?"))
    w.steps(
        _("Sign in with your email address and password as usual."),
        _("On the page that asks for the code, choose %(cant_get)s.") % {"cant_get": cant_get},
        _("Enter one of your recovery codes."),
        _("Choose %(lost_phone)s and set up your new phone as in steps 1 to 4.") % {"lost_phone": lost_phone},
    )
    if support:
        w.para(
            _("If you have no recovery codes left, contact %(support)s. They can help you sign in again.")
            % {"support": _em(support)}
        )
    else:
        w.para(_("If you have no recovery codes left, contact your administrator. They can help you sign in again."))

    # --- Passkeys -----------------------------------------------------------------------
    add_passkey = _em(_("Add a passkey"))
    with_passkey = _em(_("Sign in with a passkey"))
    w.heading(_("Even safer: a passkey"))
    w.para(
        _(
            "A passkey is a sign-in key that your phone, computer, password manager or a USB security key "
            "keeps for %(service)s. You unlock it with your fingerprint, your face, your screen lock or the "
            "key's PIN, and it only works on %(url)s: a fake site that looks like %(service)s cannot use it."
        )
        % {"service": service, "url": s_url}
    )
    w.steps(
        _("Sign in to %(service)s and open My account.") % {"service": service},
        _("Choose %(add)s and follow what your browser or phone asks.") % {"add": add_passkey},
        _("Next time, choose %(with)s (or pick the passkey in the email field): no password and no code needed.")
        % {"with": with_passkey},
    )
    w.para(
        _(
            "Keep your recovery codes anyway: if you lose the device with your passkey, they let you "
            "sign in and set up a new one."
        ),
        muted=True,
    )

    # --- Other options -----------------------------------------------------------------
    w.heading(_("Other ways to get a code"))
    w.para(
        _(
            "If you cannot use an authenticator app, %(service)s may also be able to send "
            "you codes, if your administrator has turned this on:"
        )
        % {"service": service}
    )
    w.bullets(
        _("by email, to a separate email address (not the one you sign in with);"),
        _("by text message (SMS) to your mobile phone."),
    )
    w.para(
        _(
            "The authenticator app is the safer choice: it works without a phone signal, and "
            "its codes are made on your phone, so nobody can intercept them on the way."
        )
    )

    return bytes(pdf.output())
