"""Every table of user-facing messages, in one home: the texts for the codes services return, the
confirmations after a change, the console's texts. Marked with ``N_`` (extracted by Babel) and
translated at render time (``Page.message``, ``Page.gettext``); a page shows only texts from these
tables, never text taken from the URL."""

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


#: Sending and entering codes, enrolling an address or phone, the password reset
#: (web/signin/sign_in.py, web/enrollment/email_and_phone.py, web/reset/password_reset.py, web/account/reauth.py).
CODE_TEXT: dict[str, str] = {
    "same_as_sign_in": N_(
        "Use a different address from the one you sign in with (%(email)s). That mailbox can already "
        "reset your password; if it also received your codes, anyone who got into it could take over "
        "your account."
    ),
    "phone_empty": N_("Enter your mobile number."),
    "phone_invalid": N_("This is not a valid phone number. Check the digits and the country."),
    "phone_not_mobile": N_("This is not a mobile number, so it can't receive text messages. Enter a mobile number."),
    "phone_country_not_allowed": N_(
        "Text messages to this country are not available here. Use the authenticator app instead."
    ),
    "phone_needs_country": N_(
        "Choose the country, or start the number with + and the country code (for example +32 for Belgium)."
    ),
    "mail_failed": N_("We couldn't send the email — try again or choose another method."),
    "sms_failed": N_("We couldn't send the text message — try again or choose another method."),
    "cooldown": N_("We just sent a code. Wait %(seconds)s seconds before asking for a new one."),
    "hourly_limit": N_(
        "Too many codes were sent in the last hour. Try again in %(minutes)s minutes, or choose another method."
    ),
    "limited": N_("Too many codes were sent recently. Try again later, or choose another method."),
    "sent_email": N_("We sent a code to %(target)s. It is valid for 10 minutes."),
    "sent_sms": N_("We sent a code by text message to %(target)s. It is valid for 10 minutes."),
    "sent": N_("We sent you a code. It is valid for 10 minutes."),
    "no_code_method": N_("This method doesn't use codes we send. Enter the code from your app."),
    "enroll_expired": N_("This request has expired. Enter the address or number again to get a new code."),
    "sms_unavailable": N_("Codes by text message are not available on this service."),
    "email_unavailable": N_("Codes by email are not available on this service."),
    "reset_sent": N_(
        "If an account uses the address you entered, we sent it an email with an 8-character code. "
        "It is valid for 10 minutes."
    ),
    "reset_code_invalid": N_("That code didn't work. Check it, or ask for a new code."),
    "reset_restart": N_("Too many wrong codes. Ask for a new reset code to start again."),
    "reset_expired": N_("Your password reset took too long. Please start again."),
    "reset_no_method": N_(
        "Your account uses two-step verification, but none of its methods can be used to reset the password. "
        "Contact %(support)s."
    ),
}

#: My account (web/account/account.py): confirmations shown after a change; only these ids are shown,
#: never text from the URL.
ACCOUNT_NOTICES: dict[str, str] = {
    "method_removed": N_("The method was removed. We sent a notice to your email address."),
    "device_revoked": N_("That device will ask for the second step again. We sent a notice to your email address."),
    "session_ended": N_("That session is signed out. We sent a notice to your email address."),
    "sessions_ended": N_("All your other sessions are signed out. We sent a notice to your email address."),
    "password_changed": N_(
        "Your password was changed. Other sessions and remembered devices are signed out. "
        "We sent a notice to your email address."
    ),
    "nothing_to_end": N_("There was nothing to sign out."),
    "not_found": N_("That item no longer exists; the list below is up to date."),
}

#: Sign-in with a recovery code, "I lost my phone" (web/signin/recover.py).
RECOVER_TEXT: dict[str, str] = {
    "recovery_empty": N_("Enter a recovery code, like ABCD-EFGH-JKMN-PQRS."),
    "recovery_invalid": N_("That recovery code didn't work. Check it and try again; each code works only once."),
    "nothing_chosen": N_("Choose at least one method to remove."),
}

