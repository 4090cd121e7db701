"""``/admin/oidc``: an administrator registers an application, edits its redirect URIs, rotates its
secret and deletes it, each change audited and effective at once; the console's gate applies."""

from __future__ import annotations

import json
import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin.test_admin import reauthenticate, signed_in
from tests.oidc_helpers import (
    Rp,
    authorize_to_code,
    authorize_url,
    exchange,
    id_token_claims,
    pkce,
    query_of,
    register,
)
from tests.support import alerts, csrf_of, make_user
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context, RequestInfo
from twostep.services.oidc import clients, redirect_check, verified_email
from twostep.storage.models import AuditEvent, User


def _secret_on(html: str) -> str:
    match = re.search(r'id="new-secret"[^>]*value="([^"]+)"', html)
    assert match, "no secret shown"
    return match.group(1)


def test_admin_registers_edits_rotates_and_deletes_an_application(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, "root@example.com", is_admin=True)
    page = client.get("/admin/oidc")
    assert page.status_code == 200
    forged = client.post("/admin/oidc", data={"name": "Wiki", "redirect_uris": "https://w.example/cb",
                                             "csrf_token": "forged"})
    assert forged.status_code == 400 and not clients.list_clients(ctx)
    bad = client.post("/admin/oidc", data={"name": "Wiki", "redirect_uris": "https://w.example/*",
                                          "csrf_token": csrf_of(page.text)})
    assert bad.status_code == 422 and alerts(bad.text) and not clients.list_clients(ctx)
    created = client.post("/admin/oidc", data={
        "name": "Wiki", "redirect_uris": "https://w.example/cb ", "post_logout_uris": "https://w.example/",
        "csrf_token": csrf_of(page.text)})
    assert created.status_code == 200, alerts(created.text)
    secret = _secret_on(created.text)
    (info,) = clients.list_clients(ctx)
    assert info.redirect_uris == ["https://w.example/cb"] and info.post_logout_uris == ["https://w.example/"]
    assert secret not in client.get("/admin/oidc").text  # shown once only
    # Effective at once: the new URI is accepted by /oauth2/authorize without a restart.
    saved = client.post(f"/admin/oidc/{info.client_id}/uris", data={
        "redirect_uris": "https://w.example/cb https://w.example/other", "csrf_token": csrf_of(page.text)})
    assert saved.status_code == 200
    rp = Rp(info.client_id, secret, redirect_uri="https://w.example/other")
    answer = client.get(authorize_url(rp, challenge=pkce()[1]), follow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"].startswith("https://w.example/other?code=")
    rotated = client.post(f"/admin/oidc/{info.client_id}/rotate-secret", data={"csrf_token": csrf_of(page.text)})
    new_secret = _secret_on(rotated.text)
    with ctx.db.transaction() as db:
        row = clients.find(db, info.client_id)
        assert row is not None and clients.secret_matches(ctx, row, new_secret)
        assert not clients.secret_matches(ctx, row, secret)
    deleted = client.post(f"/admin/oidc/{info.client_id}/delete", data={"csrf_token": csrf_of(page.text)})
    assert deleted.status_code == 200 and not clients.list_clients(ctx)
    with ctx.db.transaction() as db:
        seen = set(db.scalars(select(AuditEvent.event).where(AuditEvent.event.like("oidc_client_%"))))
        actors = set(db.scalars(select(AuditEvent.actor_id).where(AuditEvent.event.like("oidc_client_%"))))
    assert seen == {"oidc_client_created", "oidc_client_updated", "oidc_client_secret_rotated", "oidc_client_deleted"}
    assert None not in actors


def test_application_changes_need_a_fresh_reauthentication(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = signed_in(client, ctx, clock, "root@example.com", is_admin=True)
    page = client.get("/admin/oidc")
    clock.advance(minutes=6)
    stale = client.post("/admin/oidc", data={"name": "Wiki", "redirect_uris": "https://w.example/cb",
                                            "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")
    assert not clients.list_clients(ctx)
    reauthenticate(client, secret, clock, "/admin/oidc")
    page = client.get("/admin/oidc")
    done = client.post("/admin/oidc", data={"name": "Wiki", "redirect_uris": "https://w.example/cb",
                                           "csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and len(clients.list_clients(ctx)) == 1


def _report(html: str) -> list[tuple[str, str]]:
    """(level, text) of each line of the "Test this redirect URI" result."""
    return [(level, unescape(re.sub(r"<[^>]+>", "", text)).strip())
            for level, text in re.findall(r'data-level="(\w+)">(.*?)</li>', html, re.DOTALL)]


def test_test_this_redirect_uri_names_the_mismatch_and_is_audited(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, "root@example.com", is_admin=True)
    created = clients.create(ctx, "Wiki", ["https://w.example/cb", "http://127.0.0.1:8123/cb"])
    client_id = created.info.client_id
    page = client.get("/admin/oidc")
    forged = client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                         data={"uri": "https://w.example/cb/", "csrf_token": "forged"})
    assert forged.status_code == 400 and not _report(forged.text)
    slash = client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                        data={"uri": "https://w.example/cb/", "csrf_token": csrf_of(page.text)})
    lines = _report(slash.text)
    assert slash.status_code == 200 and lines[0][0] == "fail" and "Not registered" in lines[0][1]
    assert lines[1][0] == "info" and "https://w.example/cb" in lines[1][1] and "a trailing /" in lines[1][1]
    assert ("ok", "OK: Uses https.") in lines
    assert lines[-1] == ("info", "Note: Reachability is tested only for registered addresses.")
    plain = _report(client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                                data={"uri": "http://w.example/cb", "csrf_token": csrf_of(page.text)}).text)
    assert any(level == "info" and "the scheme" in text and "the port" not in text for level, text in plain)
    assert any(level == "warn" and "unencrypted" in text for level, text in plain)
    port = _report(client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                               data={"uri": "https://w.example:443/cb", "csrf_token": csrf_of(page.text)}).text)
    assert any("writes the default port out" in text for _, text in port)
    loopback = _report(client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                                   data={"uri": "http://127.0.0.1:8123/cb", "csrf_token": csrf_of(page.text)}).text)
    assert loopback[0][0] == "ok" and "exactly" in loopback[0][1]
    assert any(level == "ok" and "loopback" in text for level, text in loopback)
    assert any(level == "info" and "not tested" in text.lower() and "own computer" in text for level, text in loopback)
    wildcard = _report(client.post(f"/admin/oidc/{client_id}/test-redirect-uri",
                                   data={"uri": "https://*.example/cb", "csrf_token": csrf_of(page.text)}).text)
    assert [level for level, _ in wildcard] == ["fail"] and "wildcard" in wildcard[0][1]
    unknown = client.post("/admin/oidc/nope/test-redirect-uri", data={"uri": "https://w.example/cb",
                                                                       "csrf_token": csrf_of(page.text)})
    assert unknown.status_code == 404 and alerts(unknown.text)
    with ctx.db.transaction() as db:
        tested = list(db.scalars(select(AuditEvent).where(AuditEvent.event == "oidc_redirect_uri_tested")))
    assert len(tested) == 5 and all(event.actor_id is not None for event in tested)
    assert [json.loads(event.detail)["registered"] for event in tested] == [False, False, False, True, False]


