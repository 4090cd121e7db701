"""A software authenticator for tests: real WebAuthn registration and assertion responses (an ES256
key from ``cryptography``, authenticatorData and clientDataJSON built here, attestation ``none``),
with knobs to make them wrong the ways an attacker or a broken authenticator would: another origin,
another RP ID, no user verification, a counter that goes backwards.

And the HTTP steps a browser's passkey script takes (``static/passkey.js``), for the HTTP tests.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from httpx import Response

from tests.support import csrf_of

RP_ID = "localhost"
ORIGIN = "http://localhost:8000"
BASE_URL = "http://localhost:8000"
GOOGLE_PASSWORD_MANAGER = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One passkey on a software authenticator. ``synced``: backup eligible and backed up (BE, BS),
    and no signature counter (always 0), as synced passkeys behave."""

    aaguid: str = "00000000-0000-0000-0000-000000000000"
    synced: bool = False
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    user_handle: bytes = b""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, *, uv: bool, count: int, attested: bytes = b"") -> bytes:
        flags = 0x01 | (0x04 if uv else 0) | (0x18 if self.synced else 0) | (0x40 if attested else 0)
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + count.to_bytes(4, "big") + attested

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(
        self, options: dict[str, Any], *, origin: str = ORIGIN, rp_id: str | None = None, uv: bool = True
    ) -> dict[str, Any]:
        """``navigator.credentials.create()``'s answer to ``options`` (as the server sent them)."""
        self.user_handle = unb64url(options["user"]["id"])
        aaguid = bytes.fromhex(self.aaguid.replace("-", ""))
        attested = aaguid + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_key()
        auth_data = self._auth_data(rp_id or options["rp"]["id"], uv=uv, count=0, attested=attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        uv: bool = True,
        count: int | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get()``'s answer: signed, the counter raised (unless ``synced``)."""
        if count is None:
            if not self.synced:
                self.sign_count += 1
            count = self.sign_count
        auth_data = self._auth_data(rp_id or options["rpId"], uv=uv, count=count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle) if self.user_handle else None,
            },
        }


# --- the script's HTTP steps --------------------------------------------------------------------


def ceremony(client: TestClient, path: str, body: dict[str, Any], csrf: str) -> Response:
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})


def register_passkey(
    client: TestClient, authenticator: SoftAuthenticator, name: str = "", *, page_path: str = "/enroll/passkey",
    origin: str = ORIGIN,
) -> Response:
    """What /enroll/passkey does with JavaScript: options, create, verify, then the form. Returns the
    form's answer (the enrolled page)."""
    page = client.get(page_path)
    assert page.status_code == 200 and page.url.path == "/enroll/passkey", (page.url, page.status_code)
    csrf = csrf_of(page.text)
    options = ceremony(client, "/webauthn/register/options", {}, csrf)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json(), origin=origin)
    verified = ceremony(client, "/webauthn/register/verify", {"credential": credential}, csrf)
    assert verified.status_code == 200, verified.text
    return client.post("/enroll/passkey", data={"name": name, "csrf_token": csrf})


def options_for(client: TestClient, purpose: str, csrf: str) -> dict[str, Any]:
    answer = ceremony(client, "/webauthn/authenticate/options", {"purpose": purpose}, csrf)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def sign_in_with_passkey(
    client: TestClient, authenticator: SoftAuthenticator, *, purpose: str = "sign_in", page_path: str = "/login",
    **knobs: Any,
) -> Response:
    """The script on ``page_path``: options for ``purpose``, the authenticator's answer, verify (with
    the page's ``data-next``, as the script sends it)."""
    page = client.get(page_path)
    csrf = csrf_of(page.text)
    found = re.search(r'data-next="([^"]*)"', page.text)
    options = options_for(client, purpose, csrf)
    credential = authenticator.get(options, **knobs)
    body = {"purpose": purpose, "credential": credential, "next": html.unescape(found.group(1)) if found else ""}
    return ceremony(client, "/webauthn/authenticate/verify", body, csrf)
