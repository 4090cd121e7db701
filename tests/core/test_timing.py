"""No account enumeration by timing (checklist X-18, CR-01): the time to the end of the answer is
the same for an address with an account and one without, measured as a client sees it.

Each request is driven straight through the ASGI app and timed until the last byte of the response
body is handed to the server — what a client waits for; work after that (``BackgroundTasks``) is
not in the figure. Requests alternate between the two kinds (so drift and noise from other processes
hit both alike), each address is used once (so no cooldown or throttle makes one kind cheaper), and
the two samples are compared with a two-sided Mann-Whitney U test (normal approximation with the tie
correction; scipy is not a dependency). This machine is shared and noisy: a run whose p-value is
under 0.01 is repeated once with new addresses, and both runs must fail for the test to fail (for
equal distributions that happens with probability 1e-4).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.support import PASSWORD, csrf_of
from twostep.domain.passwords import PasswordHashing
from twostep.services.core import accounts
from twostep.services.core.context import Context
from twostep.storage.models import User

ALPHA = 0.01


@pytest.fixture(autouse=True)
def production_hashing(ctx: Context) -> None:
    """The production Argon2id floor, not the shared fixture's cheap test hasher: what a client can
    time is a real password check, which dominates both kinds of answer."""
    ctx.hashing = PasswordHashing()


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test, normal approximation with tie correction."""
    n1, n2 = len(a), len(b)
    pooled = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    r1 = sum(rank for rank, (_, group) in zip(ranks, pooled, strict=True) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma
    return math.erfc(max(z, 0.0) / math.sqrt(2))


def test_mann_whitney_agrees_with_known_values() -> None:
    # scipy 1.17 stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True).pvalue
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(0.0121857803553448, rel=1e-9)
    assert mann_whitney_p([1, 3, 5, 7, 9], [2, 4, 6, 8, 10]) == pytest.approx(0.6761033140231469, rel=1e-9)
    assert mann_whitney_p([1, 1, 2, 2], [1, 2, 2, 3]) == pytest.approx(0.4291953004403492, rel=1e-9)  # ties
    a, b = [0.3, 0.1, 0.5, 0.9, 0.2, 0.8], [0.6, 0.7, 1.1, 1.2, 0.4, 1.0]
    assert mann_whitney_p(a, b) == pytest.approx(0.0926958025578125, rel=1e-9)


async def _timed_post(app: FastAPI, path: str, form: dict[str, str], cookie: str, ip: str) -> float:
    """Seconds from the request's start to the last byte of its response body."""
    body = urllib.parse.urlencode(form).encode()
    answered = asyncio.Event()
    delivered = False
    finished_at = 0.0

    async def receive() -> dict[str, object]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        nonlocal finished_at
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished_at = time.perf_counter()
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookie.encode()),
        ],
        "client": (ip, 40000),
        "server": ("127.0.0.1", 8000),
    }
    started = time.perf_counter()
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert finished_at, "no response"
    return finished_at - started


def _measure(
    app: FastAPI, client: TestClient, path: str, form_for: Callable[[str], dict[str, str]],
    known: list[str], unknown: list[str],
) -> tuple[list[float], list[float]]:
    page = client.get(path)
    token = csrf_of(page.text)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    pairs = list(zip(known, unknown, strict=True))

    async def run() -> tuple[list[float], list[float]]:
        times: dict[str, list[float]] = {"known": [], "unknown": []}
        for n, (k, u) in enumerate(pairs):
            order = [("known", k), ("unknown", u)]
            random.shuffle(order)  # interleaved, in random order within each pair
            for m, (kind, address) in enumerate(order):
                form = {**form_for(address), "csrf_token": token}
                ip = f"10.{random.randrange(1, 250)}.{n % 250}.{m + 1}"  # no per-client limit in play
                times[kind].append(await _timed_post(app, path, form, cookie, ip))
        return times["known"], times["unknown"]

    # A thread of its own: the worker's main thread may already run an event loop (Playwright's sync
    # API keeps one running once a browser test has used it), and asyncio.run() refuses to nest.
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(asyncio.run, run()).result()


def _accounts(ctx: Context, prefix: str, count: int, password_hash: str | None = None) -> list[str]:
    emails = [f"{prefix}{i}@example.com" for i in range(count)]
    for email in emails:
        accounts.create_user(ctx, email, None)
    if password_hash is not None:
        with ctx.db.transaction() as db:
            db.execute(update(User).where(User.email.in_(emails)).values(password_hash=password_hash))
    return emails


def _same_distribution(
    app: FastAPI, client: TestClient, ctx: Context, path: str, form_for: Callable[[str], dict[str, str]],
    samples: int, password_hash: str | None = None,
) -> tuple[float, float, float]:
    """(p-value, median known ms, median unknown ms) of the better of at most two runs."""
    best = (0.0, 0.0, 0.0)
    for attempt in range(2):
        known = _accounts(ctx, f"has.account.{attempt}.", samples, password_hash)
        unknown = [f"no.account.{attempt}.{i}@example.com" for i in range(samples)]
        _measure(app, client, path, form_for, known[:3], unknown[:3])  # warm-up, not counted
        a, b = _measure(app, client, path, form_for, known[3:], unknown[3:])
        p = mann_whitney_p(a, b)
        result = (p, sorted(a)[len(a) // 2] * 1000, sorted(b)[len(b) // 2] * 1000)
        best = max(best, result)
        if p > ALPHA:
            break
    return best


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forgot_password_takes_as_long_for_an_unknown_address_as_for_an_account(
    app: FastAPI, client: TestClient, ctx: Context
) -> None:
    p, known_ms, unknown_ms = _same_distribution(
        app, client, ctx, "/password/forgot", lambda address: {"email": address}, samples=63
    )
    assert p > ALPHA, f"p={p:.4f}: median {known_ms:.3f} ms with an account, {unknown_ms:.3f} ms without"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_wrong_password_takes_as_long_for_an_unknown_address_as_for_an_account(
    app: FastAPI, client: TestClient, ctx: Context
) -> None:
    """One Argon2 check either way (a dummy hash for an unknown address); 40 vs 40, as each costs
    about 40 ms here."""
    p, known_ms, unknown_ms = _same_distribution(
        app,
        client,
        ctx,
        "/login",
        lambda address: {"email": address, "password": "not the password 123"},
        samples=43,
        password_hash=ctx.hashing.hash(PASSWORD),
    )
    assert p > ALPHA, f"p={p:.4f}: median {known_ms:.3f} ms with an account, {unknown_ms:.3f} ms without"
