"""``build_context`` wires what the settings say: the Argon2id costs above all, since the shared test
fixture swaps in a cheaper hasher (tests/conftest.py, ``TEST_HASHING``) and would not notice."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from twostep.services.wiring import build_context
from twostep.settings import load_settings


def test_passwords_are_hashed_with_the_configured_argon2id_costs(tmp_path: Path) -> None:
    default = build_context(load_settings(data_dir=tmp_path / "a"))
    assert default.hashing.hash("violet staple meadow 42").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    raised = build_context(load_settings(data_dir=tmp_path / "b", argon2_time_cost=3, argon2_memory_kib=32768))
    stored = raised.hashing.hash("violet staple meadow 42")
    assert stored.startswith("$argon2id$v=19$m=32768,t=3,p=1$")
    assert default.hashing.needs_rehash(stored) and not raised.hashing.needs_rehash(stored)
    default.db.dispose()
    raised.db.dispose()


@pytest.mark.parametrize(("name", "value"), [("argon2_time_cost", 1), ("argon2_memory_kib", 1024)])
def test_costs_below_the_owasp_floor_are_refused(tmp_path: Path, name: str, value: int) -> None:
    with pytest.raises(ValidationError):
        load_settings(data_dir=tmp_path, **{name: value})
