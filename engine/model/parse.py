"""Turn any killmail payload the feeds send into a `Killmail`, or say precisely why not.

Accepted shapes:
- an R2Z2 envelope ``{killmail_id, hash, esi, zkb, sequence_id, uploaded_at[, sequence_updated]}``
  (the recorded fixture lines have this shape, with ``source``/``reserialized`` extras);
- a RedisQ reply ``{"package": {"killID", "killmail", "zkb"}}``, or the package alone;
- a bare ESI killmail, its zkb block passed separately or merged under ``"zkb"``.

Two paths, one contract. The typed path decodes straight into the model with msgspec and is
what nearly every payload takes. When it refuses, the lenient path walks the plain JSON: it
accepts what re-serialising tools produce (``null`` for an absent list) and otherwise names the
exact reason and field, which the typed decoder's message does not map onto cleanly.
Both paths normalise integral floats to ints and naive times (``2018-12-15 01:19:06``) to UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from engine.model import lenient, wire
from engine.model.killmail import Killmail, Victim, Zkb
from engine.model.rejection import KillmailRejected
from engine.model.rejection import RejectReason as R

__all__ = ["parse_killmail"]

# Columns that hold these are signed 64-bit.
_ID_MAX = 2**63 - 1
_EVE_LAUNCH = datetime(2003, 5, 6, tzinfo=UTC)


def parse_killmail(payload: bytes | str | Mapping[str, Any], zkb: Any = None) -> Killmail:
    """Parse one payload. Raises `KillmailRejected` with a specific reason for anything else."""
    try:
        parts = wire.decode(payload, zkb)
    except (msgspec.ValidationError, msgspec.DecodeError):
        parts = lenient.decode(payload, zkb)
    return _assemble(parts)


def _assemble(p: wire.Parts) -> Killmail:
    if p.esi_id is None and p.outer_id is None:
        raise KillmailRejected(R.MISSING_KILLMAIL_ID, "no killmail_id anywhere")
    if p.outer_id is not None:
        _check_id(p.outer_id, R.INVALID_KILLMAIL_ID, "killmail_id")
    if p.esi_id is not None:
        _check_id(p.esi_id, R.INVALID_KILLMAIL_ID, "killmail_id")
        if p.outer_id is not None and p.outer_id != p.esi_id:
            raise KillmailRejected(
                R.ID_MISMATCH, f"envelope says {p.outer_id}, killmail says {p.esi_id}"
            )
    killmail_id = p.esi_id if p.esi_id is not None else p.outer_id
    assert killmail_id is not None
    if p.hash is not None and not 0 < len(p.hash) <= 64:
        raise KillmailRejected(R.INVALID_HASH, f"hash has {len(p.hash)} characters")
    if p.time is None:
        raise KillmailRejected(R.MISSING_TIME, f"killmail {killmail_id} has no killmail_time")
    time = _utc(p.time)
    if time < _EVE_LAUNCH:
        raise KillmailRejected(R.INVALID_TIME, f"killmail_time {time:%Y-%m-%d} predates EVE")
    if p.system_id is None:
        raise KillmailRejected(R.MISSING_SYSTEM, f"killmail {killmail_id} has no solar_system_id")
    _check_id(p.system_id, R.INVALID_SYSTEM, "solar_system_id")
    _check_victim(p.victim, killmail_id)
    assert p.victim is not None
    _check_zkb(p.zkb)
    return Killmail(
        killmail_id,
        p.hash,
        time,
        p.system_id,
        p.victim,
        p.attackers,
        p.zkb,
        p.war_id,
        p.moon_id,
        p.sequence_id,
        p.uploaded_at,
        p.sequence_updated,
    )


def _check_id(value: int, reason: R, field: str) -> None:
    if not 0 < value <= _ID_MAX:
        raise KillmailRejected(reason, f"{field} must be a positive 64-bit id, got {value}")


def _check_victim(victim: Victim | None, killmail_id: int) -> None:
    if victim is None:
        raise KillmailRejected(R.MISSING_VICTIM, f"killmail {killmail_id} has no victim")
    if victim.ship_type_id == 0:
        raise KillmailRejected(R.MISSING_VICTIM_SHIP, f"killmail {killmail_id}: no victim ship")
    _check_id(victim.ship_type_id, R.INVALID_VICTIM, "victim.ship_type_id")


def _check_zkb(zkb: Zkb | None) -> None:
    # JSON can carry 1e999; an infinite value would poison every sum and sort downstream.
    if zkb is not None and zkb.total_value is not None and not _finite(zkb.total_value):
        raise KillmailRejected(R.INVALID_ZKB, "zkb.totalValue is not a finite number")
    if zkb is not None and zkb.hash is not None and not 0 < len(zkb.hash) <= 64:
        raise KillmailRejected(R.INVALID_ZKB, f"zkb.hash has {len(zkb.hash)} characters")


def _finite(value: float) -> bool:
    return value - value == 0.0


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.utcoffset():
        return value.astimezone(UTC)
    return value

