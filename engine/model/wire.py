"""The typed path: feed JSON decoded by msgspec straight into the model's structs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from engine.model.killmail import Attacker, Victim, Zkb
from engine.model.rejection import KillmailRejected
from engine.model.rejection import RejectReason as R

__all__ = ["Parts", "decode", "unix_time"]


@dataclass(slots=True)
class Parts:
    """What either decoding path found, before the shared checks in `parse` assemble it."""

    outer_id: int | None
    esi_id: int | None
    hash: str | None
    time: datetime | None
    system_id: int | None
    victim: Victim | None
    attackers: tuple[Attacker, ...]
    zkb: Zkb | None
    war_id: int | None = None
    moon_id: int | None = None
    sequence_id: int | None = None
    uploaded_at: datetime | None = None
    sequence_updated: int | None = None


class _Esi(msgspec.Struct):
    killmail_id: int | None = None
    killmail_time: datetime | None = None
    solar_system_id: int | None = None
    victim: Victim | None = None
    attackers: tuple[Attacker, ...] = ()
    war_id: int | None = None
    moon_id: int | None = None


class _Package(msgspec.Struct):
    killID: int | None = None
    killmail: _Esi | None = None
    zkb: Zkb | None = None


class _Payload(_Esi):
    """Every shape at once; which fields are set tells which shape arrived."""

    package: _Package | msgspec.UnsetType | None = msgspec.UNSET
    killID: int | None = None
    killmail: _Esi | None = None
    hash: str | None = None
    esi: _Esi | msgspec.UnsetType | None = msgspec.UNSET
    zkb: Zkb | None = None
    sequence_id: int | None = None
    uploaded_at: int | float | None = None
    sequence_updated: int | None = None


# strict=False is what turns re-serialised integral floats back into ints.
_DECODER = msgspec.json.Decoder(_Payload, strict=False)
_ZKB_DECODER = msgspec.json.Decoder(Zkb, strict=False)


def decode(payload: bytes | str | Mapping[str, Any], zkb: Any) -> Parts:
    """Raises msgspec's errors for anything not of the expected types (the caller retries
    leniently), and `KillmailRejected` for well-typed payloads of the wrong shape."""
    if isinstance(payload, bytes | str):
        data = _DECODER.decode(payload)
    else:
        data = msgspec.convert(payload, _Payload, strict=False)

    if not isinstance(data.package, msgspec.UnsetType):
        if data.package is None:
            raise KillmailRejected(R.EMPTY_PACKAGE, "RedisQ answered with no package")
        return _from_package(data.package)
    if data.killID is not None:
        return _from_package(_Package(data.killID, data.killmail, data.zkb))
    if not isinstance(data.esi, msgspec.UnsetType):
        if data.esi is None:
            raise KillmailRejected(R.MISSING_BODY, "envelope has no esi killmail")
        parts = _parts(data.esi, data.killmail_id, data.hash, data.zkb)
        parts.sequence_id = data.sequence_id
        parts.sequence_updated = data.sequence_updated
        if data.uploaded_at is not None:
            parts.uploaded_at = unix_time(data.uploaded_at, "uploaded_at")
        return parts
    # Only a bare ESI killmail takes its zkb block from the caller.
    return _parts(data, None, None, _convert_zkb(zkb) if zkb is not None else data.zkb)


def _from_package(package: _Package) -> Parts:
    if package.killmail is None:
        raise KillmailRejected(R.MISSING_BODY, f"package {package.killID} has no killmail body")
    hash_ = package.zkb.hash if package.zkb is not None else None
    return _parts(package.killmail, package.killID, hash_, package.zkb)


def _parts(esi: _Esi, outer_id: int | None, hash_: str | None, zkb: Zkb | None) -> Parts:
    return Parts(
        outer_id,
        esi.killmail_id,
        hash_,
        esi.killmail_time,
        esi.solar_system_id,
        esi.victim,
        esi.attackers,
        zkb,
        esi.war_id,
        esi.moon_id,
    )


def _convert_zkb(zkb: Any) -> Zkb:
    if isinstance(zkb, bytes | str):
        return _ZKB_DECODER.decode(zkb)
    return msgspec.convert(zkb, Zkb, strict=False)


def unix_time(value: float, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise KillmailRejected(R.INVALID_ENVELOPE, f"{field} is out of range: {value!r}") from None
