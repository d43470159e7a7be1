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
from engine.model.killmail import Attacker, Killmail, Victim, Zkb
from engine.model.rejection import KillmailRejected
from engine.model.rejection import RejectReason as R

__all__ = ["parse_killmail"]

# Columns that hold these are signed 64-bit; solar systems and zkb points are 32-bit.
_ID_MAX = 2**63 - 1
_SMALL_MAX = 2**31 - 1
# Real killmails nest items two deep (ship > container > item); this is far beyond any.
_ITEM_DEPTH = 16
_EVE_LAUNCH = datetime(2003, 5, 6, tzinfo=UTC)


def parse_killmail(payload: bytes | str | Mapping[str, Any], zkb: Any = None) -> Killmail:
    """Parse one payload. Raises `KillmailRejected` with a specific reason for anything else."""
    try:
        parts = wire.decode(payload, zkb)
    # msgspec also raises UnicodeError for lone surrogates or bytes that are not UTF-8, and
    # RecursionError for absurd nesting; the lenient path turns each into a reason.
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeError, RecursionError):
        parts = lenient.decode(payload, zkb)
    killmail = _assemble(parts)
    if isinstance(payload, Mapping) or isinstance(zkb, Mapping):
        # JSON text cannot carry these, Python objects can, and the store cannot take them.
        _check_python_values(killmail)
    return killmail


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
    if p.hash is not None and "\x00" in p.hash:  # PostgreSQL text refuses NUL
        raise KillmailRejected(R.INVALID_HASH, "hash contains NUL")
    _check_sequence(p.sequence_id, "sequence_id")
    _check_sequence(p.sequence_updated, "sequence_updated")
    if p.time is None:
        raise KillmailRejected(R.MISSING_TIME, f"killmail {killmail_id} has no killmail_time")
    time = _utc(p.time)
    if time < _EVE_LAUNCH:
        raise KillmailRejected(R.INVALID_TIME, f"killmail_time {time:%Y-%m-%d} predates EVE")
    if p.system_id is None:
        raise KillmailRejected(R.MISSING_SYSTEM, f"killmail {killmail_id} has no solar_system_id")
    _check_id(p.system_id, R.INVALID_SYSTEM, "solar_system_id", _SMALL_MAX)
    _check_victim(p.victim, killmail_id)
    assert p.victim is not None
    _check_parties(p.victim, p.attackers)
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


def _check_id(value: int, reason: R, field: str, maximum: int = _ID_MAX) -> None:
    if not 0 < value <= maximum:
        bits = 64 if maximum == _ID_MAX else 32
        raise KillmailRejected(
            reason, f"{field} must be a positive {bits}-bit id, got {_number(value)}"
        )


def _check_sequence(value: int | None, field: str) -> None:
    if value is not None and not 0 <= value <= _ID_MAX:
        raise KillmailRejected(R.INVALID_ENVELOPE, f"{field} is out of range: {_number(value)}")


def _check_victim(victim: Victim | None, killmail_id: int) -> None:
    if victim is None:
        raise KillmailRejected(R.MISSING_VICTIM, f"killmail {killmail_id} has no victim")
    if victim.ship_type_id == 0:
        raise KillmailRejected(R.MISSING_VICTIM_SHIP, f"killmail {killmail_id}: no victim ship")
    _check_id(victim.ship_type_id, R.INVALID_VICTIM, "victim.ship_type_id")
    level = victim.items
    for _ in range(_ITEM_DEPTH):
        level = tuple(child for item in level if item.items for child in item.items)
    if level:
        raise KillmailRejected(R.INVALID_ITEMS, f"items nest deeper than {_ITEM_DEPTH}")


def _check_parties(victim: Victim, attackers: tuple[Attacker, ...]) -> None:
    """Entity ids the store indexes (as 64-bit integers) must fit; anything beyond is no id
    CCP hands out."""
    for reason, where, party in (
        (R.INVALID_VICTIM, "victim", victim),
        *((R.INVALID_ATTACKERS, "attacker", a) for a in attackers),
    ):
        for field in ("character_id", "corporation_id", "alliance_id", "faction_id"):
            value = getattr(party, field)
            if value is not None and not 0 <= value <= _ID_MAX:
                raise KillmailRejected(
                    reason, f"{where}.{field} is out of range: {_number(value)}"
                )


def _check_zkb(zkb: Zkb | None) -> None:
    # JSON can carry 1e999; an infinite value would poison every sum and sort downstream.
    if zkb is not None and zkb.total_value is not None and not _finite(zkb.total_value):
        raise KillmailRejected(R.INVALID_ZKB, "zkb.totalValue is not a finite number")
    if zkb is not None and zkb.hash is not None and not 0 < len(zkb.hash) <= 64:
        raise KillmailRejected(R.INVALID_ZKB, f"zkb.hash has {len(zkb.hash)} characters")
    if zkb is not None and zkb.points is not None and abs(zkb.points) > _SMALL_MAX:
        raise KillmailRejected(R.INVALID_ZKB, f"zkb.points is out of range: {_number(zkb.points)}")
    if zkb is not None and any("\x00" in label for label in zkb.labels):
        raise KillmailRejected(R.INVALID_ZKB, "a zkb label contains NUL")


def _finite(value: float) -> bool:
    return value - value == 0.0


def _check_python_values(km: Killmail) -> None:
    """What JSON decoders refuse and Python objects may hold: lone surrogates, non-finite
    floats, ints too long to write. The killmail must be storable and its body read back."""
    z = km.zkb
    texts = [(R.INVALID_HASH, km.hash)]
    if z is not None:
        texts += [(R.INVALID_ZKB, text) for text in (z.href, z.hash, *z.labels)]
    for reason, text in texts:
        if text is not None and not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise KillmailRejected(reason, "a string is not valid Unicode") from None
    values = (z.fitted_value, z.dropped_value, z.destroyed_value) if z is not None else ()
    if not all(_finite(value) for value in values if value is not None):
        raise KillmailRejected(R.INVALID_ZKB, "a zkb value is not a finite number")
    try:
        body = msgspec.json.encode(km)
    except ValueError:  # an int of thousands of digits
        raise KillmailRejected(R.INVALID_ENVELOPE, "a number is too large to store") from None
    try:
        # NaN and infinities are written as null, which a float field refuses on the way back.
        _READ_BACK.decode(body)
    except msgspec.ValidationError as exc:
        where = str(exc).rpartition("at `$.")[2]
        reason = next((r for at, r in _REASON_AT if where.startswith(at)), R.INVALID_ENVELOPE)
        raise KillmailRejected(reason, f"cannot be stored: {exc}") from None


_READ_BACK = msgspec.json.Decoder(Killmail)
_REASON_AT = (
    ("victim.items", R.INVALID_ITEMS),
    ("victim", R.INVALID_VICTIM),
    ("attackers", R.INVALID_ATTACKERS),
    ("zkb", R.INVALID_ZKB),
    ("killmail_id", R.INVALID_KILLMAIL_ID),
)


def _number(value: int) -> str:
    # str() of an int beyond 4,300 digits raises; such a value only comes from a Python object.
    return str(value) if -(10**30) < value < 10**30 else "a number too large to show"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.utcoffset():
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
            detail = f"killmail_time {value} is out of range"
            raise KillmailRejected(R.INVALID_TIME, detail) from None
    return value

