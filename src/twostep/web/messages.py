"""User-facing messages for the codes services return; translated at render time."""

from __future__ import annotations

from twostep.i18n import N_

MESSAGES: dict[str, str] = {
    "email_invalid": N_("Enter a valid email address, like name@example.com."),
    "email_taken": N_("An account with this email address already exists."),
    "too_short": N_("Use at least %(min)s characters."),
    "too_long": N_("Use at most %(max)s characters."),
    "too_common": N_("This password is too common and easy to guess. Choose another one."),
    "matches_context": N_("Don't use your email address or the service name as your password."),
    "needs_lower": N_("Add at least one lowercase letter."),
    "needs_upper": N_("Add at least one uppercase letter."),
    "needs_digit": N_("Add at least one digit."),
    "needs_symbol": N_("Add at least one special character."),
    "passwords_differ": N_("The two passwords are not the same."),
    "login_invalid": N_("The email address or password is not correct."),
    "not_email": N_("Sign in with your email address now; forgot which one? Contact %(support)s."),
    "throttled": N_("Too many attempts. Wait %(seconds)s seconds, then try again."),
    "code_invalid": N_("That code didn't work. Check it and try again, or wait for the next code."),
    "code_format": N_("Enter the 6-digit code."),
    "restart": N_("Too many wrong codes. Sign in again to get a new chance."),
    "session_expired": N_("Your sign-in took too long. Please sign in again."),
    "csrf": N_("The form expired. Please try again."),
    "mailbox_sent": N_("We sent a code to %(email)s."),
    "mailbox_code_invalid": N_("That code didn't work. Check the newest email from us, or send a new code."),
    "enroll_expired": N_("This QR code expired after 10 minutes. Scan the new code below."),
    "clock_off": N_(
        "That code belongs to a different time. Your phone's clock looks about %(seconds)s seconds "
        "off: turn on automatic date and time in the phone's settings, then enter the new code."
    ),
    "setup_invalid": N_("This setup link is no longer valid."),
    "reauth_needed": N_("For your security, confirm it's you first."),
    "password_wrong": N_("That is not your current password."),
    "current_password_missing": N_("Enter your current password."),
    "password_unchanged": N_("Choose a password different from your current one."),
    "last_method": N_(
        "This is your only second-step method. Add another method first, then you can remove this one."
    ),
}


def support_contact(support_email: str) -> str:
    return support_email or "your administrator"
