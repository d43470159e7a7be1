"""The facade slash commands call: add, list, change, pause, test subscriptions.

Commands never see SQL or the matcher. Every method checks what the caller may touch (a
server only its own channels' subscriptions, a member only their own DMs), validates the
filter and the options, writes the store and keeps the matcher exact, all or nothing: a
matcher change made inside a transaction is undone if the transaction does not commit.

The matcher holds each active subscription's *effective* tree: the stored filter with the
options folded in (see :func:`engine.subscriptions.options.with_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from engine.filters import (
    AllOf,
    AnyOf,
    Atlas,
    EntityLookup,
    FilterError,
    Leaf,
    Matcher,
    Node,
    Not,
    Ranges,
    Subscription,
    load,
    parse,
    render,
    to_json,
    validate,
)
from engine.filters.compile import compile_tree
from engine.filters.fields import FIELDS
from engine.filters.names import ENTITY_KINDS
from engine.filters.tree import leaves
from engine.model import EnrichedKill
from engine.store.database import Database
from engine.store.guilds import (
    SERVER_PAUSED_REASON,
    GuildSettingsRepository,
    StoredGuildSettings,
)
from engine.store.records import StoredSubscription
from engine.store.repositories import Clock, utc_now
from engine.store.subscriptions import SubscriptionRepository, dm_destination
from engine.subscriptions.errors import (
    InvalidBatch,
    LimitReached,
    NotYours,
    SubscriptionError,
    SubscriptionNotFound,
)
from engine.subscriptions.options import (
    SubscriptionOptions,
    check_options,
    is_dm,
    with_options,
)
from engine.subscriptions.watch import PRESETS, WatchArgs, preset_tree

__all__ = [
    "UNSET",
    "LoadResult",
    "NewSubscription",
    "Preview",
    "SubscriptionView",
    "Subscriptions",
    "Unset",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    id: int
    destination: str  # "channel:<id>" or "user:<id>"
    guild_id: int | None  # None for DMs
    owner_id: int
    filter_text: str  # the stored filter rendered as text, names in place of ids
    filter: dict[str, Any]  # the stored JSON tree (for export)
    text: str | None  # the filter as it was typed, when it was typed
    preset: str | None
    options: SubscriptionOptions
    paused: bool
    pause_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Posting:
    """How one subscription's matches are posted, for the sender (no I/O to ask it).

    ``watched`` are the characters/corporations/alliances/factions its filter asks for by id
    (positively, not under a ``not``): a kill where they shot is theirs, where they died is a
    loss, which is how a post is coloured.
    """

    style: str
    mention: str | None
    cooldown: int
    watched: dict[str, frozenset[int]]


@dataclass(frozen=True, slots=True)
class Preview:
    """How many of the given kills the filter matches, and the first few of them."""

    count: int
    first: list[EnrichedKill]


@dataclass(frozen=True, slots=True)
class LoadResult:
    loaded: int
    broken: tuple[int, ...]  # active subscriptions whose stored filter no longer validates


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """One subscription for :meth:`Subscriptions.create_many`: the arguments of
    :meth:`Subscriptions.create`, plus whether it starts paused (and why), and whether options
    left None take the server's defaults (an import keeps exactly what was exported). Given
    both, ``tree`` is the filter and ``text`` is kept as the form it was once typed in."""

    destination: str
    guild_id: int | None
    owner_id: int
    text: str | None = None
    tree: Node | None = None
    preset: str | None = None
    style: str | None = None
    mention: str | None = None
    cooldown: int = 900
    max_age: int | None = None
    min_value: float | None = None
    paused: bool = False
    pause_reason: str | None = None
    server_defaults: bool = True


@dataclass(frozen=True, slots=True)
class _Ready:
    new: NewSubscription
    node: Node
    options: SubscriptionOptions
    effective: Node
    pause_reason: str | None  # None: it starts active


class Unset(enum.Enum):
    UNSET = "unset"


UNSET: Final = Unset.UNSET
"""For :meth:`Subscriptions.edit`: leave this option as it is (``None`` clears it)."""


class Subscriptions:
    """Subscriptions in the store and in the matcher, kept in step.

    ``ranges`` must be what the matcher was built with (``Distances``): previews compile
    filters with it. ``names`` gives character/corporation/alliance names for rendering
    filters (ids it does not know print as numbers). Mutations are serialised: one process
    owns the matcher. Scope: methods about one subscription take ``guild_id`` (a server's
    command: the subscription must be one of that server's channels') or, when ``guild_id``
    is None, ``owner_id`` (a member's ``/dm`` command: it must be that member's DMs).
    """

    def __init__(
        self,
        database: Database,
        matcher: Matcher,
        atlas: Atlas,
        *,
        ranges: Ranges,
        entities: EntityLookup | None = None,
        names: Callable[[int], str | None] | None = None,
        dm_limit: int = 10,
        destination_limit: int = 100,
        clock: Clock = utc_now,
    ) -> None:
        self._database = database
        self._matcher = matcher
        self._atlas = atlas
        self._ranges = ranges
        self._entities = entities
        self._names = names
        self._dm_limit = dm_limit
        self._destination_limit = destination_limit
        self._clock = clock
        self._lock = asyncio.Lock()
        self._postings: dict[int, Posting] = {}
        self._on_resume: list[Callable[[str], object]] = []

    # -- start ------------------------------------------------------------------------------

    async def load(self, holds: Callable[[int | None], bool] | None = None) -> LoadResult:
        """Put every active subscription into the matcher (at start, before kills flow).

        A stored filter that no longer validates (the universe data changed) is left out and
        logged, not fatal: the others still load. `holds(guild_id)` (None for DMs) keeps only
        the subscriptions this process serves, when several bot processes share the store.
        """
        async with self._lock:
            async with self._database.session() as session:
                rows = await SubscriptionRepository(session).all_active()
            if holds is not None:
                rows = [row for row in rows if holds(row.guild_id)]
            broken: list[int] = []
            for row in rows:
                try:
                    tree = self._effective(row)
                except FilterError as exc:
                    log.warning("subscription %d not loaded, its filter is invalid: %s",
                                row.id, exc)
                    broken.append(row.id)
                    continue
                self._matcher.add(Subscription(row.id, row.destination, tree))
                self._remember(row)
        log.info("loaded %d subscriptions into the matcher", len(rows) - len(broken))
        return LoadResult(len(rows) - len(broken), tuple(broken))

    # -- create, change, remove -------------------------------------------------------------

    async def create(
        self,
        destination: str,
        guild_id: int | None,
        owner_id: int,
        *,
        text: str | None = None,
        tree: Node | None = None,
        preset: str | None = None,
        style: str | None = None,
        mention: str | None = None,
        cooldown: int = 900,
        max_age: int | None = None,
        min_value: float | None = None,
    ) -> SubscriptionView:
        """A new subscription from filter ``text`` or a ``tree`` (exactly one of them).

        ``destination`` is ``"channel:<id>"`` (``guild_id`` is the channel's server) or the
        owner's own ``"user:<id>"`` (DMs; ``guild_id`` is not stored for those). For a
        channel, ``style``, ``max_age`` and ``min_value`` left None take the server's defaults
        (``/killwatch config``), and a subscription made while the server is paused starts
        paused.
        """
        if (text is None) == (tree is None):
            raise ValueError("give the filter as text or as a tree, exactly one of them")
        new = NewSubscription(
            destination, guild_id, owner_id, text=text, tree=tree, preset=preset, style=style,
            mention=mention, cooldown=cooldown, max_age=max_age, min_value=min_value,
        )
        ready = await self._prepare(new, await self._server(new, {}))
        async with self._transaction() as (repo, matcher):
            row = await self._add(repo, matcher, ready)
        log.info("subscription %d created for %s", row.id, destination)
        return self._view(row)

    async def create_many(self, batch: Sequence[NewSubscription]) -> tuple[SubscriptionView, ...]:
        """Several new subscriptions (an import), all or none: every one is checked before any
        is written, then all are written in one transaction. :class:`InvalidBatch` lists each
        one that cannot be made, by its position in ``batch``."""
        servers: dict[int, StoredGuildSettings] = {}
        ready: list[_Ready] = []
        problems: list[tuple[int, Exception]] = []
        for index, new in enumerate(batch):
            try:
                ready.append(await self._prepare(new, await self._server(new, servers)))
            except (FilterError, SubscriptionError) as exc:
                problems.append((index, exc))
        if problems:
            raise InvalidBatch(problems)
        rows: list[StoredSubscription] = []
        async with self._transaction() as (repo, matcher):
            for index, one in enumerate(ready):
                try:
                    rows.append(await self._add(repo, matcher, one))
                except LimitReached as exc:
                    raise InvalidBatch([(index, exc)]) from exc
        log.info("%d subscriptions created at once", len(rows))
        return tuple(map(self._view, rows))

    async def watch(
        self,
        destination: str,
        guild_id: int | None,
        owner_id: int,
        preset: str,
        args: WatchArgs | None = None,
        *,
        style: str | None = None,
        mention: str | None = None,
        cooldown: int = 900,
        max_age: int | None = None,
        min_value: float | None = None,
    ) -> SubscriptionView:
        """A subscription from a ``/watch`` preset (:data:`PRESETS`): :meth:`preset_tree`,
        then :meth:`create`."""
        node = await self.preset_tree(preset, args)
        return await self.create(
            destination, guild_id, owner_id, tree=node, preset=preset, style=style,
            mention=mention, cooldown=cooldown, max_age=max_age, min_value=min_value,
        )

    async def preset_tree(self, preset: str, args: WatchArgs | None = None) -> Node:
        """The filter a ``/watch`` preset makes from its arguments (names resolved)."""
        return await preset_tree(preset, args or WatchArgs(), self._atlas, self._entities)

    async def edit(
        self,
        subscription_id: int,
        *,
        guild_id: int | None = None,
        owner_id: int | None = None,
        text: str | None = None,
        tree: Node | None = None,
        style: str | Unset = UNSET,
        mention: str | Unset | None = UNSET,
        cooldown: int | Unset = UNSET,
        max_age: int | Unset | None = UNSET,
        min_value: float | Unset | None = UNSET,
    ) -> SubscriptionView:
        """Change the filter (``text`` or ``tree``; neither keeps it) and/or options (those
        left :data:`UNSET` keep their value). A new filter drops the preset label."""
        node = None if text is None and tree is None else await self._filter(text, tree)
        async with self._transaction() as (repo, matcher):
            row = await self._owned(repo, subscription_id, guild_id, owner_id)
            options = check_options(
                is_dm(row.destination),
                row.style if style is UNSET else style,
                row.mention if mention is UNSET else mention,
                row.mention_cooldown_seconds if cooldown is UNSET else cooldown,
                row.max_age_minutes if max_age is UNSET else max_age,
                row.min_value if min_value is UNSET else min_value,
            )
            if node is None:
                node = load(row.filter, self._atlas)
                changes: dict[str, Any] = {}
            else:
                changes = {"filter": to_json(node), "text": text, "preset": None}
            effective = with_options(node, options)
            updated = await repo.update(
                subscription_id,
                **changes,
                style=options.style,
                mention=options.mention,
                mention_cooldown_seconds=options.cooldown,
                max_age_minutes=options.max_age,
                min_value=options.min_value,
            )
            # Only this facade writes subscriptions, under its lock: the row is still there.
            assert updated is not None
            if not updated.paused:
                matcher.put(Subscription(updated.id, updated.destination, effective))
                self._remember(updated)
        return self._view(updated)

    async def remove(
        self, subscription_id: int, *, guild_id: int | None = None, owner_id: int | None = None
    ) -> SubscriptionView:
        """Delete a subscription; returns what it was."""
        async with self._transaction() as (repo, matcher):
            row = await self._owned(repo, subscription_id, guild_id, owner_id)
            await repo.delete(subscription_id)
            matcher.drop(subscription_id)
        log.info("subscription %d removed from %s", subscription_id, row.destination)
        return self._view(row)

    async def pause(
        self,
        subscription_id: int,
        *,
        guild_id: int | None = None,
        owner_id: int | None = None,
        reason: str | None = None,
    ) -> SubscriptionView:
        """Stop matching a subscription until :meth:`resume`; pausing twice is harmless."""
        async with self._transaction() as (repo, matcher):
            await self._owned(repo, subscription_id, guild_id, owner_id)
            await repo.pause([subscription_id], reason or "paused by a member")
            matcher.drop(subscription_id)
            row = await repo.get(subscription_id)
            assert row is not None
        return self._view(row)

    async def resume(
        self, subscription_id: int, *, guild_id: int | None = None, owner_id: int | None = None
    ) -> SubscriptionView:
        """Match a paused subscription again (its stored filter is validated anew)."""
        async with self._transaction() as (repo, matcher):
            row = await self._owned(repo, subscription_id, guild_id, owner_id)
            effective = self._effective(row)
            resumed = await repo.resume(subscription_id)
            assert resumed is not None
            matcher.put(Subscription(resumed.id, resumed.destination, effective))
            self._remember(resumed)
        for listener in self._on_resume:
            outcome = listener(resumed.destination)
            if inspect.isawaitable(outcome):
                await outcome
        return self._view(resumed)

    def on_resume(self, listener: Callable[[str], object]) -> None:
        """Call (and await, if it is a coroutine function) `listener(destination)` after a
        subscription is resumed: a destination given up on (its channel was gone) may be
        served again."""
        self._on_resume.append(listener)

    async def pause_destination(self, destination: str, reason: str) -> list[int]:
        """Pause every active subscription of a destination Discord refuses (the channel is
        gone or closed to us: 403/404, or DMs closed: 50007). Returns the ids paused now."""
        async with self._transaction() as (repo, matcher):
            paused = await repo.pause(destination, reason)
            for subscription_id in paused:
                matcher.drop(subscription_id)
        if paused:
            log.warning("paused %d subscription(s) of %s: %s", len(paused), destination, reason)
        return paused

    # -- read -------------------------------------------------------------------------------

    async def show(
        self, subscription_id: int, *, guild_id: int | None = None, owner_id: int | None = None
    ) -> SubscriptionView:
        async with self._database.session() as session:
            row = await self._owned(
                SubscriptionRepository(session), subscription_id, guild_id, owner_id
            )
        return self._view(row)

    async def list(self, destination: str) -> tuple[SubscriptionView, ...]:
        """The subscriptions of one channel or one member's DMs, oldest first."""
        async with self._database.session() as session:
            rows = await SubscriptionRepository(session).for_destination(destination)
        return tuple(map(self._view, rows))

    async def list_guild(self, guild_id: int) -> tuple[SubscriptionView, ...]:
        """Every subscription of the server's channels, oldest first."""
        async with self._database.session() as session:
            rows = await SubscriptionRepository(session).for_guild(guild_id)
        return tuple(map(self._view, rows))

    async def list_dms(self, owner_id: int) -> tuple[SubscriptionView, ...]:
        return await self.list(dm_destination(owner_id))

    async def preview(
        self,
        text_or_tree: str | Node,
        kills: Iterable[EnrichedKill],
        now: datetime | float,
        *,
        max_age: int | None = None,
        min_value: float | None = None,
        first: int = 5,
    ) -> Preview:
        """What a filter (with these options) would have matched among ``kills`` (the caller
        passes e.g. the last 24 h, in the order it wants ``first`` from). The matcher is not
        touched. ``now`` (a datetime or POSIX seconds) is when ``age_minutes`` is measured."""
        options = check_options(False, "full", None, 0, max_age, min_value)
        if isinstance(text_or_tree, str):
            node = await self._filter(text_or_tree, None)
        else:
            node = await self._filter(None, text_or_tree)
        predicate = compile_tree(with_options(node, options), self._ranges)
        when = now.timestamp() if isinstance(now, datetime) else now
        count = 0
        shown: list[EnrichedKill] = []
        for kill in kills:
            if predicate(kill, when):
                count += 1
                if len(shown) < first:
                    shown.append(kill)
        return Preview(count, shown)

    # -- helpers ----------------------------------------------------------------------------

    async def _filter(self, text: str | None, tree: Node | None) -> Node:
        if (text is None) == (tree is None):
            raise ValueError("give the filter as text or as a tree, exactly one of them")
        if text is not None:
            return await parse(text, self._atlas, self._entities)
        assert tree is not None
        return validate(tree, self._atlas)

    async def _server(
        self, new: NewSubscription, seen: dict[int, StoredGuildSettings]
    ) -> StoredGuildSettings | None:
        """The settings of the server a channel subscription is for (None for DMs)."""
        if new.guild_id is None or is_dm(new.destination):
            return None
        if new.guild_id not in seen:
            async with self._database.session() as session:
                seen[new.guild_id] = await GuildSettingsRepository(session).get(new.guild_id)
        return seen[new.guild_id]

    async def _prepare(self, new: NewSubscription, server: StoredGuildSettings | None) -> _Ready:
        """Checked, with the server's defaults applied: what :meth:`_add` writes."""
        dm = is_dm(new.destination)
        if dm and new.destination != dm_destination(new.owner_id):
            raise NotYours("You can only subscribe your own DMs.")
        if not dm and new.guild_id is None:
            raise ValueError(f"a channel subscription needs its guild_id ({new.destination})")
        if new.preset is not None and new.preset not in PRESETS:
            raise ValueError(
                f"unknown preset label {new.preset!r}; use one of {', '.join(PRESETS)}"
            )
        style, max_age, min_value = new.style, new.max_age, new.min_value
        if server is not None and new.server_defaults:
            style = style or server.default_style
            max_age = server.default_max_age_minutes if max_age is None else max_age
            min_value = server.default_min_value if min_value is None else min_value
        options = check_options(dm, style or "full", new.mention, new.cooldown, max_age, min_value)
        node = await self._filter(new.text if new.tree is None else None, new.tree)
        reason = new.pause_reason if new.paused else None
        if reason is None and server is not None and server.paused:
            reason = SERVER_PAUSED_REASON
        return _Ready(new, node, options, with_options(node, options), reason)

    async def _add(
        self, repo: SubscriptionRepository, matcher: _Staged, ready: _Ready
    ) -> StoredSubscription:
        new, options = ready.new, ready.options
        dm = is_dm(new.destination)
        await self._check_room(repo, new.destination, new.owner_id, dm)
        row = await repo.add(
            destination=new.destination,
            guild_id=None if dm else new.guild_id,
            owner_id=new.owner_id,
            filter=to_json(ready.node),
            text=new.text,
            preset=new.preset,
            style=options.style,
            mention=options.mention,
            mention_cooldown_seconds=options.cooldown,
            max_age_minutes=options.max_age,
            min_value=options.min_value,
            paused=ready.pause_reason is not None,
            pause_reason=ready.pause_reason,
        )
        if not row.paused:
            matcher.put(Subscription(row.id, new.destination, ready.effective))
            self._remember(row)
        return row

    def _effective(self, row: StoredSubscription) -> Node:
        options = SubscriptionOptions(max_age=row.max_age_minutes, min_value=row.min_value)
        return with_options(load(row.filter, self._atlas), options)

    async def _check_room(
        self, repo: SubscriptionRepository, destination: str, owner_id: int, dm: bool
    ) -> None:
        if dm:
            count = await repo.count_for_owner_dms(owner_id)
            if count >= self._dm_limit:
                raise LimitReached(
                    f"You already have {count} DM subscriptions, the most allowed is "
                    f"{self._dm_limit}. Remove one with /dm remove first."
                )
            return
        count = await repo.count_for_destination(destination)
        if count >= self._destination_limit:
            raise LimitReached(
                f"This channel already has {count} subscriptions, the most allowed is "
                f"{self._destination_limit}. Remove one with /sub remove, or combine "
                "filters with `or` in one subscription."
            )

    async def _owned(
        self,
        repo: SubscriptionRepository,
        subscription_id: int,
        guild_id: int | None,
        owner_id: int | None,
    ) -> StoredSubscription:
        if guild_id is None and owner_id is None:
            raise ValueError("say whose subscription it is: guild_id or owner_id")
        row = await repo.get(subscription_id)
        if row is None:
            raise SubscriptionNotFound(
                f"There is no subscription #{subscription_id}; "
                + ("/sub list" if guild_id is not None else "/dm list")
                + " shows the ids."
            )
        if guild_id is not None:
            if row.guild_id != guild_id:
                raise NotYours(
                    f"Subscription #{subscription_id} is not one of this server's; "
                    "/sub list shows this server's subscriptions."
                )
        elif owner_id is None or row.destination != dm_destination(owner_id):
            raise NotYours(
                f"Subscription #{subscription_id} is not one of your DM subscriptions; "
                "/dm list shows yours."
            )
        return row

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[SubscriptionRepository, _Staged]]:
        """One transaction, and matcher changes that are undone unless it commits."""
        async with self._lock:
            staged = _Staged(self._matcher)
            try:
                async with self._database.session() as session, session.begin():
                    yield SubscriptionRepository(session, clock=self._clock), staged
            except BaseException:
                staged.undo()
                raise

    def posting(self, subscription_id: int) -> Posting | None:
        """How to post for a subscription in the matcher; None for one never loaded."""
        return self._postings.get(subscription_id)

    def _remember(self, row: StoredSubscription) -> None:
        watched: dict[str, set[int]] = {kind: set() for kind in _WATCHED}
        with contextlib.suppress(FilterError):
            _collect_watched(load(row.filter, self._atlas), watched, negated=False)
        self._postings[row.id] = Posting(
            row.style,
            row.mention,
            row.mention_cooldown_seconds,
            {kind: frozenset(ids) for kind, ids in watched.items()},
        )

    def _view(self, row: StoredSubscription) -> SubscriptionView:
        try:
            node = load(row.filter)
            shown = render(node, self._atlas, self._entity_names(node))
        except FilterError:  # a listing must not fail on one broken row: show what was typed
            shown = row.text or str(row.filter)
        return SubscriptionView(
            id=row.id,
            destination=row.destination,
            guild_id=row.guild_id,
            owner_id=row.owner_id,
            filter_text=shown,
            filter=row.filter,
            text=row.text,
            preset=row.preset,
            options=SubscriptionOptions(
                row.style, row.mention, row.mention_cooldown_seconds, row.max_age_minutes,
                row.min_value,
            ),
            paused=row.paused,
            pause_reason=row.pause_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _entity_names(self, node: Node) -> dict[int, str]:
        if self._names is None:
            return {}
        ids: set[int] = set()
        for leaf in leaves(node):
            if FIELDS[leaf.field].ids in ENTITY_KINDS:
                values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
                ids.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
        found = {entity_id: self._names(entity_id) for entity_id in ids}
        return {entity_id: name for entity_id, name in found.items() if name is not None}


_WATCHED: Final = ("character", "corporation", "alliance", "faction")
_POSITIVE_OPS: Final = frozenset({"eq", "in", "contains", "contains_any"})


def _collect_watched(node: Node, watched: dict[str, set[int]], *, negated: bool) -> None:
    if isinstance(node, Not):
        _collect_watched(node.child, watched, negated=not negated)
    elif isinstance(node, AllOf | AnyOf):
        for child in node.children:
            _collect_watched(child, watched, negated=negated)
    elif isinstance(node, Leaf) and not negated and node.op in _POSITIVE_OPS:
        kind = FIELDS[node.field].ids
        if kind in watched:
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            watched[kind].update(
                v for v in values if isinstance(v, int) and not isinstance(v, bool)
            )


class _Staged:
    """Matcher changes made inside a transaction, with what undoes each."""

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self._before: list[tuple[int, Subscription | None]] = []

    def put(self, subscription: Subscription) -> None:
        self._before.append((subscription.id, self._matcher.get(subscription.id)))
        self._matcher.add(subscription)

    def drop(self, subscription_id: int) -> None:
        self._before.append((subscription_id, self._matcher.get(subscription_id)))
        self._matcher.remove(subscription_id)

    def undo(self) -> None:
        for subscription_id, before in reversed(self._before):
            if before is None:
                self._matcher.remove(subscription_id)
            else:
                self._matcher.add(before)
        self._before.clear()
