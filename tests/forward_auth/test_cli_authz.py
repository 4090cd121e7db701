"""`twostep authz check`: which forward-auth rule decides a request, and why; rules checked at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TWOSTEP = [sys.executable, "-m", "twostep.cli"]
RULES = """
[[access_rules]]
hosts = ["app.example.com"]
paths = ["/public"]
level = "bypass"

[[access_rules]]
hosts = ["app.example.com"]
roles = ["admin"]
level = "two_factor"

[[access_rules]]
hosts = ["*.example.com"]
level = "one_factor"
"""


def run(tmp_path: Path, *args: str, rules: str = RULES, stdin: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "twostep.toml"
    config.write_text(rules)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env |= {"TWOSTEP_DATA_DIR": str(tmp_path / "data"), "TWOSTEP_CONFIG": str(config)}
    return subprocess.run([*TWOSTEP, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_authz_check_names_the_matching_rule_and_why_the_others_were_skipped(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0  # where a server runs: its database exists
    anonymous = run(tmp_path, "authz", "check", "--url", "https://app.example.com/public/logo.png")
    assert anonymous.returncode == 0, anonymous.stderr
    assert "decision: 200 allowed — rule 1" in anonymous.stdout
    run(tmp_path, "user", "create", "ada@example.com", "--password-stdin", "--role", "staff",
        stdin="violet staple meadow 42\n")
    staff = run(tmp_path, "authz", "check", "--url", "https://app.example.com/x", "--method", "post",
                "--user", "ada@example.com")
    assert staff.returncode == 0, staff.stderr
    assert "request: POST app.example.com /x as ada@example.com (roles: staff)" in staff.stdout
    assert "rule 2 hosts=app.example.com roles=admin level=two_factor: skipped, the user has none of the roles admin" \
        in staff.stdout
    assert "decision: 200 allowed — rule 3" in staff.stdout


def test_authz_check_refuses_a_bad_url_or_unknown_user(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    bad = run(tmp_path, "authz", "check", "--url", "app.example.com/x")
    assert bad.returncode == 2 and "is not an http(s) URL" in bad.stderr
    unknown = run(tmp_path, "authz", "check", "--url", "https://app.example.com/", "--user", "nobody@example.com")
    assert unknown.returncode == 2 and "no account" in unknown.stderr


def test_an_invalid_access_rule_stops_every_command_with_the_rule_named(tmp_path: Path) -> None:
    result = run(tmp_path, "authz", "check", "--url", "https://x.example.com/",
                 rules='[[access_rules]]\nhosts = ["x.example.com"]\nlevel = "two_factors"\n')
    assert result.returncode == 2 and "access_rules[1].level" in result.stderr