#: The console's user pages (web/admin/admin.py).
ADMIN_TEXT: dict[str, str] = {
    "not_found": N_("There is no such user."),
    "reason_required": N_("Write down why you reset two-step verification for this user."),
    "reason_too_long": N_("Keep the reason under 500 characters."),
    "self_reset": N_(
        "You can't reset your own two-step verification here. Ask another administrator, or use your recovery codes."
    ),
    "self_delete": N_("You can't delete your own account here. Ask another administrator."),
    "last_admin": N_(
        "This is the last administrator. Make someone else an administrator first, so that "
        "somebody can still help users who lose their phone."
    ),
    "confirm_mismatch": N_("Type the user's email address exactly to confirm the deletion."),
    "date_invalid": N_("Enter a date like 2026-03-01."),
}

#: Confirmations after a console action (web/admin/admin.py).
ADMIN_NOTICES: dict[str, str] = {
    "reset": N_("Two-step verification was reset. The user will set it up again at the next sign-in."),
    "unlocked": N_("The account was unlocked."),
    "signed_out": N_("The user was signed out everywhere."),
    "granted": N_("The user is now an administrator."),
    "revoked": N_("The user is no longer an administrator."),
    "unchanged": N_("Nothing changed."),
    "deleted": N_("The account was deleted."),
    "email_verified": N_("The email address is marked verified. Applications see it from the user's next sign-in."),
}

#: API keys in the console (web/admin/admin_apikeys.py).
API_KEY_TEXT: dict[str, str] = {
    "apikey_name_missing": N_("Give the key a name, for example the application that will use it."),
    "apikey_name_too_long": N_("Use at most 200 characters for the name."),
    "apikey_unknown": N_("This key does not exist."),
    "created": N_("Key created. Copy it now: it is shown only this once."),
    "revoked": N_("Key %(prefix)s revoked. Applications using it are refused from now on."),
}

#: Rollout: policy, not-enrolled list, roles (web/admin/admin_policy.py).
ROLLOUT_TEXT: dict[str, str] = {
    "policy_number": N_("Enter a whole number from %(min)s to %(max)s."),
    "policy_choice": N_("Choose one of the options."),
    "policy_roles_needed": N_("Name at least one role, or require two-step verification for everyone."),
    "role_invalid": N_(
        "Role names use lower-case letters, digits, dots, hyphens and underscores. Not valid: %(roles)s"
    ),
    "user_unknown": N_("There is no account with this email address."),
    "email_invalid": N_("Enter a valid email address, like name@example.com."),
    "last_admin": N_("This is the last administrator: make someone else an administrator first."),
    "admin_elsewhere": N_(
        "Administrator rights are granted and revoked on the user's page, which also tells the user."
    ),
    "policy_saved": N_("The policy was saved. It applies from the next sign-in."),
    "policy_unchanged": N_("Nothing changed."),
    "policy_reset": N_("The policy follows the configuration file again."),
    "roles_saved": N_("Roles of %(email)s: %(roles)s."),
    "no_roles": N_("none"),
}


#: The console gate's refusal (``web/admin/admin_gate.py``).
ADMIN_FORBIDDEN = N_("This page is for administrators only.")
#: Which feedback text names the channel a code went through (by factor kind).
SENT_KEY = {"sms": "sent_sms", "email": "sent_email"}
FAILED_KEY = {"sms": "sms_failed", "email": "mail_failed"}

def support_contact(support_email: str) -> str:
    return support_email or "your administrator"

