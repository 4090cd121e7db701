"""The instance secret key against the data it protects: the start-up self-test, and key rotation.

Self-test (``check``): a canary value sealed with the key at the first start is kept in the
database (``policy_settings``, key ``secret_key_canary``); each start opens it, and one stored sealed
secret (a TOTP seed or an address) if there is any. A key that does not open them is refused with a
clear message instead of answering 500 at every second step: the usual cause is a database restored
or moved without its key, or a key file replaced by mistake.

Rotation (``reseal``): after a new key becomes the current one (``twostep rotate-secret-key``), every
sealed value is opened with the keyring and sealed again with the new key, in short batches; a
factor's ``target_digest`` is recomputed with it too. Digests that can't be recomputed (they are
one-way: API keys, recovery codes, sessions, remembered devices, sent codes) keep matching through
the previous keys of the keyring; API keys move to the new key on their next use.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twostep.domain.sealing import SealError
from twostep.services.core.context import Context
from twostep.services.enrollment.oob_enrollment import target_digest
from twostep.storage.models import Factor, PolicySetting

CANARY_KEY = "secret_key_canary"
_CANARY_OWNER = "twostep:secret-key-canary"
_CANARY_TEXT = "twostep secret key canary"
RESEAL_BATCH = 500


class SecretKeyMismatch(RuntimeError):
    """The configured secret key does not open what is stored in the database."""


def _mismatch(what: str) -> SecretKeyMismatch:
    return SecretKeyMismatch(
        f"the secret key does not open {what} stored in the database (they were sealed with another key). "
        "Configure the key that belongs to this database (TWOSTEP_SECRET_KEY, or the data directory's "
        "secret_key file, plus secret_key.previous after a rotation), e.g. the one kept with its backup; "
        "see \"The secret key\" in docs/operations.md"
    )


def _factor_owner(factor_user_id: int, kind: str) -> str:
    return f"user:{factor_user_id}:{kind}"


def _open_one_stored_secret(ctx: Context, db: Session) -> None:
    row = db.execute(
        select(Factor.user_id, Factor.kind, Factor.secret_sealed, Factor.target_sealed)
        .where((Factor.secret_sealed.is_not(None)) | (Factor.target_sealed.is_not(None)))
        .order_by(Factor.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return
    sealed = row.secret_sealed if row.secret_sealed is not None else row.target_sealed
    try:
        ctx.sealer.open(sealed, _factor_owner(row.user_id, row.kind))
    except SealError as error:
        raise _mismatch("the authenticator secrets") from error


def _canary_value(ctx: Context) -> str:
    return json.dumps(base64.b64encode(ctx.sealer.seal(_CANARY_TEXT, _CANARY_OWNER)).decode())


def check(ctx: Context, *, record: bool = True) -> None:
    """Raise ``SecretKeyMismatch`` unless the key opens the canary and one stored secret. The first
    start (no canary yet) records one, unless ``record`` is off (checking a backup file)."""
    for _attempt in range(2):
        try:
            with ctx.db.transaction() as db:
                row = db.get(PolicySetting, CANARY_KEY)
                if row is not None:
                    try:
                        opened = ctx.sealer.open(base64.b64decode(json.loads(row.value)), _CANARY_OWNER)
                    except (SealError, ValueError) as error:
                        raise _mismatch("the check value") from error
                    if opened != _CANARY_TEXT:
                        raise _mismatch("the check value")
                _open_one_stored_secret(ctx, db)
                if row is None and record:
                    db.add(PolicySetting(key=CANARY_KEY, value=_canary_value(ctx), updated_at=ctx.clock.now()))
            return
        except IntegrityError:  # another worker recorded it first: check theirs
            continue


@dataclass(frozen=True)
class ResealReport:
    resealed: int
    already_current: int


def reseal(ctx: Context, *, batch_size: int = RESEAL_BATCH) -> ResealReport:
    """Seal every sealed value again with the current key (idempotent; batches of short transactions).

    Refuses (``SecretKeyMismatch``, nothing changed in that batch) when a value opens with no key of
    the keyring."""

    resealed = current = 0
    last_id = 0
    while True:
        with ctx.db.transaction() as db:
            factors = list(
                db.scalars(select(Factor).where(Factor.id > last_id).order_by(Factor.id).limit(batch_size))
            )
            for factor in factors:
                owner = _factor_owner(factor.user_id, factor.kind)
                changed = False
                try:
                    if factor.secret_sealed is not None and not ctx.sealer.is_current(factor.secret_sealed):
                        factor.secret_sealed = ctx.sealer.seal(ctx.sealer.open(factor.secret_sealed, owner), owner)
                        changed = True
                    if factor.target_sealed is not None:
                        target = ctx.sealer.open(factor.target_sealed, owner)
                        if not ctx.sealer.is_current(factor.target_sealed):
                            factor.target_sealed = ctx.sealer.seal(target, owner)
                            changed = True
                        if factor.target_digest is not None:
                            digest = target_digest(ctx, factor.kind, target)
                            if digest != factor.target_digest:
                                factor.target_digest = digest
                                changed = True
                except SealError as error:
                    raise _mismatch(f"the secret of authenticator {factor.id}") from error
                resealed += changed
                current += not changed
            canary = db.get(PolicySetting, CANARY_KEY)
            if last_id == 0 and canary is not None:
                canary.value, canary.updated_at = _canary_value(ctx), ctx.clock.now()
        if len(factors) < batch_size:
            return ResealReport(resealed, current)
        last_id = factors[-1].id
