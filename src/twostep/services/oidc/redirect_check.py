""""Test this redirect URI" (``/admin/oidc``): what an administrator needs when an application
reports a redirect-URI mismatch, the commonest OpenID Connect set-up error.

For the address the application sends, the report says:

1. whether it is a redirect URI at all (absolute http(s), no fragment, no wildcard);
2. whether it is registered for the client **exactly** — and if not, which registered address is
   closest and in which part it differs (scheme, host, port, path — a trailing ``/`` is named —,
   query), since that is what an "invalid redirect_uri" error never tells;
3. the transport: https; plain http only on a loopback address (RFC 8252 §7.3, RFC 9700 §2.1);
4. reachability, for a **registered** address only (never an arbitrary one typed into the form):
   the name is resolved and a TCP connection opened from this server — with TLS the certificate is
   checked for the name — and nothing else is sent: no HTTP request, so the probe cannot be used to
   make the server talk to anything. Loopback, link-local, multicast and unspecified addresses are
   never probed (a loopback redirect goes to the user's own computer, and link-local is where cloud
   metadata services live). The whole probe, name lookup included, ends after ``PROBE_SECONDS``.

It is the users' browsers, not this server, that follow the redirect, so an address only reachable
from their network can fail the probe and still work; the page says so.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from twostep.services.core import audit
from twostep.services.core.context import Context, RequestInfo
from twostep.services.oidc import clients
from twostep.storage.models import User

PROBE_SECONDS = 3.0
Level = Literal["ok", "warn", "fail", "info"]
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``code`` names the message (web.core.messages.OIDC_REDIRECT_TEXT)."""

    level: Level
    code: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reach:
    """What the probe saw. ``outcome``: ok, no_dns, refused, timeout, tls, loopback, not_routable."""

    outcome: str
    address: str = ""
    millis: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Report:
    uri: str
    registered: bool
    findings: list[Finding]


Resolver = Callable[[str, int], list[str]]
Probe = Callable[[str, int, bool], Reach]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _within(seconds: float, work: Callable[[], list[str]]) -> list[str] | None:
    """``work()`` in a daemon thread; None when it has not finished after ``seconds`` (the system's
    name lookup has no timeout of its own; a late answer is dropped)."""
    result: list[list[str] | BaseException] = []
    thread = threading.Thread(target=lambda: result.append(_catch(work)), daemon=True)
    thread.start()
    thread.join(seconds)
    if not result:
        return None
    found = result[0]
    if isinstance(found, BaseException):
        raise found
    return found


def _catch(work: Callable[[], list[str]]) -> list[str] | BaseException:
    try:
        return work()
    except (OSError, UnicodeError) as error:
        return error


