"""``twostep oidc client ...`` and ``twostep oidc rotate-keys`` (issue 16), in this process."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.cli_support import Ran, in_process_cli
from twostep.domain.clock import FrozenClock
from twostep.services.core.context import Context
from twostep.services.oidc import clients, keys
from twostep.settings import Settings
from twostep.storage.models import AuditEvent, OidcClient, OidcSigningKey


@pytest.fixture
def twostep(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    return in_process_cli(settings, monkeypatch, capsys, key_in_environment=True)


def test_cli_oidc_client_create_prints_the_secret_once(twostep: Callable[..., Ran], ctx: Context) -> None:
    ran = twostep("oidc", "client", "create", "Wiki", "--redirect-uri", "https://wiki.example/cb",
                  "--post-logout-uri", "https://wiki.example/")
    assert ran.returncode == 0, ran.stderr
    fields = dict(line.split(":", 1) for line in ran.stdout.splitlines())
    client_id, secret = fields["client_id"].strip(), fields["client_secret"].strip()
    with ctx.db.transaction() as db:
        row = db.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).one()
        assert secret not in (row.secret_digest or "") and clients.secret_matches(ctx, row, secret)
        assert db.scalars(select(AuditEvent.event).where(AuditEvent.event == "oidc_client_created")).all()
    shown = twostep("oidc", "client", "show", client_id)
    assert "https://wiki.example/cb" in shown.stdout and secret not in shown.stdout
    assert secret not in twostep("oidc", "client", "list", "--json").stdout
    assert json.loads(twostep("oidc", "client", "list", "--json").stdout.splitlines()[0])["client_id"] == client_id
    rotated = twostep("oidc", "client", "rotate-secret", client_id)
    assert rotated.returncode == 0 and rotated.stdout.strip() != secret
    with ctx.db.transaction() as db:
        row = db.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).one()
        assert not clients.secret_matches(ctx, row, secret)
        assert clients.secret_matches(ctx, row, rotated.stdout.strip())
    assert twostep("oidc", "client", "delete", client_id).returncode == 0
    missing = twostep("oidc", "client", "show", client_id)
    assert missing.returncode == 1 and "no OIDC client" in missing.stderr


def test_cli_oidc_public_client_has_no_secret(twostep: Callable[..., Ran]) -> None:
    ran = twostep("oidc", "client", "create", "SPA", "--redirect-uri", "http://localhost:5173/cb", "--public")
    assert ran.returncode == 0 and "client_secret:" not in ran.stdout and "public" in ran.stdout


@pytest.mark.parametrize(
    "uri", ["https://wiki.example/*", "https://wiki.example/cb#frag", "wiki.example/cb", "javascript:alert(1)"]
)
def test_cli_oidc_refuses_unsafe_redirect_uris(twostep: Callable[..., Ran], uri: str) -> None:
    ran = twostep("oidc", "client", "create", "Bad", "--redirect-uri", uri)
    assert ran.returncode == 1 and ran.stderr.startswith("error: ") and "Traceback" not in ran.stderr


def test_cli_oidc_rotate_keys_keeps_the_old_key_published(
    twostep: Callable[..., Ran], ctx: Context, clock: FrozenClock
) -> None:
    """The CLI is another instance: this one switches to the new key within ``CURRENT_KEY_SECONDS``,
    and signs with the old one until then — still published, so its tokens stay verifiable."""
    with ctx.db.transaction() as db:
        old = keys.current(ctx, db).kid
    ran = twostep("oidc", "rotate-keys")
    assert ran.returncode == 0, ran.stderr
    with ctx.db.transaction() as db:
        published = {key["kid"] for key in keys.jwks(ctx, db)["keys"]}
        assert keys.current(ctx, db).kid == old
    clock.advance(seconds=keys.CURRENT_KEY_SECONDS + 1)
    with ctx.db.transaction() as db:
        current = keys.current(ctx, db).kid
        sealed = db.get(OidcSigningKey, current)
        assert sealed is not None and b'"d"' not in sealed.private_sealed
    assert current != old and published == {old, current}