#: /admin/oidc (web.admin_oidc).
OIDC_CLIENT_TEXT: dict[str, str] = {
    "created": N_("Application registered. Copy the secret now: it is shown only this once."),
    "created_public": N_("Application registered."),
    "rotated": N_("New secret made; the old one no longer works. Copy it now: it is shown only this once."),
    "saved": N_("Addresses saved."),
    "deleted": N_("Application deleted, and every token issued to it."),
    "uri_invalid": N_("Each address must be a full http:// or https:// URL."),
    "uri_fragment": N_("An address must not contain a # fragment."),
    "uri_wildcard": N_("Addresses are matched exactly; a * wildcard is not allowed."),
    "uri_missing": N_("Give at least one redirect URI."),
    "name_missing": N_("Give the application a name."),
    "name_invalid": N_("Use at most 200 characters for the name."),
    "client_unknown": N_("This application does not exist."),
    "public_client": N_("A public application has no secret."),
    "settings_saved": N_("Settings saved."),
}

#: "Test this redirect URI" in /admin/oidc (services.oidc.redirect_check's finding codes).
OIDC_REDIRECT_TEXT: dict[str, str] = {
    "registered": N_("Registered for this application exactly: sign-ins can return to this address."),
    "not_registered": N_(
        "Not registered for this application. A sign-in request with this address gets an error page here, "
        "never a redirect: register it exactly as the application sends it."
    ),
    "closest": N_("Closest registered address: %(uri)s. It differs in %(parts)s."),
    "part_scheme": N_("the scheme (http or https)"),
    "part_host": N_("the host name"),
    "part_host_case": N_("the letter case of the host name"),
    "part_port": N_("the port"),
    "part_port_default": N_("the port: one address writes the default port out, the other leaves it out"),
    "part_path": N_("the path"),
    "part_path_slash": N_("the path: a trailing /"),
    "part_path_case": N_("the letter case of the path"),
    "part_query": N_("the query (after ?)"),
    "part_encoding": N_("the way some characters are written (percent-encoding)"),
    "https": N_("Uses https."),
    "http_loopback": N_(
        "Plain http on a loopback address: allowed, for applications that run on the user's own computer."
    ),
    "http_plain": N_(
        "Plain http on a network address: the sign-in code travels unencrypted. Use https."
    ),
    "reach_ok": N_("From this server, %(host)s port %(port)s (%(address)s) accepted a connection in %(millis)s ms."),
    "reach_ok_tls": N_(
        "From this server, %(host)s port %(port)s (%(address)s) accepted a connection in %(millis)s ms, "
        "with a valid certificate for %(host)s."
    ),
    "reach_no_dns": N_("From this server, the name %(host)s does not resolve."),
    "reach_refused": N_(
        "From this server, nothing accepts connections at %(host)s port %(port)s (%(address)s): %(detail)s"
    ),
    "reach_timeout": N_("From this server, %(host)s port %(port)s did not answer within %(seconds)s seconds."),
    "reach_tls": N_(
        "From this server, %(host)s port %(port)s (%(address)s) answered, but its certificate is not valid "
        "for %(host)s: %(detail)s"
    ),
    "reach_loopback": N_(
        "Not tested for reachability: a loopback address is the user's own computer, not this server."
    ),
    "reach_not_routable": N_(
        "Not tested for reachability: %(address)s is a link-local, multicast or reserved address."
    ),
    "reach_registered_only": N_("Reachability is tested only for registered addresses."),
    "reach_note": N_(
        "The users' browsers, not this server, follow the redirect: an address that only their network "
        "reaches can fail this test and still work."
    ),
    "level_ok": N_("OK"),
    "level_warn": N_("Warning"),
    "level_fail": N_("Problem"),
    "level_info": N_("Note"),
}

#: The OpenID Connect pages (web.oidc).
OIDC_TEXT: dict[str, str] = {
    "error_title": N_("This sign-in request cannot be completed"),
    "error_detail": N_(
        "The application that sent you here made a request that twostep cannot accept. "
        "Tell the application's administrator what this says:"
    ),
    "logout_error": N_("The application's sign-out request was not accepted, but you are signed out here."),
}
