"""``/admin/oidc``: an administrator registers an application, edits its redirect URIs, rotates its
secret and deletes it, each change audited and effective at once; the console's gate applies."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin.test_admin import reauthenticate, signed_in
from tests.oidc_helpers import Rp, authorize_url, pkce
from tests.support import alerts, csrf_of
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.oidc import clients
from twostep.storage.models import AuditEvent


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
