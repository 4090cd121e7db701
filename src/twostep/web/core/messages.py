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
    "code_length": N_("Codes have 6 digits; you entered %(count)s."),
    "code_digits": N_("A code has only digits. Enter the 6 digits."),
    "code_replayed": N_(
        "This code was just used. Wait for the next one in your app, about %(seconds)s seconds."
    ),
    "sent_code_invalid": N_("That code didn't work. Check it and try again, or send a new code."),
    "sent_code_replayed": N_("This code was already used. Send a new code."),
    "restart": N_("Too many wrong codes. Sign in again to get a new chance."),
    "session_expired": N_("Your sign-in took too long. Please sign in again."),
    "csrf": N_("The form expired. Please try again."),
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
    "passkey_name_empty": N_("Give the passkey a name."),
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

#: Enrollment pages (web/enrollment/): why this enrollment is happening, said at the top.
ENROLL_TEXT: dict[str, str] = {
    "lost_phone": N_(
        "Your old phone was removed from your account and no longer works for signing in. Set up your new phone now."
    ),
    "admin_reset": N_(
        "An administrator reset your two-step verification. Set it up again to finish signing in."
    ),
    "codes_not_saved": N_(
        "Tick “I have saved these codes” to continue. If you could not save them, create new ones in "
        "My account: each new set replaces the old one."
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
    "password_reset": N_(
        "Your new password is set and you are signed in. Every other session and remembered device "
        "was signed out. We sent a notice to your email address."
    ),
    "not_found": N_("That item no longer exists; the list below is up to date."),
    "passkey_renamed": N_("The passkey's new name is saved."),
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
    "passkey_not_found": N_("This user has no such passkey."),
    "passkey_last_method": N_(
        "This passkey is the user's only method. To remove it, reset two-step verification instead."
    ),
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
    "passkey_removed": N_("The passkey was removed. The user was told by email."),
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
#: Which text names the channel a failed send went through (by factor kind).
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

#: Adding and inviting users, bulk actions (web/admin/admin_users.py).
USERS_TEXT: dict[str, str] = {
    "email_invalid": N_("Enter a valid email address, like name@example.com."),
    "email_taken": N_("An account with this email address already exists."),
    "name_too_long": N_("Use at most 200 characters for the name."),
    "control_character": N_("The name contains a character that is not allowed."),
    "language_unknown": N_("Choose one of the languages."),
    "role_invalid": N_(
        "Role names use lower-case letters, digits, dots, hyphens and underscores. Not valid: %(roles)s"
    ),
    "admin_elsewhere": N_(
        "Administrator rights are granted and revoked on the user's page, which also tells the user."
    ),
    "people_missing": N_("Paste at least one email address, or choose a file."),
    "file_unreadable": N_("This file is not text in UTF-8. Save it as CSV (UTF-8) and choose it again."),
    "batch_not_found": N_("There is no such list of invitations. Lists are kept for 30 days."),
    "file_too_large": N_(
        "This file is larger than %(size)s KB, more than %(people)s people need. Invite at most %(people)s "
        "people at once: split the list into several files."
    ),
    "nobody": N_("Nobody on the list can be invited. The reasons are below."),
    "invitation_accepted": N_("This user has already chosen a password: there is no invitation to send."),
    "bulk_none": N_("Choose at least one user in the list first."),
    "bulk_action": N_("Choose what to do with the chosen users."),
    "bulk_confirm": N_("Type %(count)s to confirm."),
    "self_sign_out": N_("You can't sign yourself out from here."),
    "invitation_page": N_(
        "Welcome! Choose the password for %(email)s: enter the 8-character code from your invitation email, "
        "then the new password."
    ),
}

#: Why a line of an invitation list was not taken (web/admin/admin_users.py; domain.invitations).
INVITE_LINE_TEXT: dict[str, str] = {
    "email_invalid": N_("not a valid email address"),
    "duplicate": N_("the same address as line %(line)s"),
    "name_too_long": N_("the name is longer than 200 characters"),
    "control_character": N_("contains a character that is not allowed"),
    "language_unknown": N_("unknown language %(detail)s (use en, pl, nl or sv)"),
    "role_invalid": N_("not a role name: %(detail)s"),
    "too_many": N_("more than 1,000 people at once: invite the others in a second round"),
    "column_unknown": N_("unknown column(s): %(detail)s (use email, name, language, roles)"),
    "admin_elsewhere": N_("the administrator role is given on the user's page"),
}

#: Confirmations after adding or inviting (web/admin/admin_users.py).
USERS_NOTICES: dict[str, str] = {
    "invited": N_("The account was created and the invitation sent."),
    "invite_failed": N_(
        "The account was created, but the invitation could not be sent. Check the mail settings, then send it again."
    ),
    "invitation_resent": N_("A new invitation was sent. The code in the earlier one no longer works."),
}

#: Every audit event twostep records, in words, grouped for the console's event filter <select>
#: (web/admin/readable.py).
#: ``tests/admin/test_audit_event_names.py`` finds every event name recorded in the sources and
#: fails when one is missing here.
EVENT_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        N_("Signing in"),
        (
            ("authn_login_success", N_("Signed in")),
            ("authn_password_ok", N_("Password accepted")),
            ("authn_login_fail", N_("Sign-in failed")),
            ("authn_login_lock", N_("Sign-in paused after wrong attempts")),
            ("authn_login_fail_max", N_("Sign-in ended after five wrong codes")),
            ("authn_token_reuse", N_("A code was used a second time (refused)")),
            ("authn_passkey_counter_regressed", N_("Passkey refused: its counter went backwards (a copy?)")),
            ("authn_device_remembered", N_("Browser remembered")),
            ("authn_code_sent", N_("Code sent")),
            ("authn_code_send_fail", N_("Code or invitation could not be sent")),
            ("session_logout", N_("Signed out")),
            ("session_renewed", N_("Confirmed it's them again")),
            ("session_expired", N_("Sessions ended by an administrator")),
        ),
    ),
    (
        N_("Two-step methods"),
        (
            ("authn_token_created", N_("Method set up or new recovery codes")),
            ("authn_token_enroll_fail", N_("Wrong code while setting up a method")),
            ("authn_token_delete", N_("Method removed")),
            ("authn_passkey_renamed", N_("Passkey renamed")),
            ("authn_token_revoked", N_("Unfinished method withdrawn")),
            ("authn_token_disabled", N_("Method turned off after too many wrong codes")),
            ("authn_mailbox_check", N_("Mailbox confirmed")),
            ("authn_mailbox_check_fail", N_("Mailbox check failed")),
        ),
    ),
    (
        N_("Passwords"),
        (
            ("authn_password_change", N_("Password changed")),
            ("authn_password_change_fail", N_("Password change failed")),
            ("authn_password_reset_request", N_("Password reset asked for")),
            ("authn_password_reset_code_ok", N_("Password reset code accepted")),
            ("authn_password_rehashed", N_("Imported password upgraded")),
        ),
    ),
    (
        N_("Accounts and administration"),
        (
            ("user_created", N_("Account created")),
            ("user_invited", N_("Invitation sent")),
            ("user_updated", N_("Account changed by an administrator")),
            ("user_deleted", N_("Account deleted")),
            ("user_import", N_("Users imported")),
            ("authz_change", N_("Roles changed")),
            ("authz_admin", N_("Administrator action")),
            ("authz_fail", N_("Refused: not an administrator")),
            ("policy_changed", N_("Policy changed")),
            ("branding_logo_uploaded", N_("Logo uploaded")),
            ("branding_logo_removed", N_("Logo removed")),
        ),
    ),
    (
        N_("Applications"),
        (
            ("apikey_created", N_("API key created")),
            ("apikey_revoked", N_("API key revoked")),
            ("oidc_client_created", N_("Application registered")),
            ("oidc_client_updated", N_("Application changed")),
            ("oidc_client_deleted", N_("Application deleted")),
            ("oidc_client_secret_rotated", N_("Application secret replaced")),
            ("oidc_redirect_uri_tested", N_("Redirect address tested")),
            ("oidc_code_reuse", N_("Authorization code used twice (refused)")),
            ("oidc_refresh_reuse", N_("Refresh token used twice (refused)")),
        ),
    ),
)
EVENT_NAMES: dict[str, str] = {event: name for _, events in EVENT_GROUPS for event, name in events}

