"""The console's users: adding and inviting people (the invitation is the emailed set-password code of
the password reset), resending and expiry, the list's search, filters and keyset pages, and bulk
actions behind a confirmation page."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from tests.admin.test_admin import ROOT, count, events, signed_in, target_user
from tests.support import (
    PASSWORD,
    RecordingMail,
    alerts,
    code_for,
    csrf_of,
    login_password,
    make_user,
    submit_code,
)
from twostep.domain.clock import FrozenClock
from twostep.services.core import throttling
from twostep.services.core.context import Context
from twostep.storage.models import Factor, OneTimeCode, User, UserRole, WebSession

NEW_PASSWORD = "quiet harbour lantern 7"


def console(client: TestClient, ctx: Context, clock: FrozenClock) -> str:
    """Sign the administrator in (re-authenticated just now); returns their authenticator secret."""
    return signed_in(client, ctx, clock, ROOT, is_admin=True)


def post(client: TestClient, url: str, data: dict[str, object], *, page: str = "/admin/users") -> object:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token}, follow_redirects=False)


def invitation_parts(mail: RecordingMail, to: str) -> tuple[str, str]:
    """(the link's path and query, the code) from the newest invitation mailed to ``to``."""
    message = mail.last_to(to)
    link = re.search(r"https?://[^/\s]+(/password/invite\?t=[\w\-]+)", message.text)
    code = re.search(r"^\s{4}([A-Z2-9]{8})\s*$", message.text, re.M)
    assert link and code, message.text
    return link.group(1), code.group(1)


def set_password(client: TestClient, link: str, code: str) -> object:
    """Follow the invitation link in a fresh browser and choose a password with the code."""
    page = client.get(link, follow_redirects=False)
    assert page.status_code == 200 and "enter the 8-character code from your invitation email" in page.text
    return client.post(
        "/password/reset",
        data={
            "code": code,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


# --- add a user ----------------------------------------------------------------------------------


def test_add_user_creates_an_account_without_password_and_mails_an_invitation_that_sets_it(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    console(client, ctx, clock)
    added = post(
        client,
        "/admin/users/new",
        {"email": " Klant@Example.be ", "name": "Klant NV", "language": "nl", "roles": "staff, finance"},
        page="/admin/users/new",
    )
    assert added.status_code == 303  # type: ignore[attr-defined]
    location = added.headers["location"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"/admin/users/\d+\?notice=invited", location)
    page = client.get(location)
    assert "The account was created and the invitation sent." in page.text
    assert "Send the invitation again" in page.text and "Invited" in page.text
    with ctx.db.transaction() as db:
        user = db.scalar(select(User).where(User.email == "klant@example.be"))
        assert user is not None and user.password_hash is None and user.name == "Klant NV"
        assert user.invitation_expires_at is not None and user.language == "nl"
        roles = sorted(db.scalars(select(UserRole.role).where(UserRole.user_id == user.id)))
        user_id = user.id
    assert roles == ["finance", "staff"]
    invitation = mail.last_to("klant@example.be")
    assert "Je bent uitgenodigd voor Acme" in invitation.subject  # the language chosen for the user
    link, code = invitation_parts(mail, "klant@example.be")
    assert code not in str([e.detail for e in events(ctx, "user_invited")])
    [invited] = events(ctx, "user_invited")
    assert invited.user_id == user_id and invited.actor_id is not None
    assert any('"invite_user"' in e.detail for e in events(ctx, "authz_admin"))

    person = TestClient(client.app, base_url="http://127.0.0.1:8000")
    done = set_password(person, link, code)
    assert done.headers["location"] == "/login?notice=password_reset"  # type: ignore[attr-defined]
    assert login_password(person, "klant@example.be", NEW_PASSWORD).headers["location"] == "/enroll"
    listing = client.get("/admin/users?status=invited")
    assert "klant@example.be" not in listing.text  # accepted: no longer waiting


def test_add_user_shows_each_problem_next_to_its_field_and_creates_nothing(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    console(client, ctx, clock)
    make_user(ctx, "taken@example.com")
    cases = [
        ({"email": "not an address"}, "email", "Enter a valid email address, like name@example.com."),
        ({"email": "taken@example.com"}, "email", "An account with this email address already exists."),
        ({"email": "a@example.com", "roles": "Access All Areas"}, "roles", "Not valid: Access All Areas"),
        ({"email": "a@example.com", "roles": "admin"}, "roles", "granted and revoked on the user's page"),
        ({"email": "a@example.com", "language": "de"}, "language", "Choose one of the languages."),
        ({"email": "a@example.com", "name": "x" * 201}, "name", "Use at most 200 characters for the name."),
    ]
    for data, field, text in cases:
        refused = post(client, "/admin/users/new", data, page="/admin/users/new")
        assert refused.status_code == 422, data  # type: ignore[attr-defined]
        body = refused.text  # type: ignore[attr-defined]
        [alert] = alerts(body)
        assert text in alert, (data, alert)
        assert (
            f'id="{field}-error" role="alert"' in body and f'href="#{field}"' in body
        )  # next to it, and summed up on top
        assert 'aria-invalid="true"' in body
    assert count(ctx, User) == 2 and not [m for m in mail.sent if "invited" in m.subject.lower()]
    forged = client.post("/admin/users/new", data={"email": "b@example.com", "csrf_token": "forged"})
    assert forged.status_code == 400 and count(ctx, User) == 2


def test_an_invitation_that_cannot_be_mailed_keeps_the_account_and_says_so(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    console(client, ctx, clock)
    mail.down = True
    added = post(client, "/admin/users/new", {"email": "bo@example.com"}, page="/admin/users/new")
    assert added.headers["location"].endswith("?notice=invite_failed")  # type: ignore[attr-defined]
    assert "could not be sent" in client.get(added.headers["location"]).text  # type: ignore[attr-defined]
    assert [e.outcome for e in events(ctx, "authn_code_send_fail")] == ["failure"]
    mail.down = False
    user_id = added.headers["location"].split("/")[3].split("?")[0]  # type: ignore[attr-defined]
    resent = post(client, f"/admin/users/{user_id}/invite", {}, page=f"/admin/users/{user_id}")
    assert resent.headers["location"].endswith("?notice=invitation_resent")  # type: ignore[attr-defined]
    assert mail.last_to("bo@example.com")


# --- resend and expiry ---------------------------------------------------------------------------


def test_resending_an_invitation_voids_the_first_code_and_an_expired_one_stops_working(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    secret = console(client, ctx, clock)
    added = post(client, "/admin/users/new", {"email": "cy@example.com"}, page="/admin/users/new")
    user_id = added.headers["location"].split("/")[3].split("?")[0]  # type: ignore[attr-defined]
    first_link, first_code = invitation_parts(mail, "cy@example.com")
    clock.advance(minutes=2)
    post(client, f"/admin/users/{user_id}/invite", {}, page=f"/admin/users/{user_id}")
    second_link, second_code = invitation_parts(mail, "cy@example.com")
    assert second_code != first_code
    person = TestClient(client.app, base_url="http://127.0.0.1:8000")
    refused = set_password(person, first_link, first_code)  # the first link still leads there, its code is void
    assert refused.status_code == 401 and alerts(refused.text)  # type: ignore[attr-defined]

    clock.advance(days=7, seconds=1)  # past the second invitation's 7 days
    login_password(client, ROOT)
    submit_code(client, code_for(secret, clock))
    assert "The invitation expired" in client.get(f"/admin/users/{user_id}").text
    assert "Invitation expired" in client.get("/admin/users?status=invited").text
    expired = person.get(second_link, follow_redirects=False)
    assert expired.status_code == 410 and "This invitation link no longer works" in expired.text
    tampered = person.get(second_link[:-3] + "AAA", follow_redirects=False)
    assert tampered.status_code in (400, 410) and "Forgot your password?" in tampered.text
    with ctx.db.transaction() as db:
        live = db.scalars(
            select(OneTimeCode).where(OneTimeCode.user_id == int(user_id), OneTimeCode.voided_at.is_(None))
        )
        assert all(row.expires_at.replace(tzinfo=None) <= clock.now().replace(tzinfo=None) for row in live)


def test_an_account_with_a_password_has_no_invitation_to_resend(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    user_id = make_user(ctx, "dee@example.com")
    assert "Send an invitation" not in client.get(f"/admin/users/{user_id}").text
    refused = post(client, f"/admin/users/{user_id}/invite", {}, page=f"/admin/users/{user_id}")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "already chosen a password" in alerts(refused.text)[0]  # type: ignore[attr-defined]
    assert post(client, "/admin/users/99999/invite", {}).status_code == 404  # type: ignore[attr-defined]


# --- invite a list -------------------------------------------------------------------------------


def test_inviting_a_pasted_list_shows_it_first_then_invites_only_the_new_people(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    console(client, ctx, clock)
    make_user(ctx, "old@example.com")
    pasted = "\n".join(
        [
            "ada@example.com",
            "Bo Berg <bo@example.com>",
            "cy@example.com\tCy Young",  # a row copied from a spreadsheet
            "old@example.com",
            "not-an-address",
            "ADA@example.com",
            "",
        ]
    )
    checked = post(client, "/admin/users/invite", {"people": pasted}, page="/admin/users/invite")
    body = checked.text  # type: ignore[attr-defined]
    assert checked.status_code == 200  # type: ignore[attr-defined]
    assert "3 people will be invited" in body and "Send 3 invitations" in body
    assert "1 already has an account" in body and "old@example.com" in body
    assert "Line 5" in body and "not a valid email address" in body
    assert "Line 6" in body and "the same address as line 1" in body
    assert count(ctx, User) == 2 and not [m for m in mail.sent if m.to == "ada@example.com"]  # nothing yet

    token = csrf_of(body)
    fields = re.findall(r'name="(person_\w+)" value="([^"]*)"', body)
    sent = client.post(
        "/admin/users/invite",
        data={"step": "send", "csrf_token": token, **{k: [v for n, v in fields if n == k] for k, _ in fields}},
    )
    assert sent.status_code == 200 and "3 invitations sent." in sent.text
    assert {m.to for m in mail.sent if "invited" in m.subject} == {
        "ada@example.com",
        "bo@example.com",
        "cy@example.com",
    }
    with ctx.db.transaction() as db:
        names = dict(db.execute(select(User.email, User.name).where(User.invited_at.is_not(None))).all())
    assert names == {"ada@example.com": "", "bo@example.com": "Bo Berg", "cy@example.com": "Cy Young"}
    [summary] = [e for e in events(ctx, "authz_admin") if '"invite_users"' in e.detail]
    assert '"invited": 3' in summary.detail
    assert len(events(ctx, "user_invited")) == 3


def test_inviting_from_an_uploaded_csv_file(client: TestClient, ctx: Context, clock: FrozenClock) -> None:
    console(client, ctx, clock)
    csv_text = "email,name,language,roles\nanna@example.se,Anna,sv-SE,staff;finance\nbad,,,\nper@example.se,Per,xx,\n"
    token = csrf_of(client.get("/admin/users/invite").text)
    checked = client.post(
        "/admin/users/invite",
        data={"csrf_token": token, "people": ""},
        files={"file": ("people.csv", csv_text.encode("utf-8-sig"), "text/csv")},
    )
    assert checked.status_code == 200
    assert "1 person will be invited" in checked.text and "anna@example.se" in checked.text
    assert "unknown language xx" in checked.text and "Line 3" in checked.text
    assert 'name="person_roles" value="finance;staff"' in checked.text
    not_text = client.post(
        "/admin/users/invite",
        data={"csrf_token": token},
        files={"file": ("people.xlsx", b"\xff\xfe\x00binary", "application/octet-stream")},
    )
    assert not_text.status_code == 422 and alerts(not_text.text) == [
        "This file is not text in UTF-8. Save it as CSV (UTF-8) and choose it again."
    ]
    too_long = "".join(f"person{n}@example.se,Person {n},sv,staff\n" for n in range(20_000))  # about 800 KB
    over = client.post("/admin/users/invite", data={"csrf_token": token},
                       files={"file": ("people.csv", too_long.encode(), "text/csv")})
    assert over.status_code == 422 and alerts(over.text) == [  # never only its first 600 KB, silently
        "This file is larger than 600 KB, more than 1000 people need. Invite at most 1000 people at once: "
        "split the list into several files."
    ]
    empty = client.post("/admin/users/invite", data={"csrf_token": token, "people": "  \n "})
    assert empty.status_code == 422 and 'id="people-error" role="alert"' in empty.text
    nobody = client.post("/admin/users/invite", data={"csrf_token": token, "people": "nope\nstill nope"})
    assert nobody.status_code == 422 and "Nobody on the list can be invited." in alerts(nobody.text)[0]


# --- the list ------------------------------------------------------------------------------------


def many_users(ctx: Context, clock: FrozenClock, how_many: int) -> None:
    rows = [
        {"email": f"user{i:04d}@example.com", "name": f"User {i}", "created_at": clock.now(), "sign_in_count": 0,
         "must_enroll": False, "grace_sign_ins": 0, "password_imported": False}
        for i in range(how_many)
    ]  # fmt: skip
    with ctx.db.transaction() as db:
        db.execute(insert(User), rows)


def links(html: str) -> dict[str, str]:
    found = re.findall(r'<a href="([^"]+)"(?: rel="\w+")?>(First page|Previous page|Next page)</a>', html)
    return {label: href.replace("&amp;", "&") for href, label in found}


def test_the_user_list_pages_by_email_with_next_previous_and_first_links(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    many_users(ctx, clock, 120)  # + root = 121 accounts: pages of 50, 50, 21
    first = client.get("/admin/users")  # root@ and user0000..user0048
    assert "121 users" in first.text
    assert first.text.count("<tr data-user-id=") == 50 and ROOT in first.text
    assert set(links(first.text)) == {"Next page"}
    assert "after=user0048%40example.com" in links(first.text)["Next page"]
    second = client.get(links(first.text)["Next page"])
    assert second.text.count("<tr data-user-id=") == 50
    assert "user0049@example.com" in second.text and "user0098@example.com" in second.text
    assert set(links(second.text)) == {"First page", "Previous page", "Next page"}
    third = client.get(links(second.text)["Next page"])
    assert third.text.count("<tr data-user-id=") == 21 and "user0119@example.com" in third.text
    assert set(links(third.text)) == {"First page", "Previous page"}
    back = client.get(links(third.text)["Previous page"])
    assert back.text.count("<tr data-user-id=") == 50
    assert "user0049@example.com" in back.text and "user0098@example.com" in back.text
    assert "user0099@example.com" not in back.text
    again = client.get(links(back.text)["Previous page"])
    assert ROOT in again.text and "user0048@example.com" in again.text
    assert set(links(again.text)) == {"First page", "Next page"}
    one = client.get("/admin/users?q=user0007")
    assert "1 user<" in one.text and "1 users" not in one.text


def test_the_user_list_filters_by_role_method_state_and_search(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    ada_id, _, _ = target_user(ctx, clock, "ada@example.com")  # authenticator app
    bob_id = make_user(ctx, "bob@example.com")  # nothing set up
    with ctx.db.transaction() as db:
        db.add(UserRole(user_id=bob_id, role="finance"))
        for _ in range(5):
            throttling.record_failure(db, throttling.second_step_key(ada_id), clock.now())
    post(client, "/admin/users/new", {"email": "cy@example.com"}, page="/admin/users/new")
    bad = TestClient(client.app, base_url="http://127.0.0.1:8000")
    for _ in range(5):
        login_password(bad, "bob@example.com", "wrong wrong wrong")

    def shown(query: str) -> set[str]:
        page = client.get("/admin/users" + query)
        assert page.status_code == 200, query
        return set(re.findall(r'<a href="/admin/users/\d+">([^<]+)</a>', page.text))

    assert shown("?role=finance") == {"bob@example.com"}
    assert shown("?role=admin") == {ROOT}
    assert shown("?method=totp") == {"ada@example.com", ROOT}
    assert shown("?method=sms") == set()
    assert shown("?status=not_enrolled") == {"bob@example.com", "cy@example.com"}
    assert shown("?status=enrolled") == {"ada@example.com", ROOT}
    assert shown("?status=invited") == {"cy@example.com"}
    assert shown("?status=locked") == {"ada@example.com", "bob@example.com"}  # second step; password
    assert shown("?status=not_enrolled&role=finance") == {"bob@example.com"}
    assert shown("?q=ADA") == {"ada@example.com"}
    assert shown("?q=%25") == set()
    assert shown("?status=nonsense&method=carrier-pigeon&role=nobody-has-it") == set()
    assert len(shown("?status=nonsense&method=carrier-pigeon")) == 4  # unknown filters are ignored
    page = client.get("/admin/users?role=finance")
    assert '<option value="finance" selected>' in page.text and ">Show all</a>" in page.text


# --- bulk actions --------------------------------------------------------------------------------


def test_bulk_actions_ask_for_confirmation_first_and_then_act_on_each_user(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    console(client, ctx, clock)
    with ctx.db.transaction() as db:
        root_id = db.scalar(select(User.id).where(User.email == ROOT))
    ada_id, _, _ = target_user(ctx, clock, "ada@example.com")
    bob_id, _, _ = target_user(ctx, clock, "bob@example.com")
    ids = [str(ada_id), str(bob_id), str(root_id)]
    confirm = post(client, "/admin/users/bulk", {"ids": ids, "action": "reset-2fa"})
    page = confirm.text  # type: ignore[attr-defined]
    assert confirm.status_code == 200 and "Reset two-step verification of 3 users?" in page  # type: ignore[attr-defined]
    assert all(email in page for email in ("ada@example.com", "bob@example.com", ROOT))
    assert count(ctx, Factor, user_id=ada_id) == 1  # nothing changed yet

    no_reason = post(client, "/admin/users/bulk/apply", {"ids": ids, "action": "reset-2fa", "reason": " "})
    assert no_reason.status_code == 422  # type: ignore[attr-defined]
    assert alerts(no_reason.text) == ["Write down why you reset two-step verification for this user."]  # type: ignore[attr-defined]
    done = post(
        client, "/admin/users/bulk/apply", {"ids": ids, "action": "reset-2fa", "reason": "phones lost in a flood"}
    )
    assert done.status_code == 200 and "2 users done." in done.text  # type: ignore[attr-defined]
    assert "You can't reset your own two-step verification here." in unescape(done.text)  # type: ignore[attr-defined]
    assert count(ctx, Factor, user_id=ada_id) == 0 and count(ctx, Factor, user_id=bob_id) == 0
    assert count(ctx, Factor, user_id=root_id) == 1
    assert len([e for e in events(ctx, "user_updated") if e.reason == "phones lost in a flood"]) == 2
    [summary] = [e for e in events(ctx, "authz_admin") if '"bulk_reset_2fa"' in e.detail]
    assert '"done": 2' in summary.detail and '"refused": 1' in summary.detail

    wrong_count = post(client, "/admin/users/bulk/apply", {"ids": ids[:2], "action": "delete", "confirm": "3"})
    assert wrong_count.status_code == 422 and alerts(wrong_count.text) == ["Type 2 to confirm."]  # type: ignore[attr-defined]
    assert count(ctx, User) == 3
    deleted = post(client, "/admin/users/bulk/apply", {"ids": ids[:2], "action": "delete", "confirm": "2"})
    assert "2 users done." in deleted.text and count(ctx, User) == 1  # type: ignore[attr-defined]
    assert len(events(ctx, "user_deleted")) == 2


def test_bulk_sign_out_ends_the_sessions_of_the_chosen_users_but_not_ones_own(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    ada_id = make_user(ctx, "ada@example.com")
    user = TestClient(client.app, base_url="http://127.0.0.1:8000")
    login_password(user, "ada@example.com")
    with ctx.db.transaction() as db:
        root_id = db.scalar(select(User.id).where(User.email == ROOT))
    done = post(client, "/admin/users/bulk/apply", {"ids": [str(ada_id), str(root_id)], "action": "sign-out"})
    assert "1 user done." in done.text and "You can't sign yourself out from here." in unescape(done.text)  # type: ignore[attr-defined]
    assert count(ctx, WebSession, user_id=ada_id) == 0
    assert client.get("/admin/users").status_code == 200  # still signed in


def test_bulk_refusals_without_users_or_with_an_unknown_action_change_nothing(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    ada_id = make_user(ctx, "ada@example.com")
    for url, data, alert in [
        ("/admin/users/bulk", {"action": "delete"}, "Choose at least one user in the list first."),
        ("/admin/users/bulk", {"ids": ["abc", "-1", "99999"], "action": "delete"}, "Choose at least one user"),
        ("/admin/users/bulk", {"ids": [str(ada_id)], "action": "explode"}, "Choose what to do with the chosen users."),
        ("/admin/users/bulk/apply", {"ids": [str(ada_id)], "action": "explode"}, "Choose what to do"),
        ("/admin/users/bulk/apply", {"ids": ["99999"], "action": "delete", "confirm": "1"}, "Choose at least one user"),
    ]:
        refused = post(client, url, data)
        assert refused.status_code == 422, (url, data)  # type: ignore[attr-defined]
        assert alert in alerts(refused.text)[0], (url, data)  # type: ignore[attr-defined]
    forged = client.post(
        "/admin/users/bulk/apply", data={"ids": [str(ada_id)], "action": "delete", "confirm": "1", "csrf_token": "x"}
    )
    assert forged.status_code == 400 and count(ctx, User, id=ada_id) == 1


def test_the_new_pages_answer_in_every_language_and_keep_the_password_out(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    user_id = make_user(ctx, "ada@example.com")
    for lang in ("en", "pl", "nl", "sv"):
        for path in [
            "/admin",
            "/admin/users",
            "/admin/users/new",
            "/admin/users/invite",
            f"/admin/users/{user_id}",
            "/admin/audit",
        ]:
            page = client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            assert page.status_code == 200, (lang, path)
            assert f'<html lang="{lang}">' in page.text and PASSWORD not in page.text


def test_reloading_the_bulk_confirmation_address_goes_back_to_the_list(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    console(client, ctx, clock)
    back = client.get("/admin/users/bulk", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/admin/users"
