"""Shared by the forward-auth tests through real proxies (tests/forward_auth) and Chromium (tests/browser)."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "forward-auth"
PROTECTED = ("app.example.test", "admin.example.test", "fresh.example.test")


class Echo(BaseHTTPRequestHandler):
    """The protected application: answers every request with the headers it received, as JSON."""

    def _answer(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()} | {"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def echo_server() -> Iterator[int]:
    """The echoing upstream on a free loopback port, stopped afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def filled(snippet: str, replacements: dict[str, str], text: str | None = None) -> str:
    """``docs/forward-auth/<snippet>`` (or ``text`` read from it) with each documented value replaced;
    a value the snippet no longer has fails the test, so the tests never drift from the docs."""
    text = (DOCS / snippet).read_text() if text is None else text
    for old, new in replacements.items():
        assert old in text, f"docs/forward-auth/{snippet} no longer has {old!r}"
        text = text.replace(old, new)
    return text


def nginx_conf(prefix: Path, port: int, instances: list[int], upstream: int, *, snippet: str = "nginx.conf",
               cache: Path | None = None) -> str:
    """``docs/forward-auth/<snippet>`` in a whole nginx configuration; for nginx-cache.conf, the cache
    in ``cache`` (a directory nginx's workers can reach: they run as nobody when the tests run as
    root). How long an answer is kept is twostep's TWOSTEP_FORWARD_AUTH_CACHE_SECONDS."""
    site = (DOCS / snippet).read_text()
    if snippet == "nginx-cache.conf":
        assert cache is not None, "nginx-cache.conf needs a cache directory"
        site = filled(snippet, {"/run/twostep-authz-cache": str(cache)}, site)
    site = filled(snippet, {
        "server 127.0.0.1:9091;": " ".join(f"server 127.0.0.1:{p};" for p in instances),
        "listen 80;": f"listen 127.0.0.1:{port};",
        "server_name auth.example.com;": "server_name auth.example.test;",
        "server_name app.example.com;": f"server_name {' '.join(PROTECTED)};",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
    }, site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{name}_temp_path {prefix}/{name};" for name in kinds)
    return (
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n access_log off;\n {temp}\n{site}\n}}\n"
    )


def caddyfile(port: int, instances: list[int], upstream: int) -> str:
    pool = " ".join(f"127.0.0.1:{p}" for p in instances)
    text = filled("Caddyfile", {
        "auth.example.com {": f"http://auth.example.test:{port} {{",
        "app.example.com {": ", ".join(f"http://{host}:{port}" for host in PROTECTED) + " {",
        "reverse_proxy 127.0.0.1:9091": f"reverse_proxy {pool} {{\n\t\tlb_policy round_robin\n\t}}",
        "forward_auth 127.0.0.1:9091 {": f"forward_auth {pool} {{\n\t\t\tlb_policy round_robin",
        "reverse_proxy 127.0.0.1:8080": f"reverse_proxy 127.0.0.1:{upstream}",
    })
    return f"{{\n\tadmin off\n\tauto_https off\n\thttp_port {port}\n}}\n" + text


def traefik_yml(instances: list[int], upstream: int) -> str:
    return filled("traefik.yml", {
        # Traefik's ForwardAuth has one address: the first instance (nginx and Caddy alternate).
        "http://127.0.0.1:9091/api/authz/forward-auth": f"http://127.0.0.1:{instances[0]}/api/authz/forward-auth",
        "Host(`auth.example.com`)": "Host(`auth.example.test`)",
        "Host(`app.example.com`)": " || ".join(f"Host(`{host}`)" for host in PROTECTED),
        'servers: [{url: "http://127.0.0.1:9091"}]': "servers: ["
        + ", ".join(f'{{url: "http://127.0.0.1:{p}"}}' for p in instances)
        + "]",
        'servers: [{url: "http://127.0.0.1:8080"}]': f'servers: [{{url: "http://127.0.0.1:{upstream}"}}]',
    })


def traefik_instances_yml(instances: list[int], upstream: int, authz: int) -> str:
    return filled("traefik-instances.yml", {
        "http://127.0.0.1:9092/api/authz/forward-auth": f"http://127.0.0.1:{authz}/api/authz/forward-auth",
        "Host(`auth.example.com`)": "Host(`auth.example.test`)",
        "Host(`app.example.com`)": " || ".join(f"Host(`{host}`)" for host in PROTECTED),
        'servers: [{url: "http://127.0.0.1:9091"}, {url: "http://127.0.0.1:9093"}]': "servers: ["
        + ", ".join(f'{{url: "http://127.0.0.1:{p}"}}' for p in instances)
        + "]",
        'servers: [{url: "http://127.0.0.1:8080"}]': f'servers: [{{url: "http://127.0.0.1:{upstream}"}}]',
    })


def traefik_command(config: Path, port: int, authz: int | None = None) -> list[str]:
    """Traefik with the file provider; with ``authz``, also the entry point traefik-instances.yml's
    comment asks for (trusting forwarded headers from this machine only)."""
    command = [binary("traefik"), f"--entryPoints.web.address=127.0.0.1:{port}",
               f"--providers.file.filename={config}", "--log.level=ERROR",
               "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false"]
    if authz is not None:
        command += [f"--entryPoints.twostep-authz.address=127.0.0.1:{authz}",
                    "--entryPoints.twostep-authz.forwardedHeaders.trustedIPs=127.0.0.1/32"]
    return command


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed (`make test` installs it: scripts/system-packages.sh, pyproject dev)")
    return found
