"""The production notes work: Debian's nginx with the documented TLS configuration (docs/deploy/) in
front of `twostep serve`, on loopback with a self-signed certificate; a user signs in through it."""

from __future__ import annotations

import csv
import datetime
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
NGINX_DOC = ROOT / "docs" / "deploy" / "nginx-twostep.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PASSWORD = "violet staple meadow 42"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], **client: object) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"process for {url} exited with {process.returncode}"
        try:
            httpx.get(url, timeout=1, **client)  # type: ignore[arg-type]
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def documented_site(https_port: int, http_port: int, upstream: int, cert: Path, key: Path) -> str:
    """The documented server blocks, with only the host name, ports and certificate paths replaced."""
    text = NGINX_DOC.read_text()
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/letsencrypt/live/auth.example.org/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/auth.example.org/privkey.pem": str(key),
        "http://127.0.0.1:8000": f"http://127.0.0.1:{upstream}",
        "auth.example.org": "localhost",
    }
    for old, new in replacements.items():
        assert old in text, f"the documented nginx configuration no longer has {old!r}"
        text = text.replace(old, new)
    return text.replace("https://$host$request_uri", f"https://$host:{https_port}$request_uri")


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[str, int]]:
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed: `make test` installs Debian's nginx-light")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    https_port, http_port, upstream = free_port(), free_port(), free_port()
    env |= {
        "TWOSTEP_DATA_DIR": str(tmp_path / "data"),
        "TWOSTEP_BASE_URL": f"https://localhost:{https_port}",
    }
    users = tmp_path / "users.csv"
    with users.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "password_hash", "totp_secret"])
        writer.writerow(["ada@example.com", PasswordHasher().hash(PASSWORD), SECRET])
    twostep = [sys.executable, "-m", "twostep.cli"]
    subprocess.run([*twostep, "migrate"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*twostep, "user", "import", str(users)], env=env, check=True, capture_output=True, timeout=60)
    server = subprocess.Popen([*twostep, "serve", "--port", str(upstream)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    cert, key = self_signed(tmp_path)
    (prefix / "nginx.conf").write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        + documented_site(https_port, http_port, upstream, cert, key)
        + "\n}\n"
    )
    proxy = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(f"http://127.0.0.1:{upstream}/healthz", server)
        wait_for(f"https://localhost:{https_port}/healthz", proxy, verify=False)
        yield f"https://localhost:{https_port}", http_port
    finally:
        for process in (proxy, server):
            process.terminate()
            process.wait(timeout=10)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_a_user_signs_in_through_the_documented_nginx_tls_front(behind_nginx: tuple[str, int]) -> None:
    with httpx.Client(base_url=behind_nginx[0], verify=False, follow_redirects=False) as browser:  # noqa: S501
        page = browser.get("/login")
        assert page.status_code == 200 and "max-age" in page.headers["strict-transport-security"]
        password = browser.post(
            "/login", data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": csrf(page.text)}
        )
        assert password.status_code == 303 and password.headers["location"].startswith("/login/code")
        session_cookies = [c for c in password.headers.get_list("set-cookie") if "session" in c]
        assert session_cookies and all(
            c.startswith("__Host-") and "Secure" in c and "HttpOnly" in c for c in session_cookies
        ), session_cookies
        code_page = browser.get("/login/code")
        done = browser.post(
            "/login/code", data={"code": pyotp.TOTP(SECRET).now(), "csrf_token": csrf(code_page.text)}
        )
        assert done.status_code == 303 and done.headers["location"] == "/account"
        account = browser.get("/account")
        assert account.status_code == 200 and "ada@example.com" in account.text
        for response in (password, done):
            assert not response.headers["location"].startswith("http:")


def test_plain_http_is_sent_to_https(behind_nginx: tuple[str, int]) -> None:
    https_url, http_port = behind_nginx
    response = httpx.get(f"http://localhost:{http_port}/login?lang=pl", follow_redirects=False)
    assert response.status_code == 301 and response.headers["location"] == f"{https_url}/login?lang=pl"
