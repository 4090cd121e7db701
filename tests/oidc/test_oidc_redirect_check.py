""""Test this redirect URI" (services.oidc.redirect_check): the exact-match analysis, and the probe's
limits — real sockets on loopback (``allow_loopback`` lets the tests probe their own servers), a
bounded time even when the name lookup hangs, and never a connection to a loopback, link-local or
metadata address."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.operations.test_behind_nginx import self_signed
from twostep.services.oidc.redirect_check import analyse, probe

REGISTERED = ["https://app.example.org/oauth/callback", "http://127.0.0.1:8400/cb"]


def codes(uri: str) -> list[str]:
    return [finding.code for finding in analyse(uri, REGISTERED)[1]]


def closest_parts(uri: str) -> list[str]:
    closest = next(f for f in analyse(uri, REGISTERED)[1] if f.code == "closest")
    return closest.params["parts"].split()


def test_an_exactly_registered_address_passes() -> None:
    assert analyse("https://app.example.org/oauth/callback", REGISTERED)[0] is True
    assert codes(REGISTERED[0]) == ["registered", "https"]
    assert codes(REGISTERED[1]) == ["registered", "http_loopback"]


def test_a_mismatch_names_the_closest_address_and_the_part_that_differs() -> None:
    assert closest_parts("https://app.example.org/oauth/callback/") == ["part_path_slash"]
    assert closest_parts("https://app.example.org:443/oauth/callback") == ["part_port_default"]
    assert closest_parts("https://app.example.org:8443/oauth/callback") == ["part_port"]
    assert closest_parts("https://App.Example.org/oauth/callback") == ["part_host_case"]
    assert closest_parts("https://app.example.org/OAuth/callback") == ["part_path_case"]
    assert closest_parts("https://app.example.org/oauth/callback?x=1") == ["part_query"]
    assert closest_parts("http://app.example.org/oauth/callback") == ["part_scheme"]
    assert closest_parts("https://wiki.example.org/oauth/callback") == ["part_host"]
    assert closest_parts("http://127.0.0.1:8401/cb") == ["part_port"]  # the closest of the two
    assert codes("https://app.example.org/oauth/callback/")[0] == "not_registered"


def test_plain_http_is_a_warning_except_on_loopback() -> None:
    levels = {f.code: f.level for f in analyse("http://wiki.example.org/cb", REGISTERED)[1]}
    assert levels["http_plain"] == "warn"
    for uri in ("http://localhost:9/cb", "http://[::1]:9/cb", "http://127.0.0.2/cb"):
        assert "http_loopback" in codes(uri), uri


def test_what_can_never_be_a_redirect_uri_is_a_problem() -> None:
    assert codes("https://*.example.org/cb") == ["uri_wildcard"]
    assert codes("https://app.example.org/cb#x") == ["uri_fragment"]
    assert codes("myapp://callback") == ["uri_invalid"]
    assert analyse("javascript:alert(1)", REGISTERED)[1][0].level == "fail"


@contextmanager
def tcp_server(*, tls: Path | None = None, handshake: bool = True) -> Iterator[int]:
    """A loopback listener; with ``tls`` (a directory for a self-signed localhost certificate) it
    completes TLS handshakes, unless ``handshake`` is False (it accepts and then says nothing)."""
    listener = socket.create_server(("127.0.0.1", 0))
    context = None
    if tls is not None:
        cert, key = self_signed(tls)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)
            if context is not None and handshake:
                try:
                    conn.settimeout(2)
                    context.wrap_socket(conn, server_side=True).close()
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def test_probe_connects_and_reports_the_address() -> None:
    with tcp_server() as port:
        reach = probe("app.test", port, False, resolver=loopback, allow_loopback=True)
    assert reach.outcome == "ok" and reach.address == "127.0.0.1"


def test_probe_reports_nothing_listening_as_refused() -> None:
    with tcp_server() as port:
        pass  # closed again: nothing listens on this port now
    reach = probe("app.test", port, False, resolver=loopback, allow_loopback=True)
    assert reach.outcome == "refused" and reach.detail


def test_probe_checks_the_certificate_for_the_name(tmp_path: Path) -> None:
    with tcp_server(tls=tmp_path) as port:
        reach = probe("app.test", port, True, resolver=loopback, allow_loopback=True)
    assert reach.outcome == "tls" and "certificate" in reach.detail.lower()


def test_probe_gives_up_on_a_server_that_never_answers_the_handshake(tmp_path: Path) -> None:
    with tcp_server(tls=tmp_path, handshake=False) as port:
        started = time.monotonic()
        reach = probe("app.test", port, True, seconds=0.5, resolver=loopback, allow_loopback=True)
        elapsed = time.monotonic() - started
    assert reach.outcome == "timeout" and elapsed < 4  # near its limit (a busy machine), not TCP's minutes


def test_probe_gives_up_when_the_name_lookup_hangs() -> None:
    def hanging(host: str, port: int) -> list[str]:
        time.sleep(20)
        return ["192.0.2.1"]

    started = time.monotonic()
    reach = probe("slow.example", 443, True, seconds=0.3, resolver=hanging)
    assert reach.outcome == "timeout" and time.monotonic() - started < 4  # not the 20 s of the lookup


def test_probe_never_connects_to_loopback_link_local_or_metadata_addresses() -> None:
    def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
        return lambda host, port: list(addresses)

    with tcp_server() as port:  # listening: a connection would succeed, were one made
        assert probe("app.test", port, False, resolver=resolving_to("127.0.0.1")).outcome == "loopback"
        assert probe("localhost", port, False).outcome == "loopback"
    assert probe("meta.test", 80, False, resolver=resolving_to("169.254.169.254")).outcome == "not_routable"
    assert probe("v6.test", 80, False, resolver=resolving_to("fe80::1")).outcome == "not_routable"
    assert probe("mapped.test", 80, False, resolver=resolving_to("::ffff:127.0.0.1")).outcome == "loopback"
    # One bad address among good ones: the name is not probed at all (no picking the safe one).
    assert probe("mixed.test", 80, False, resolver=resolving_to("192.0.2.1", "169.254.169.254")).outcome == (
        "not_routable"
    )


def test_probe_reports_a_name_that_does_not_resolve() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert probe("nowhere.invalid", 443, True, resolver=failing).outcome == "no_dns"