def test_test_this_redirect_uri_probes_only_registered_addresses(ctx: Context) -> None:
    created = clients.create(ctx, "Wiki", ["https://w.example/cb"])
    probed: list[tuple[str, int, bool]] = []

    def fake(host: str, port: int, tls: bool) -> redirect_check.Reach:
        probed.append((host, port, tls))
        return redirect_check.Reach("refused", address="192.0.2.7", detail="Connection refused")

    for uri in ("https://w.example/cb/", "https://internal.example:8443/admin", "https://w.example/cb"):
        report = redirect_check.check(ctx, created.info.client_id, uri, actor_id=None, request=RequestInfo(),
                                      reach=fake)
    assert probed == [("w.example", 443, True)]
    assert report.registered and [f.code for f in report.findings][-2:] == ["reach_refused", "reach_note"]


def test_claims_in_userinfo_only_switch_keeps_claims_out_of_the_id_token(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    secret = signed_in(client, ctx, clock, "root@example.com", is_admin=True)
    rp = register(ctx)
    page = client.get("/admin/oidc")
    assert 'name="claims_in_userinfo_only"' in page.text
    saved = client.post(f"/admin/oidc/{rp.client_id}/settings",
                        data={"claims_in_userinfo_only": "1", "csrf_token": csrf_of(page.text)})
    assert saved.status_code == 200 and clients.show(ctx, rp.client_id).claims_in_userinfo_only
    assert re.search(rf'data-client-id="{rp.client_id}".*?name="claims_in_userinfo_only"[^>]*checked', saved.text,
                     re.DOTALL)
    verifier, challenge = pkce()
    location = authorize_to_code(client, authorize_url(rp, challenge=challenge), "root@example.com", secret, clock)
    body = exchange(client, rp, query_of(location)["code"], verifier).json()
    claims = id_token_claims(client, body["id_token"])[1]
    assert "email" not in claims and "groups" not in claims and claims["amr"] == ["pwd", "otp", "mfa"]
    info = client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert info["email"] == "root@example.com" and info["groups"] == ["admin"] and info["sub"] == claims["sub"]
    clock.advance(minutes=6)
    stale = client.post(f"/admin/oidc/{rp.client_id}/settings", data={"csrf_token": csrf_of(page.text)},
                        follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/account/reauth")
    assert clients.show(ctx, rp.client_id).claims_in_userinfo_only  # unchanged without a fresh re-auth
    reauthenticate(client, secret, clock, "/admin/oidc")
    page = client.get("/admin/oidc")
    client.post(f"/admin/oidc/{rp.client_id}/settings", data={"csrf_token": csrf_of(page.text)})
    assert not clients.show(ctx, rp.client_id).claims_in_userinfo_only
    with ctx.db.transaction() as db:
        changes = [json.loads(event.detail).get("claims_in_userinfo_only") for event in db.scalars(
            select(AuditEvent).where(AuditEvent.event == "oidc_client_updated").order_by(AuditEvent.id))]
    assert changes == [True, False]


def test_admin_marks_an_email_address_verified_for_applications(
    client: TestClient, ctx: Context, clock: FrozenClock
) -> None:
    signed_in(client, ctx, clock, "root@example.com", is_admin=True)
    user_id = make_user(ctx, "ada@example.com")  # imported-like: no code ever went to the address
    page = client.get(f"/admin/users/{user_id}")
    assert re.search(r'id="email-verified">No<', page.text) and f"/admin/users/{user_id}/verify-email" in page.text
    forged = client.post(f"/admin/users/{user_id}/verify-email", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None and verified_email.verified_since(db, user) is None
    done = client.post(f"/admin/users/{user_id}/verify-email", data={"csrf_token": csrf_of(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?notice=email_verified")
    shown = client.get(done.headers["location"])
    assert 'id="email-verified">Yes, since' in shown.text and "/verify-email" not in shown.text
    with ctx.db.transaction() as db:
        user = db.get(User, user_id)
        assert user is not None and verified_email.proven(db, user)
        event = db.scalars(select(AuditEvent).where(AuditEvent.event == "user_updated",
                                                    AuditEvent.user_id == user_id)).one()
    assert json.loads(event.detail)["action"] == "email_verified" and event.actor_id is not None