#: ``authz_admin`` events say which action in their ``action`` detail.
ADMIN_ACTIONS: dict[str, str] = {
    "reset_2fa": N_("reset two-step verification"),
    "unlock": N_("unlocked the account"),
    "sign_out_everywhere": N_("signed out everywhere"),
    "delete_user": N_("deleted the account"),
    "grant_admin": N_("made administrator"),
    "revoke_admin": N_("removed the administrator role"),
    "audit_export": N_("exported the audit log"),
    "invite_user": N_("invited"),
    "invite_users": N_("invited a list of people"),
    "resend_invitation": N_("sent the invitation again"),
    "retry_invitations": N_("sent a list's failed invitations again"),
    "bulk_reset_2fa": N_("reset two-step verification of several users"),
    "bulk_sign_out": N_("signed out several users"),
    "bulk_delete": N_("deleted several accounts"),
    "email_verified": N_("marked the email address verified"),
    "remove_passkey": N_("removed a passkey"),
}

#: /admin/appearance (web/admin/admin_appearance.py): why a logo file was refused (``domain.logo``
#: reasons), and what changed.
APPEARANCE_TEXT: dict[str, str] = {
    "empty": N_("Choose an image file to upload."),
    "too_large": N_("The file is larger than 256 KB. Save the logo smaller (about 200 pixels wide is plenty)."),
    "svg": N_("SVG files are not accepted, because they can contain scripts. Upload a PNG, JPEG or WebP image."),
    "not_image": N_("This file is not a PNG, JPEG or WebP image. Upload a PNG, JPEG or WebP image."),
    "too_many_pixels": N_("The image is larger than 2048 pixels on a side. Make it smaller and upload it again."),
    "too_small": N_("The image is smaller than 16 pixels on a side. Upload a larger one."),
    "logo_saved": N_("The logo is saved. Every page now shows it."),
    "logo_removed": N_("The logo is removed."),
}

OUTCOMES: dict[str, str] = {"success": N_("Success"), "failure": N_("Failure")}

#: Passkeys: the ceremony endpoints' problem details (shown by static/passkey.js in the page's
#: alert) and the passkey pages (web/signin/passkey.py, web/enrollment/passkey.py).
PASSKEY_TEXT: dict[str, str] = {
    "invalid": N_("That passkey didn't work. Try again, or use another method."),
    "expired": N_("This took too long. Try again."),
    "not_allowed": N_("This kind of security key is not allowed here. Use another passkey or method."),
    "duplicate": N_("This passkey is already registered."),
    "unavailable": N_("Passkeys are not available on this site."),
    "passwordless_off": N_("Signing in with a passkey alone is turned off. Enter your email address and password."),
    "malformed": N_("The request was not understood."),
    "csrf": N_("The page expired. Reload it and try again."),
    "no_session": N_("Your sign-in took too long. Please sign in again."),
    "reauth": N_("For your security, confirm it's you first."),
    "mailbox": N_("First confirm your email address."),
    "none_pending": N_("Create the passkey first with the button above."),
}
