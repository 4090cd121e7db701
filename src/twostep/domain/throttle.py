"""Throttling of guesses, counted per account (never per IP only).

State kept per key (``pw:<email digest>`` or ``2fa:<user id>``): ``failures`` (consecutive wrong
guesses, reset only by a success or an administrator) and ``blocked_until``. The first
``FREE_FAILURES`` failures cost nothing; from then on each failure blocks the key for
``BASE_DELAY_SECONDS * 2**(failures - FREE_FAILURES)`` seconds, capped at ``MAX_DELAY_SECONDS``
(NIST SP 800-63B §3.2.2 and RFC 4226 §7.3: an increasing delay rather than a permanent lock).

    failures:  1  2  3  4  5    6    7     ...  12+       100
    delay s :  0  0  0  0  30   60   120   ...  3600      3600 + the method is disabled

A second key counts wrong passwords per client address across accounts (``pwip:<address>``, a
password spray from one address): ``CLIENT_WRONG_PASSWORDS`` of them, each less than
``CLIENT_WINDOW`` after the one before, and the address waits out a whole window. A browser that
proves itself with a valid remembered-device cookie for the account is judged by its own key
(``pwdev:<device id>``, the same delays as an account) instead of the account's and the address's,
so an attacker who keeps an account or an address blocked does not lock the owner's browser out
(NIST SP 800-63B-4 §3.2.2).

The delay alone still allows ~24 guesses a day for ever, so the count of consecutive wrong
second-step codes has a ceiling (NIST SP 800-63B-4 §3.2.2: at most 100): the failure that reaches
``CONSECUTIVE_FAILURE_CEILING``, and every one after it, disables the authenticator it was tried
against until the owner recovers (a recovery code, then a new method) or an administrator resets it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FREE_FAILURES = 4
BASE_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 3600
ATTEMPTS_PER_PENDING_LOGIN = 5
CONSECUTIVE_FAILURE_CEILING = 100


def at_ceiling(failures: int) -> bool:
    """Whether the ``failures``-th consecutive wrong code disables the authenticator it was tried on."""
    return failures >= CONSECUTIVE_FAILURE_CEILING


#: Wrong passwords from one client address (an IPv6 client: its /64), whatever the accounts, before
#: that address must pause: the count restarts after a whole ``CLIENT_WINDOW`` without a wrong one.
CLIENT_WRONG_PASSWORDS = 50
CLIENT_WINDOW = timedelta(hours=1)


def client_seconds_left(failures: int, last_failure: datetime | None, now: datetime) -> int:
    """Seconds a client address still waits: none under the limit, else until a window has passed
    since its last wrong password (a refused attempt is not a wrong one, so the pause ends)."""
    if last_failure is None or failures < CLIENT_WRONG_PASSWORDS:
        return 0
    return seconds_left(last_failure + CLIENT_WINDOW, now)


def delay_after(failures: int) -> timedelta:
    """The wait imposed after the ``failures``-th consecutive failure."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    seconds = BASE_DELAY_SECONDS * 2 ** min(failures - FREE_FAILURES - 1, 16)
    return timedelta(seconds=min(seconds, MAX_DELAY_SECONDS))


def seconds_left(blocked_until: datetime | None, now: datetime) -> int:
    """Whole seconds still to wait (rounded up), 0 when not blocked."""
    if blocked_until is None or blocked_until <= now:
        return 0
    remaining = (blocked_until - now).total_seconds()
    return int(remaining) + (1 if remaining % 1 else 0)
