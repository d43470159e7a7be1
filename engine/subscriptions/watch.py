"""The ``/watch`` presets by name: each turns a few arguments into a filter tree.

The trees come from :mod:`engine.filters.presets`; what this adds is reading the arguments a
member types, names included: systems, regions, ship groups, factions and NPC corporations
through the universe, characters, corporations and alliances through the entity lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from engine.filters import Atlas, EntityLookup, FilterError, Node, presets
from engine.filters.fields import IdKind
from engine.filters.lexer import parse_number
from engine.filters.names import describe, find_id, known, suggest_name
from engine.subscriptions.errors import InvalidOption, UnknownName

__all__ = ["PRESETS", "EntityKind", "Side", "WatchArgs", "preset_tree"]

EntityKind: TypeAlias = Literal["character", "corporation", "alliance", "faction"]
Side: TypeAlias = Literal["both", "kills", "losses"]
_KINDS: Final[Mapping[str, EntityKind]] = {
    "character": "character", "corporation": "corporation", "alliance": "alliance",
    "faction": "faction",
}


@dataclass(frozen=True, slots=True)
class WatchArgs:
    """Arguments of the ``/watch`` presets; each preset reads the ones it needs.

    Names resolve through the universe (systems, regions, ship groups, factions, NPC
    corporations) and the entity lookup (characters, corporations, alliances); a number
    (or a string of digits) is taken as an id.
    """

    entity: str | int | None = None  # entity
    kind: EntityKind | None = None  # entity: None looks the name up in every kind
    side: Side = "both"  # entity
    system: str | int | None = None  # proximity, radar
    jumps: int = 5  # proximity
    lightyears: float = 7.0  # radar
    ship_groups: tuple[str | int, ...] = ()  # radar; empty: capitals and supercapitals
    min_isk: float | str = 10_000_000_000  # bigkills: a number or "10b"
    region: str | int | None = None  # bigkills, optional


PRESETS: Final[Mapping[str, str]] = {
    "entity": "kills and/or losses of a character, corporation, alliance or faction",
    "proximity": "kills within N stargate jumps of a system",
    "radar": "capitals attacking within N light years of a system",
    "bigkills": "kills worth at least an ISK value, optionally in one region",
    "ganks": "freighters and jump freighters killed in highsec",
    "supers": "titans and supercarriers lost anywhere",
}


class _Resolver:
    """Preset arguments (names or ids) to ids, with a "did you mean" on a miss."""

    def __init__(self, atlas: Atlas, entities: EntityLookup | None) -> None:
        self._atlas = atlas
        self._entities = entities

    def static(self, kind: IdKind, value: str | int | None, preset: str) -> int:
        noun = describe(kind)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidOption(f"`/watch {preset}` needs a {noun}.")
        number = _as_id(value)
        if number is not None:
            if not known(self._atlas, kind, number):
                raise UnknownName(f"There is no {noun} with id {number}.")
            return number
        name = str(value).strip()
        found = find_id(self._atlas, kind, name)
        if found is None:
            close = suggest_name(self._atlas, kind, name)
            hint = f" Did you mean “{close}”?" if close else ""
            raise UnknownName(f"There is no {noun} named “{name}”.{hint}")
        return found

    async def entity(
        self, value: str | int | None, kind: EntityKind | None
    ) -> tuple[EntityKind, int]:
        if kind is not None and kind not in _KINDS:
            raise InvalidOption(f"Unknown kind “{kind}”: use character, corporation, "
                                "alliance or faction.")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise InvalidOption("`/watch entity` needs a character, corporation, alliance "
                                "or faction.")
        number = _as_id(value)
        if number is not None:
            if kind is None:
                raise InvalidOption(f"Say whether {number} is a character, corporation, "
                                    "alliance or faction, or give the name instead.")
            return kind, number
        name = str(value).strip()
        found: dict[tuple[EntityKind, int], None] = {}
        local: EntityKind
        for local in ("faction", "corporation"):  # NPC corporations are in the universe
            local_id = find_id(self._atlas, local, name) if kind in (None, local) else None
            if local_id is not None:
                found[(local, local_id)] = None
        if self._entities is not None and kind != "faction":
            answer = await self._entities.lookup([name])
            for category, entity_id in answer.get(name.lower(), ()):
                # ESI spells them in the plural ("alliances").
                found_kind = _KINDS.get(category.removesuffix("s"))
                if found_kind is not None and kind in (None, found_kind):
                    found[(found_kind, entity_id)] = None
        if not found:
            wanted = kind or "character, corporation, alliance or faction"
            offline = "" if self._entities is not None else " (names are not looked up here: " \
                "give the id and the kind)"
            raise UnknownName(f"No {wanted} is named “{name}”{offline}.")
        if len(found) > 1:
            kinds = " and ".join(sorted({k for k, _ in found}))
            raise UnknownName(f"“{name}” names more than one {kinds}: choose the kind.")
        ((found_kind, found_id),) = found
        return found_kind, found_id


async def _entity(resolve: _Resolver, args: WatchArgs) -> Node:
    kind, entity_id = await resolve.entity(args.entity, args.kind)
    build = {"both": presets.kills_and_losses, "kills": presets.kills,
             "losses": presets.losses}.get(args.side)
    if build is None:
        raise InvalidOption(f"Unknown side “{args.side}”: use both, kills or losses.")
    return build(kind, entity_id)


async def _proximity(resolve: _Resolver, args: WatchArgs) -> Node:
    return presets.proximity([resolve.static("system", args.system, "proximity")], args.jumps)


async def _radar(resolve: _Resolver, args: WatchArgs) -> Node:
    system = resolve.static("system", args.system, "radar")
    groups = tuple(resolve.static("group", g, "radar") for g in args.ship_groups)
    return presets.capital_radar(system, args.lightyears, groups or presets.CAPITAL_GROUPS)


async def _big_kills(resolve: _Resolver, args: WatchArgs) -> Node:
    isk = args.min_isk if not isinstance(args.min_isk, str) else parse_number(args.min_isk)
    if isk is None or isk < 0:
        raise InvalidOption(f"“{args.min_isk}” is not an ISK value: write e.g. 10b or 500m.")
    region = None if args.region is None else resolve.static("region", args.region, "bigkills")
    return presets.big_kills(isk, region)


async def _ganks(_resolve: _Resolver, _args: WatchArgs) -> Node:
    return presets.freighter_ganks()


async def _supers(_resolve: _Resolver, _args: WatchArgs) -> Node:
    return presets.supercapital_losses()


_BUILDERS: Final[Mapping[str, Callable[[_Resolver, WatchArgs], Awaitable[Node]]]] = {
    "entity": _entity,
    "proximity": _proximity,
    "radar": _radar,
    "bigkills": _big_kills,
    "ganks": _ganks,
    "supers": _supers,
}


def _as_id(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip()
    # ASCII digits only (int("²") raises), and no more than a 64-bit id column holds: a
    # longer number is taken as a name, which then names nothing.
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    number = int(text)
    return number if number < 2**63 else None


async def preset_tree(
    preset: str, args: WatchArgs, atlas: Atlas, entities: EntityLookup | None = None
) -> Node:
    """The filter ``preset`` (a key of :data:`PRESETS`) makes from ``args``, names resolved.

    Raises :class:`InvalidOption` for a missing or impossible argument and
    :class:`UnknownName` for a name that resolves to nothing (or to several kinds).
    """
    build = _BUILDERS.get(preset)
    if build is None:
        raise InvalidOption(f"Unknown preset “{preset}”: use one of {', '.join(PRESETS)}.")
    try:
        return await build(_Resolver(atlas, entities), args)
    except FilterError:
        raise
    except ValueError as exc:  # the preset functions refuse empty lists this way
        raise InvalidOption(str(exc)) from exc
