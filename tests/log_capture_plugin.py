"""Whole-suite check that no log line ever carries a secret the tests used.

Register once, in tests/conftest.py: ``pytest_plugins = ["tests.log_capture_plugin"]``
(or run pytest with ``-p tests.log_capture_plugin``).

How it works, per test process (xdist workers included):
1. every log record of every logger is written as a JSON line (twostep's JsonFormatter, so the
   structured fields are checked too) to ``log-<worker>.jsonl`` in a run directory; the ``twostep``
   loggers are set to INFO so audit and access lines are really produced;
2. every secret the run makes or uses is remembered: random tokens from the ``secrets`` module
   (session, device, setup and API keys), TOTP seeds and every TOTP code computed (pyotp), codes we
   send (``secrets.randbelow(10**6)``), reset and recovery codes, and every password that is hashed
   or checked;
3. at the end (in the xdist controller, after all workers) all log lines are searched for all of
   them; a hit prints the line and fails the run with exit status 1.

Tests that run the server in a subprocess add its output with ``record_external(text)``.
Mails and SMS printed by the development senders (no SMTP/SMS gateway configured: "printed instead
of sent", a documented feature) are the outbox, not a log leak, and are skipped.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

DIR_KEY = "twostep_log_capture_dir"
OUTBOX_MARK = "printed instead of sent"
MIN_TOKEN = 16
MIN_PASSWORD = 8
_SKIP_FIELDS = {"time"}  # ISO timestamps carry 6-digit microseconds

_state: dict[str, Any] = {"file": None, "secrets": set(), "codes": set(), "passwords": set(), "dir": None}


# --- recording -----------------------------------------------------------------------------------


def _remember_token(value: object) -> None:
    if isinstance(value, str) and len(value) >= MIN_TOKEN:
        _state["secrets"].add(value)
    elif isinstance(value, bytes) and len(value) >= 10:
        _state["secrets"].add(value.hex())
        _state["secrets"].add(base64.b32encode(value).decode().rstrip("="))
        _state["secrets"].add(base64.urlsafe_b64encode(value).decode().rstrip("="))


def _remember_code(value: object) -> None:
    if isinstance(value, str) and value:
        target = "codes" if value.isdigit() and len(value) <= 8 else "secrets"
        _state[target].add(value)
        if "-" in value:  # recovery codes are shown as XXXX-XXXX-...
            _state["secrets"].add(value.replace("-", ""))


def _remember_password(value: object) -> None:
    if isinstance(value, str) and len(value) >= MIN_PASSWORD:
        _state["passwords"].add(value)


def _wrap(func: Any, remember: Any, *, arg: int | None = None) -> Any:
    if getattr(func, "_log_capture_wrapped", False):
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if arg is not None and len(args) > arg:
            remember(args[arg])
        result = func(*args, **kwargs)
        if arg is None:
            remember(result)
        return result

    wrapper._log_capture_wrapped = True  # type: ignore[attr-defined]
    return wrapper


def _randbelow(original: Any) -> Any:
    def wrapper(n: int) -> int:
        value = original(n)
        if n == 10**6:
            _state["codes"].add(f"{value:06d}")
        return int(value)

    wrapper._log_capture_wrapped = True  # type: ignore[attr-defined]
    return wrapper


def _patch_sources() -> None:
    for name in ("token_urlsafe", "token_hex", "token_bytes"):
        setattr(secrets, name, _wrap(getattr(secrets, name), _remember_token))
    if not getattr(secrets.randbelow, "_log_capture_wrapped", False):
        secrets.randbelow = _randbelow(secrets.randbelow)
    import pyotp

    pyotp.OTP.generate_otp = _wrap(pyotp.OTP.generate_otp, _remember_code)  # type: ignore[method-assign]
    from twostep.domain.passwords import PasswordHashing

    for method, index in (("hash", 1), ("verify", 2)):
        setattr(PasswordHashing, method, _wrap(getattr(PasswordHashing, method), _remember_password, arg=index))
    from twostep.domain import codes

    for name in ("new_reset_code", "new_recovery_code"):
        original = getattr(codes, name)
        wrapped = _wrap(original, _remember_code)
        for module in list(sys.modules.values()):  # names imported with `from ... import`
            if (
                getattr(module, "__name__", "").startswith(("twostep", "tests"))
                and getattr(module, name, None) is original
            ):
                setattr(module, name, wrapped)


def record_external(text: str) -> None:
    """Add a subprocess's log output (one record per line) to the run's log file."""
    handle = _state["file"]
    if handle is None:
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):  # a JSON log line is kept as it is, so its timestamp is skipped
            entry = {"logger": "subprocess", "message": line}
        handle.write(json.dumps(entry) + "\n")


class _Capture(logging.Handler):
    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.DEBUG)
        from twostep.logs import JsonFormatter

        self.setFormatter(JsonFormatter())
        _state["file"] = path.open("a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a capture problem must not break the test that logged
            _state["file"].write(self.format(record) + "\n")


def _install(path: Path) -> None:
    capture = _Capture(path)
    original = logging.Logger.callHandlers
    if getattr(original, "_log_capture_wrapped", False):
        return

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        capture.handle(record)
        original(self, record)

    call_handlers._log_capture_wrapped = True  # type: ignore[attr-defined]
    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
    logging.getLogger("twostep").setLevel(logging.INFO)


# --- checking ------------------------------------------------------------------------------------

_TOKEN = re.compile(rf"[A-Za-z0-9_\-]{{{MIN_TOKEN},}}")
_CODE = re.compile(r"(?<![0-9A-Za-z])\d{6,8}(?![0-9A-Za-z])")
_GROUPED_SEED = re.compile(r"(?:[A-Z2-7]{4} ){7,}[A-Z2-7]{4}")


def _texts(entry: dict[str, Any]) -> str:
    return "\n".join(str(v) for k, v in entry.items() if k not in _SKIP_FIELDS)


def find_leaks(lines: list[str], tokens: set[str], codes: set[str], passwords: set[str]) -> list[tuple[str, str]]:
    """(kind, line) for every line holding a remembered secret."""
    lengths = sorted({len(t) for t in tokens})
    # Whole words only, and not a single lowercase word: tests try "password" or "anything" as
    # too-common passwords, and those words are also route and event names ("/account/password").
    checked = sorted((p for p in passwords if not (p.isalpha() and p.islower())), key=len, reverse=True)
    password_pattern = (
        re.compile("(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(p) for p in checked) + ")(?![A-Za-z0-9_])")
        if checked
        else None
    )
    leaks: list[tuple[str, str]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"message": line}
        if not isinstance(entry, dict):
            entry = {"message": line}
        text = _texts(entry)
        if OUTBOX_MARK in text:
            continue
        hit = ""
        for token in _TOKEN.findall(text):
            if token in tokens or any(
                token[i : i + n] in tokens for n in lengths if n < len(token) for i in range(len(token) - n + 1)
            ):
                hit = "token"
                break
        if not hit:
            for grouped in _GROUPED_SEED.findall(text):
                if grouped.replace(" ", "") in tokens:
                    hit = "seed"
        if not hit and any(code in codes for code in _CODE.findall(text)):
            hit = "code"
        if not hit and password_pattern is not None and password_pattern.search(text):
            hit = "password"
        if hit:
            leaks.append((hit, line[:300]))
    return leaks


def _worker_id(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput and DIR_KEY in workerinput:
        directory = Path(workerinput[DIR_KEY])
    else:
        directory = Path(tempfile.mkdtemp(prefix="twostep-log-capture-"))
        config.stash[_owner_key] = True
    _state["dir"] = directory
    config.stash[_dir_key] = directory
    from tests.support import PASSWORD

    _state["passwords"].add(PASSWORD)
    _install(directory / f"log-{_worker_id(config)}.jsonl")
    _patch_sources()


_dir_key = pytest.StashKey[Path]()
_owner_key = pytest.StashKey[bool]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist controller: hand the run directory to each worker
    node.workerinput[DIR_KEY] = str(node.config.stash[_dir_key])


def pytest_collection_finish(session: pytest.Session) -> None:
    _patch_sources()  # modules imported by test files during collection


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    directory = config.stash[_dir_key]
    handle = _state["file"]
    if handle is not None:
        handle.flush()
    dump = {k: sorted(_state[k]) for k in ("secrets", "codes", "passwords")}
    (directory / f"secrets-{_worker_id(config)}.json").write_text(json.dumps(dump))
    if not config.stash.get(_owner_key, False):
        return
    tokens: set[str] = set()
    codes: set[str] = set()
    passwords: set[str] = set()
    for path in directory.glob("secrets-*.json"):
        data = json.loads(path.read_text())
        tokens.update(data["secrets"])
        codes.update(data["codes"])
        passwords.update(data["passwords"])
    lines: list[str] = []
    for path in sorted(directory.glob("log-*.jsonl")):
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    leaks = find_leaks(lines, tokens, codes, passwords)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"log secret check: {len(lines)} log lines searched for {len(tokens)} tokens, {len(codes)} codes, "
        f"{len(passwords)} passwords: {len(leaks)} leaks"
    )
    write = reporter.write_line if reporter is not None else print
    write(summary)
    if leaks:
        for kind, line in leaks[:20]:
            write(f"  secret ({kind}) in log: {line}")
        write(f"  all log lines kept in {directory}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        shutil.rmtree(directory, ignore_errors=True)
