"""Real relying parties on loopback, for the OpenID Connect tests over HTTP (tests/oidc) and in
Chromium (tests/browser): Apache with mod_auth_openidc, configured with the block docs/oidc.md
documents, and openid-client 6 (tests/oidc/oidc_rp.mjs, a small Node server)."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.operations.test_behind_nginx import wait_for

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Provider:
    """twostep as the relying parties see it: its issuer (``base``) and, for a ``twostep serve``
    subprocess, the environment its CLI commands need."""

    base: str
    env: dict[str, str]


@dataclass
class NodeRp:
    """The openid-client 6 relying party: ``/login`` starts a sign-in, ``/callback`` shows the claims
    (after userinfo and one refresh), ``/logout`` goes to the end-session endpoint, ``/signed-out``."""

    base: str
    redirect_uri: str
    post_logout_uri: str


def node_rp_addresses(port: int) -> NodeRp:
    base = f"http://127.0.0.1:{port}"
    return NodeRp(base, f"{base}/callback", f"{base}/signed-out")


@contextmanager
def node_rp(issuer: str, client: tuple[str, str], port: int) -> Iterator[NodeRp]:
    """tests/oidc/oidc_rp.mjs on 127.0.0.1:``port``, for ``client`` (id, secret) registered with
    ``node_rp_addresses(port)``; stopped afterwards."""
    node = shutil.which("node")
    assert node, "Node.js is needed (the browser tests' axe-core uses it too)"
    assert (ROOT / "node_modules" / "openid-client").exists(), "run `npm ci` (package.json lists openid-client)"
    addresses = node_rp_addresses(port)
    rp = subprocess.Popen(
        [node, str(ROOT / "tests" / "oidc" / "oidc_rp.mjs")],
        env={**os.environ, "ISSUER": issuer, "CLIENT_ID": client[0], "CLIENT_SECRET": client[1], "PORT": str(port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for(addresses.post_logout_uri, rp)
        yield addresses
    finally:
        rp.terminate()
        rp.wait(timeout=30)


APACHE_MODULES = Path("/usr/lib/apache2/modules")


def documented_apache_block() -> str:
    """The ```apache block of docs/oidc.md, as an administrator would copy it."""
    text = (ROOT / "docs" / "oidc.md").read_text()
    section = text[text.index("## Example: Apache with mod_auth_openidc"):]
    found = re.search(r"```apache\n(.*?)```", section, re.DOTALL)
    assert found, "docs/oidc.md has no ```apache block under 'Example: Apache with mod_auth_openidc'"
    return found.group(1)


def apache_conf(
    root: Path, port: int, provider: Provider, client: tuple[str, str], upstream: int, *, extra: str = ""
) -> str:
    """A whole httpd.conf of the test's own: the documented block with only the addresses, the client
    and the passphrase replaced, in a server with its own ServerRoot on a loopback port; ``extra``:
    directives added after the block."""
    site = documented_apache_block()
    replacements = {
        "https://auth.example.org": provider.base,
        "https://app.example.org": f"http://127.0.0.1:{port}",
        "<client_id>": client[0],
        "<client_secret>": client[1],
        "<a long random string>": secrets.token_urlsafe(32),
        "http://127.0.0.1:8080": f"http://127.0.0.1:{upstream}",
    }
    for old, new in replacements.items():
        assert old in site, f"the Apache block of docs/oidc.md no longer has {old!r}"
        site = site.replace(old, new)
    modules = ("mpm_event", "authn_core", "authz_core", "authz_user", "proxy", "proxy_http", "auth_openidc")
    loads = "\n".join(f"LoadModule {name}_module {APACHE_MODULES}/mod_{name}.so" for name in modules)
    # Apache refuses to serve as root: as root (CI, containers) its workers run as an unprivileged user.
    run_as = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    return (
        f'ServerRoot "{root}"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n'
        f"PidFile {root}/httpd.pid\nDefaultRuntimeDir {root}\nErrorLog {root}/error.log\nLogLevel warn\n"
        f"{loads}\n{run_as}"
        "StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n"
        "MinSpareThreads 1\nMaxSpareThreads 16\n"
        # The application's own pages outside /protected (the post-logout page): the same echo.
        f"ProxyPass / http://127.0.0.1:{upstream}/\n"
        f"{site}{extra}"
    )


@contextmanager
def apache(root: Path, conf: str, port: int) -> Iterator[None]:
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    assert Path(binary).exists() and (APACHE_MODULES / "mod_auth_openidc.so").exists(), (
        "Apache with mod_auth_openidc is needed: `make test` installs apache2 and libapache2-mod-auth-openidc"
    )
    root.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, pwd.getpwnam("www-data").pw_uid)
    (root / "httpd.conf").write_text(conf)
    checked = subprocess.run([binary, "-d", str(root), "-f", str(root / "httpd.conf"), "-t"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen([binary, "-d", str(root), "-f", str(root / "httpd.conf"), "-DFOREGROUND"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_for(f"http://127.0.0.1:{port}/up", server)
        except AssertionError:
            raise AssertionError((root / "error.log").read_text()[-3000:]) from None
        yield
    finally:
        server.terminate()  # SIGTERM: the parent stops its workers and exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


