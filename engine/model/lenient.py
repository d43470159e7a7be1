"""The lenient path: walk plain JSON field by field, normalise what re-serialisers mangled,
and reject anything else with the exact reason and field."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from engine.model.killmail import Attacker, Item, Position, Victim, Zkb
from engine.model.rejection import KillmailRejected
from engine.model.rejection import RejectReason as R
from engine.model.wire import Parts, unix_time

__all__ = ["decode"]

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 2, 40, 40


def decode(payload: bytes | str | Mapping[str, Any], zkb: Any) -> Parts:
    data: Any = payload
    if isinstance(payload, bytes | str):
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise KillmailRejected(R.INVALID_JSON, str(exc)) from None
    if isinstance(zkb, bytes | str):
        try:
            zkb = orjson.loads(zkb)
        except orjson.JSONDecodeError as exc:
            raise KillmailRejected(R.INVALID_ZKB, f"zkb is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise KillmailRejected(R.NOT_AN_OBJECT, f"expected a JSON object, got {_kind(data)}")
    try:
        return _dispatch(data, zkb)
    except RecursionError:
        raise KillmailRejected(R.INVALID_ITEMS, "items are nested absurdly deep") from None


def _dispatch(data: Mapping[str, Any], zkb: Any) -> Parts:
    if "package" in data:
        package = data["package"]
        if package is None:
            raise KillmailRejected(R.EMPTY_PACKAGE, "RedisQ answered with no package")
        if not isinstance(package, Mapping):
            raise KillmailRejected(R.NOT_AN_OBJECT, f"package is {_kind(package)}")
        data = package
    if data.get("killID") is not None:
        outer_id = _int(data["killID"], R.INVALID_KILLMAIL_ID, "killID")
        body = data.get("killmail")
        if body is None:
            raise KillmailRejected(R.MISSING_BODY, f"package {outer_id} has no killmail body")
        zkb_block = _opt_zkb(data.get("zkb"))
        return _parts(body, outer_id, zkb_block.hash if zkb_block else None, zkb_block)
    if "esi" in data:
        body = data["esi"]
        if body is None:
            raise KillmailRejected(R.MISSING_BODY, "envelope has no esi killmail")
        e = R.INVALID_ENVELOPE
        parts = _parts(
            body,
            _opt_int(data.get("killmail_id"), R.INVALID_KILLMAIL_ID, "killmail_id"),
            _opt_str(data.get("hash"), R.INVALID_HASH, "hash"),
            _opt_zkb(data.get("zkb")),
        )
        parts.sequence_id = _opt_int(data.get("sequence_id"), e, "sequence_id")
        parts.sequence_updated = _opt_int(data.get("sequence_updated"), e, "sequence_updated")
        uploaded = data.get("uploaded_at")
        if uploaded is not None:
            if type(uploaded) not in (int, float):
                raise KillmailRejected(e, f"uploaded_at must be unix time, not {_show(uploaded)}")
            parts.uploaded_at = unix_time(uploaded, "uploaded_at")
        return parts
    return _parts(data, None, None, _opt_zkb(zkb if zkb is not None else data.get("zkb")))


def _parts(esi: Any, outer_id: int | None, hash_: str | None, zkb: Zkb | None) -> Parts:
    if not isinstance(esi, Mapping):
        raise KillmailRejected(R.NOT_AN_OBJECT, f"killmail body is {_kind(esi)}")
    g = esi.get
    raw_time = g("killmail_time")
    e = R.INVALID_ENVELOPE
    return Parts(
        outer_id,
        _opt_int(g("killmail_id"), R.INVALID_KILLMAIL_ID, "killmail_id"),
        hash_,
        None if raw_time is None else _time(raw_time),
        _opt_int(g("solar_system_id"), R.INVALID_SYSTEM, "solar_system_id"),
        _victim(g("victim")),
        _attackers(g("attackers")),
        zkb,
        _opt_int(g("war_id"), e, "war_id"),
        _opt_int(g("moon_id"), e, "moon_id"),
    )


def _victim(raw: Any) -> Victim | None:
    if raw is None:
        return None
    v = R.INVALID_VICTIM
    if not isinstance(raw, Mapping):
        raise KillmailRejected(v, f"victim is {_kind(raw)}")
    g = raw.get
    ship = g("ship_type_id")
    if ship is None:
        raise KillmailRejected(R.MISSING_VICTIM_SHIP, "the victim has no ship_type_id")
    position = g("position")
    return Victim(
        _int(ship, v, "victim.ship_type_id"),
        _opt_int(g("character_id"), v, "victim.character_id"),
        _opt_int(g("corporation_id"), v, "victim.corporation_id"),
        _opt_int(g("alliance_id"), v, "victim.alliance_id"),
        _opt_int(g("faction_id"), v, "victim.faction_id"),
        _int_or(g("damage_taken"), v, "victim.damage_taken"),
        None if position is None else _position(position),
        _items(g("items")),
    )


def _attackers(raw: Any) -> tuple[Attacker, ...]:
    a = R.INVALID_ATTACKERS
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KillmailRejected(a, f"attackers is {_kind(raw)}")
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise KillmailRejected(a, f"an attacker is {_kind(entry)}")
        g = entry.get
        out.append(
            Attacker(
                _opt_int(g("character_id"), a, "attacker.character_id"),
                _opt_int(g("corporation_id"), a, "attacker.corporation_id"),
                _opt_int(g("alliance_id"), a, "attacker.alliance_id"),
                _opt_int(g("faction_id"), a, "attacker.faction_id"),
                _opt_int(g("ship_type_id"), a, "attacker.ship_type_id"),
                _opt_int(g("weapon_type_id"), a, "attacker.weapon_type_id"),
                _int_or(g("damage_done"), a, "attacker.damage_done"),
                _bool(g("final_blow"), a, "attacker.final_blow"),
                _float_or(g("security_status"), a, "attacker.security_status"),
            )
        )
    return tuple(out)


def _items(raw: Any) -> tuple[Item, ...]:
    i = R.INVALID_ITEMS
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KillmailRejected(i, f"items is {_kind(raw)}")
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise KillmailRejected(i, f"an item is {_kind(entry)}")
        g = entry.get
        type_id = g("item_type_id")
        if type_id is None:
            raise KillmailRejected(i, "an item has no item_type_id")
        out.append(
            Item(
                _int(type_id, i, "item.item_type_id"),
                _int_or(g("flag"), i, "item.flag"),
                _int_or(g("quantity_destroyed"), i, "item.quantity_destroyed"),
                _int_or(g("quantity_dropped"), i, "item.quantity_dropped"),
                _int_or(g("singleton"), i, "item.singleton"),
                _items(g("items")),
            )
        )
    return tuple(out)


def _opt_zkb(raw: Any) -> Zkb | None:
    if raw is None:
        return None
    z = R.INVALID_ZKB
    if not isinstance(raw, Mapping):
        raise KillmailRejected(z, f"zkb is {_kind(raw)}")
    g = raw.get
    labels = g("labels")
    if labels is None:
        labels = ()
    elif not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
        raise KillmailRejected(z, "zkb.labels must be a list of strings")
    return Zkb(
        _opt_int(g("locationID"), z, "zkb.locationID"),
        _opt_float(g("fittedValue"), z, "zkb.fittedValue"),
        _opt_float(g("droppedValue"), z, "zkb.droppedValue"),
        _opt_float(g("destroyedValue"), z, "zkb.destroyedValue"),
        _opt_float(g("totalValue"), z, "zkb.totalValue"),
        _opt_int(g("points"), z, "zkb.points"),
        _bool(g("npc"), z, "zkb.npc"),
        _bool(g("solo"), z, "zkb.solo"),
        _bool(g("awox"), z, "zkb.awox"),
        tuple(labels),
        _opt_str(g("href"), z, "zkb.href"),
        _opt_str(g("hash"), z, "zkb.hash"),
    )


def _position(raw: Any) -> Position:
    v = R.INVALID_VICTIM
    if not isinstance(raw, Mapping):
        raise KillmailRejected(v, f"victim.position is {_kind(raw)}")
    g = raw.get
    return Position(
        _float_or(g("x"), v, "position.x"),
        _float_or(g("y"), v, "position.y"),
        _float_or(g("z"), v, "position.z"),
    )


# --- scalars: each returns a clean value or rejects naming the field ---


def _int(value: Any, reason: R, field: str) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise KillmailRejected(reason, f"{field} must be an integer, got {_show(value)}")


def _opt_int(value: Any, reason: R, field: str) -> int | None:
    return None if value is None else _int(value, reason, field)


def _int_or(value: Any, reason: R, field: str) -> int:
    return 0 if value is None else _int(value, reason, field)


def _opt_float(value: Any, reason: R, field: str) -> float | None:
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise KillmailRejected(reason, f"{field} must be a number, got {_show(value)}")


def _float_or(value: Any, reason: R, field: str) -> float:
    result = _opt_float(value, reason, field)
    return 0.0 if result is None else result


def _opt_str(value: Any, reason: R, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise KillmailRejected(reason, f"{field} must be a string, got {_show(value)}")


def _bool(value: Any, reason: R, field: str) -> bool:
    if value is None:
        return False
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):  # some re-serialisers wrote 0/1
        return bool(value)
    raise KillmailRejected(reason, f"{field} must be true or false, got {_show(value)}")


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise KillmailRejected(R.INVALID_TIME, f"killmail_time must be text, got {_show(value)}")
    try:
        # Takes "2018-12-15T01:19:06Z" and the re-serialised "2018-12-15 01:19:06" alike.
        return datetime.fromisoformat(value)
    except ValueError:
        raise KillmailRejected(R.INVALID_TIME, f"not a time: {_show(value)}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _show(value: Any) -> str:
    # Bounded: a hostile payload's value may be huge, deeply nested or an int too long to print.
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):
        text = f"a {type(value).__name__} too large to show"
    return text if len(text) <= 40 else text[:37] + "..."
