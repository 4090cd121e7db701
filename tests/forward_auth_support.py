"""Shared by the forward-auth tests through real proxies (tests/forward_auth) and Chromium (tests/browser)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


def nginx_conf(prefix: Path, port: int, instances: list[int], upstream: int, *, snippet: str = "nginx.conf",
               cache: Path | None = None) -> str:
    """``docs/forward-auth/<snippet>`` in a whole nginx configuration; for nginx-cache.conf, the cache
    in ``cache`` (a directory nginx's workers can reach: they run as nobody when the tests run as
    root). How long an answer is kept is twostep's TWOSTEP_FORWARD_AUTH_CACHE_SECONDS."""
    site = (DOCS / snippet).read_text()
    if snippet == "nginx-cache.conf":
        assert cache is not None, "nginx-cache.conf needs a cache directory"
        for old, new in {"/run/twostep-authz-cache": str(cache)}.items():
            assert old in site, f"docs/forward-auth/{snippet} no longer has {old!r}"
            site = site.replace(old, new)
    replacements = {
        "server 127.0.0.1:9091;": " ".join(f"server 127.0.0.1:{p};" for p in instances),
        "listen 80;": f"listen 127.0.0.1:{port};",
        "server_name auth.example.com;": "server_name auth.example.test;",
        "server_name app.example.com;": f"server_name {' '.join(PROTECTED)};",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
    }
    for old, new in replacements.items():
        assert old in site, f"docs/forward-auth/{snippet} no longer has {old!r}"
        site = site.replace(old, new)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = " ".join(f"{name}_temp_path {prefix}/{name};" for name in kinds)
    return (
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\n access_log off;\n {temp}\n{site}\n}}\n"
    )