def _not_probed(address: str, *, allow_loopback: bool) -> str | None:
    """``loopback`` or ``not_routable`` for addresses the probe must never connect to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "not_routable"
    return None


def probe(
    host: str,
    port: int,
    tls: bool,
    *,
    seconds: float = PROBE_SECONDS,
    resolver: Resolver = _resolve,
    allow_loopback: bool = False,
) -> Reach:
    """Resolve ``host``, connect to its first address, and with ``tls`` complete a handshake that
    verifies the certificate for ``host``; send nothing else. Never longer than ``seconds``."""
    start = time.monotonic()
    if host.lower().rstrip(".") in LOOPBACK_NAMES and not allow_loopback:
        return Reach("loopback")
    try:
        addresses = _within(seconds, lambda: resolver(host, port))
    except (OSError, UnicodeError) as error:
        return Reach("no_dns", detail=str(error)[:200])
    if addresses is None:
        return Reach("timeout", millis=int(seconds * 1000))
    if not addresses:
        return Reach("no_dns")
    for address in addresses:  # any forbidden address: a name pointing there is not probed at all
        refused = _not_probed(address, allow_loopback=allow_loopback)
        if refused:
            return Reach(refused, address=address)
    address = addresses[0]
    left = seconds - (time.monotonic() - start)
    if left <= 0:
        return Reach("timeout", address=address, millis=int(seconds * 1000))
    try:
        with socket.create_connection((address, port), timeout=left) as sock:
            if tls:
                context = ssl.create_default_context()
                sock.settimeout(max(0.05, seconds - (time.monotonic() - start)))
                with context.wrap_socket(sock, server_hostname=host):
                    pass
    except ssl.SSLCertVerificationError as error:
        return Reach("tls", address=address, detail=str(error.verify_message or error.reason or error)[:200])
    except ssl.SSLError as error:
        return Reach("tls", address=address, detail=str(error.reason or error)[:200])
    except TimeoutError:
        return Reach("timeout", address=address, millis=int(seconds * 1000))
    except OSError as error:
        return Reach("refused", address=address, detail=str(error.strerror or error)[:200])
    return Reach("ok", address=address, millis=int((time.monotonic() - start) * 1000))


def _is_loopback_host(host: str) -> bool:
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PARTS = ("scheme", "host", "port", "path", "query")


def _differences(wanted: str, registered: str) -> list[str]:
    """The parts in which two URIs differ, as message codes (``part_path_slash``…)."""
    a, b = urlsplit(wanted), urlsplit(registered)
    found: list[str] = []
    if a.scheme.lower() != b.scheme.lower():
        found.append("part_scheme")
    host_a, host_b = a.netloc.rsplit("@", 1)[-1], b.netloc.rsplit("@", 1)[-1]
    name_a, name_b = (a.hostname or ""), (b.hostname or "")
    if name_a != name_b:
        found.append("part_host")
    elif host_a.split(":")[0] != host_b.split(":")[0]:
        found.append("part_host_case")
    defaults = {"http": 80, "https": 443}
    try:
        port_a, port_b = a.port, b.port
    except ValueError:
        port_a = port_b = None
    if port_a != port_b:  # a default port written out (https://host:443/) is a difference of its own
        plain_a = None if port_a == defaults.get(a.scheme.lower()) else port_a
        plain_b = None if port_b == defaults.get(b.scheme.lower()) else port_b
        found.append("part_port_default" if plain_a == plain_b else "part_port")
    if a.path != b.path:
        slashless = a.path.rstrip("/") == b.path.rstrip("/")
        found.append("part_path_slash" if slashless else "part_path_case" if a.path.lower() == b.path.lower()
                     else "part_path")
    if a.query != b.query:
        found.append("part_query")
    return found or ["part_encoding"]


def analyse(uri: str, registered: list[str]) -> tuple[bool, list[Finding]]:
    """Steps 1–3 of the module doc; no network. Returns (registered exactly, findings)."""
    value = uri.strip()
    try:
        clients.check_uri(value)
    except clients.ClientError as error:
        return False, [Finding("fail", error.code)]
    findings: list[Finding] = []
    exact = value in registered
    if exact:
        findings.append(Finding("ok", "registered"))
    else:
        findings.append(Finding("fail", "not_registered"))
        ranked = sorted(registered, key=lambda candidate: len(_differences(value, candidate)))
        if ranked:
            parts = _differences(value, ranked[0])
            findings.append(Finding("info", "closest", {"uri": ranked[0], "parts": " ".join(parts)}))
    split = urlsplit(value)
    host = split.hostname or ""
    if split.scheme == "https":
        findings.append(Finding("ok", "https"))
    elif _is_loopback_host(host):
        findings.append(Finding("ok", "http_loopback"))
    else:
        findings.append(Finding("warn", "http_plain"))
    return exact, findings


def _reach_finding(reach: Reach, host: str, port: int, tls: bool) -> Finding:
    params = {"host": host, "port": str(port), "address": reach.address, "detail": reach.detail,
              "millis": str(reach.millis), "seconds": f"{PROBE_SECONDS:g}"}
    if reach.outcome == "ok":
        return Finding("ok", "reach_ok_tls" if tls else "reach_ok", params)
    if reach.outcome in ("loopback", "not_routable"):
        return Finding("info", f"reach_{reach.outcome}", params)
    return Finding("warn", f"reach_{reach.outcome}", params)


def network_probe(host: str, port: int, tls: bool) -> Reach:
    return probe(host, port, tls)


def check(
    ctx: Context,
    client_id: str,
    uri: str,
    *,
    actor_id: int | None,
    request: RequestInfo,
    reach: Probe = network_probe,
) -> Report:
    """The whole report for ``uri`` against ``client_id``'s registration; audited
    (``oidc_redirect_uri_tested``). Raises ``clients.ClientError`` for an unknown client."""
    value = uri.strip()[:2000]
    with ctx.db.transaction() as db:
        row = clients.find(db, client_id)
        if row is None:
            raise clients.ClientError("client_unknown", f"no OIDC client with id {client_id!r}")
        registered = clients.info_of(row).redirect_uris
    exact, findings = analyse(value, registered)
    outcome = ""
    if exact:
        parts = urlsplit(value)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        host = parts.hostname or ""
        seen = reach(host, port, tls)
        outcome = seen.outcome
        findings.append(_reach_finding(seen, host, port, tls))
        findings.append(Finding("info", "reach_note"))
    elif findings[0].code == "not_registered":
        findings.append(Finding("info", "reach_registered_only"))
    with ctx.db.transaction() as db:
        actor = db.get(User, actor_id) if actor_id is not None else None
        audit.record(ctx, db, "oidc_redirect_uri_tested", request=request, actor=actor, client_id=client_id,
                     uri=value[:300], registered=exact, reach=outcome)
    return Report(uri=value, registered=exact, findings=findings)
