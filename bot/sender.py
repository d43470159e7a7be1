"""The Discord sender: posts what the outbox owes a channel or a DM, paced, packed, once.

`DiscordSender` implements `engine.dispatch.sender.Sender` with a running discord.py client:

- a destination is ``channel:<id>`` (the cached channel, else a partial one: no lookup
  request) or ``user:<id>`` (the user's DM channel, opened once and kept);
- a kill is shown in the richest style its subscriptions ask for; a backlog is packed into
  as few messages as Discord allows; each message carries a nonce derived from its
  destination and first killmail, so a send repeated after a lost answer or a crash posts
  once (Discord answers a known nonce with the message it made; what that message shows is
  read back, so kills it does not show are posted after it);
- only a subscription's configured ping may ping, once per its cooldown;
- every request waits for the bot's global budget (`global_rate` per second); discord.py
  waits out each channel's own bucket from the headers it reads;
- a destination receiving more than `battle_threshold` kills in `battle_window` seconds gets
  one live battle summary, edited at most every `battle_edit_interval` seconds, until
  `battle_quiet` seconds pass without a kill; a kill folded into it is answered as sent once
  an edit shows it (a crash before that leaves it owed, not lost).

Use it as an async context manager (it owns the tasks that end live battle summaries):
``async with DiscordSender(client, options_for) as sender: ...``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import discord

from bot.battle_ledger import BattleLedger, SavedBattle
from bot.battle_mode import NOTICE, OVER, Battle, BattleWatch
from bot.pacing import Clock, Cooldowns, RequestBudget, Sleep
from bot.posts import (
    Post,
    PostOptions,
    allowed_mentions,
    kill_ids_in,
    mention_text,
    next_post,
    nonce_for,
    render,
)
from bot.render import battle_embed
from bot.render.battle import shown_count
from bot.send_errors import (
    RATE_LIMITED,
    UNKNOWN_MESSAGE,
    Verdict,
    missing_permissions,
    verdict,
)
from engine.dispatch.sender import Delivery, Failed, Gone, Outcome, Retry, Sent

__all__ = ["DiscordSender", "OptionsFor", "SenderStatus"]

log = logging.getLogger(__name__)

OptionsFor = Callable[[int], PostOptions | Awaitable[PostOptions | None] | None]
Target = discord.abc.Messageable


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SenderStatus:
    """What the sender has done since it started, for `/killwatch status`."""

    sent: int  # kills posted in their own (possibly packed) messages
    folded: int  # kills counted into a live battle summary instead
    messages: int
    edits: int
    failed: int
    retries: int
    rate_limited: int  # 429s Discord answered (discord.py waits most of them out itself)
    paced_seconds: float  # time spent waiting for the global request budget
    gone: dict[str, str] = field(default_factory=dict)  # destination -> why
    battles: tuple[str, ...] = ()  # destinations showing a live summary now


class _BadDestination(Exception):
    """A destination that names nothing Discord can post to."""


class _RateLimitLog(logging.Handler):
    """Counts the 429s discord.py meets: it waits them out itself and only logs them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("We are being rate limited"):
            self.count += 1


def _unlogged_429(error: discord.HTTPException) -> bool:
    """A 429 discord.py did not log: one without `Via`, which it takes for a Cloudflare ban."""
    response = error.response
    return error.status == 429 and (response is None or not response.headers.get("Via"))


class DiscordSender:
    def __init__(
        self,
        client: discord.Client,
        options_for: OptionsFor,
        *,
        global_rate: float = 40.0,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], datetime] = _utc_now,
        battle_threshold: int = 30,
        battle_window: float = 60.0,
        battle_edit_interval: float = 3.0,
        battle_quiet: float = 120.0,
        retry_delay: float = 5.0,
        ledger: BattleLedger | None = None,
    ) -> None:
        """`global_rate`: requests per second for the whole bot (Discord allows 50; the rest
        is headroom for commands). `options_for(subscription_id)`: how a subscription posts
        (None for one that no longer exists); may be a coroutine function. `retry_delay`:
        the wait asked for after a server error or a lost connection. `ledger`: where live
        summaries are written down, so that a restart shows no kill twice."""
        self._client = client
        self._options_for = options_for
        self._budget = RequestBudget(global_rate, burst=burst, clock=clock, sleep=sleep)
        self._cooldowns = Cooldowns(clock)
        self._watch = BattleWatch(
            threshold=battle_threshold, window=battle_window, quiet=battle_quiet, clock=clock
        )
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._edit_interval = battle_edit_interval
        self._tick = min(battle_edit_interval, battle_quiet) / 4
        self._retry_delay = retry_delay
        self._ledger = ledger
        # Summaries of an earlier run by destination, and the kills each shows (by message id)
        # once Discord was asked.
        self._saved: dict[str, list[SavedBattle]] = {}
        self._shown: dict[int, frozenset[int]] = {}
        self._dms: dict[int, discord.DMChannel] = {}
        self._gone: dict[str, str] = {}
        self._lost: dict[str, str] = {}  # found gone by a summary edit: told at the next send
        self._keepers: set[asyncio.Task[None]] = set()
        self._rate_log = _RateLimitLog()
        self._open = False
        self._sent = self._folded = self._messages = self._edits = 0
        self._failed = self._retries = self._rate_limited = 0

    # --- lifetime ---

    async def __aenter__(self) -> Self:
        if self._ledger is not None:
            self._saved = await self._ledger.load()
        logging.getLogger("discord.http").addHandler(self._rate_log)
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        keepers = list(self._keepers)
        for task in keepers:
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        # No last edit of live summaries: a kill folded in but not yet shown was not answered
        # as sent, so the next start delivers it; showing it now would count it twice.
        logging.getLogger("discord.http").removeHandler(self._rate_log)

    def status(self) -> SenderStatus:
        return SenderStatus(
            sent=self._sent,
            folded=self._folded,
            messages=self._messages,
            edits=self._edits,
            failed=self._failed,
            retries=self._retries,
            rate_limited=self._rate_limited + self._rate_log.count,
            paced_seconds=self._budget.waited,
            gone=dict(self._gone),
            battles=tuple(b.destination for b in self._watch.battles),
        )

    # --- the Sender protocol ---

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Post `deliveries` (oldest first) to `destination`; one outcome per delivery."""
        if not self._open:
            raise RuntimeError("DiscordSender is used inside `async with`")
        if not deliveries:
            return []
        ids = tuple(d.entry_id for d in deliveries)
        lost = self._lost.pop(destination, None)
        if lost is not None:
            return [self._answer(destination, Verdict("gone", lost), ids)]
        try:
            target = await self._target(destination)
        except _BadDestination as bad:
            return [self._answer(destination, Verdict("gone", str(bad)), ids)]
        except Exception as error:
            found = verdict(error, retry_delay=self._retry_delay)
            if found is None:
                raise
            return [self._answer(destination, found, ids)]
        outcomes: list[Outcome] = []
        if destination in self._saved:
            outcomes, deliveries = await self._shown_before(destination, target, deliveries)
            if not deliveries:
                return outcomes
        one_by_one, folded = self._watch.split(destination, deliveries)
        if one_by_one:
            outcomes += await self._post(destination, target, one_by_one)
        if folded:
            stop = next((o for o in outcomes if isinstance(o, Retry | Gone)), None)
            if stop is not None:
                outcomes.append(_same(stop, tuple(d.entry_id for d in folded)))
            else:
                outcomes.extend(await self._fold(destination, target, folded))
        if any(isinstance(o, Sent) for o in outcomes):
            self._gone.pop(destination, None)
        return outcomes

    async def post_message(
        self, destination: str, embeds: Sequence[discord.Embed], *, nonce: str
    ) -> discord.Message:
        """One message that owes nothing to the outbox (the weekly digest), paced under the
        same request budget as every post. Raises what discord.py raises (`verdict` reads
        it), or ValueError for a destination that names no text channel or DM."""
        if not self._open:
            raise RuntimeError("DiscordSender is used inside `async with`")
        try:
            target = await self._target(destination)
        except _BadDestination as bad:
            raise ValueError(str(bad)) from None
        await self._budget.take()
        try:
            return await target.send(
                embeds=list(embeds), nonce=nonce, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as error:
            if _unlogged_429(error):
                self._rate_limited += 1
            raise

    # --- posting ---

    async def _post(
        self,
        destination: str,
        target: Target,
        deliveries: Sequence[Delivery],
        *,
        nonce: str | None = None,
    ) -> list[Outcome]:
        """`nonce`: that of a live summary an earlier run may have posted showing these
        deliveries; the first message goes under it, and if Discord answers with that
        summary, they are all shown."""
        now = self._now()
        pending = [render(d, await self._options(d), now=now) for d in deliveries]
        outcomes: list[Outcome] = []
        isolate = 0  # items to post one per message: a packed message Discord refused

        def ready(mention: str, cooldown: float) -> bool:
            return self._cooldowns.ready(destination, mention, cooldown)

        while pending:
            post = next_post(destination, pending, ready, most=1 if isolate else None)
            isolate = max(isolate - 1, 0)
            if nonce is not None:
                post, nonce = replace(post, nonce=nonce), None
            try:
                message = await self._create(target, post)
            except Exception as error:
                missing = missing_permissions(target, embeds=bool(post.embeds))
                found = verdict(error, retry_delay=self._retry_delay, missing=missing)
                if found is None:
                    raise
                if found.kind == "failed" and len(post.items) > 1:
                    isolate = len(post.items)  # find the one Discord will not take
                    continue
                if found.kind == "failed":
                    outcomes.append(self._answer(destination, found, post.entry_ids))
                    pending = pending[1:]
                    continue
                remaining = tuple(item.delivery.entry_id for item in pending)
                outcomes.append(self._answer(destination, found, remaining))
                return outcomes
            if any(shown_count(e.to_dict()) is not None for e in message.embeds):
                # The summary made before the crash, showing them all.
                outcomes.append(Sent(tuple(i.delivery.entry_id for i in pending), message.id))
                self._folded += len(pending)
                return outcomes
            shown = kill_ids_in(message)
            if not any(item.kill_id in shown for item in post.items):
                shown = {item.kill_id for item in post.items}  # unreadable: take it as made
            done = tuple(item.delivery.entry_id for item in pending if item.kill_id in shown)
            for mention in post.pings:
                self._cooldowns.mark(destination, mention)
            outcomes.append(Sent(done, message.id))
            self._sent += len(done)
            self._messages += 1
            pending = [item for item in pending if item.kill_id not in shown]
        return outcomes

    async def _create(self, target: Target, post: Post) -> discord.Message:
        await self._budget.take()
        try:
            mentions = allowed_mentions(post.pings)
            if post.embeds:
                return await target.send(
                    post.content, embeds=post.embeds, nonce=post.nonce, allowed_mentions=mentions
                )
            return await target.send(post.content, nonce=post.nonce, allowed_mentions=mentions)
        except discord.HTTPException as error:
            if _unlogged_429(error):
                self._rate_limited += 1
            raise

    async def _options(self, delivery: Delivery) -> list[PostOptions]:
        found: list[PostOptions] = []
        for sid in delivery.subscription_ids:
            options = self._options_for(sid)
            if inspect.isawaitable(options):
                options = await options
            if options is not None:
                found.append(options)
        return found

    def _answer(self, destination: str, found: Verdict, ids: tuple[int, ...]) -> Outcome:
        if found.kind == "gone":
            log.warning("%s no longer takes posts: %s", destination, found.reason)
            self._gone[destination] = found.reason
            self._forget(destination)
            self._failed += len(ids)
            return Gone(ids, found.reason)
        if found.kind == "failed":
            log.error("Discord refused a post to %s: %s", destination, found.reason)
            self._failed += len(ids)
            return Failed(ids, found.reason)
        log.info("posting to %s again in %.1f s: %s", destination, found.after, found.reason)
        self._retries += len(ids)
        # A rate limit is never the posts' fault: it must not use up their attempts.
        return Retry(ids, found.after, found.reason, counts=found.code != RATE_LIMITED)

    # --- destinations ---

    async def _target(self, destination: str) -> Target:
        kind, _, raw = destination.partition(":")
        if kind not in ("channel", "user") or not raw.isdigit():
            raise _BadDestination(f"not a destination: {destination!r}")
        ident = int(raw)
        if kind == "channel":
            channel = self._client.get_channel(ident)
            if channel is None:
                # Not in the cache (a thread, a server not yet ready): post blind; an error
                # from the post itself says if the channel is gone.
                return self._client.get_partial_messageable(ident)
            if not isinstance(channel, discord.abc.Messageable):
                raise _BadDestination(f"channel {ident} is not a text channel")
            return channel
        dm = self._dms.get(ident)
        if dm is None:
            await self._budget.take()
            dm = self._dms[ident] = await self._client.create_dm(discord.Object(ident))
        return dm

    def _forget(self, destination: str) -> None:
        kind, _, raw = destination.partition(":")
        if kind == "user" and raw.isdigit():
            self._dms.pop(int(raw), None)
        battle = self._watch.battle(destination)
        if battle is not None:
            self._watch.end(battle)

    # --- battle mode ---

    async def _fold(
        self, destination: str, target: Target, deliveries: Sequence[Delivery]
    ) -> list[Outcome]:
        ids = tuple(d.entry_id for d in deliveries)
        battle = self._watch.battle(destination)
        if battle is None:  # ended while this call waited: nothing to fold into
            return await self._post(destination, target, deliveries)
        self._watch.fold(battle, deliveries)
        if battle.message is None:
            pings = await self._due_pings(destination, deliveries)
            text = " ".join(t for p in pings if (t := mention_text(p)))
            if battle.nonce is None:
                battle.nonce = nonce_for(destination, deliveries[0].kill.id, "b")
            notice = NOTICE.format(count=battle.summary.kills)
            showing = battle.folded
            step = self._next_step(battle)
            if not await self._save_posting(battle, step):
                battle.unsaved[:0] = step[1]
                unsaved = Verdict("retry", "the live summary could not be written down",
                                  after=self._retry_delay)
                return [self._answer(destination, unsaved, ids)]
            post = Post(
                items=(),
                nonce=battle.nonce,
                content="\n".join(filter(None, [text, notice])),
                embeds=(battle_embed(battle.summary),),
                pings=pings,
            )
            try:
                battle.message = await self._create(target, post)
            except Exception as error:
                found = verdict(error, retry_delay=self._retry_delay)
                if found is None:
                    raise
                if found.kind != "retry":
                    self._watch.end(battle)
                battle.unsaved[:0] = step[1]
                return [self._answer(destination, found, ids)]
            if not await self._save_step(battle, step):
                # Shown, but not written down: a restart before the next saved step would
                # show these kills again. The next step records them.
                battle.unsaved[:0] = step[1]
            for mention in pings:
                self._cooldowns.mark(destination, mention)
            log.info("%s is in a big fight: posting a live summary", destination)
            self._messages += 1
            battle.dirty = False
            battle.shown = max(battle.shown, showing)
            battle.last_edit = self._clock()
            if not battle.kept:
                battle.kept = True
                task = asyncio.create_task(self._keep(battle), name=f"battle:{destination}")
                self._keepers.add(task)
                task.add_done_callback(self._keepers.discard)
        refused = await self._until_shown(battle, ids)
        if refused is not None:
            return [refused]
        assert battle.message is not None
        self._folded += len(ids)
        return [Sent(ids, battle.message.id)]

    def _next_step(self, battle: Battle) -> tuple[int, tuple[int, ...]]:
        """The step the next write of the summary adds: the count it shows, the kills it
        adds (taken out of `unsaved`)."""
        ids = tuple(dict.fromkeys(battle.unsaved))
        battle.unsaved.clear()
        return battle.summary.kills, ids

    async def _save_posting(self, battle: Battle, step: tuple[int, tuple[int, ...]]) -> bool:
        """Write down that the summary is about to be posted (under its nonce) showing
        `step`: killed before Discord's answer is recorded, the next run posts those kills
        again under that nonce, and Discord answers with the summary if it made it."""
        if self._ledger is None or not step[1]:
            return True
        try:
            await self._ledger.save(battle.destination, None, (*battle.steps, step), battle.nonce)
        except Exception:
            log.exception("could not write down the live summary of %s", battle.destination)
            return False
        return True

    async def _save_step(self, battle: Battle, step: tuple[int, tuple[int, ...]]) -> bool:
        """Write `step` down (before the edit that makes it true); False if that failed."""
        if self._ledger is None or not step[1] or battle.message is None:
            return True
        steps = (*battle.steps, step)
        try:
            await self._ledger.save(battle.destination, battle.message.id, steps, battle.nonce)
        except Exception:
            log.exception("could not write down the live summary of %s", battle.destination)
            return False
        battle.steps = list(steps)
        return True

    async def _shown_before(
        self, destination: str, target: Target, deliveries: Sequence[Delivery]
    ) -> tuple[list[Outcome], list[Delivery]]:
        """(The outcomes of deliveries a summary of an earlier run took in, the rest).

        A summary known to be posted is asked for once, when an owed kill is one it took in:
        what its count reaches is shown. One that was about to be posted when the run ended
        is posted again under its nonce (see `_post`)."""
        outcomes: list[Outcome] = []
        rest = list(deliveries)
        for saved in list(self._saved[destination]):
            if saved.message_id is None:
                again = [d for d in rest if d.kill.id in saved.kill_ids]
                if not again:
                    continue
                assert saved.nonce is not None
                outcomes += await self._post(destination, target, again, nonce=saved.nonce)
                stop = next((o for o in outcomes if isinstance(o, Retry | Gone)), None)
                if isinstance(stop, Retry):  # the nonce is tried again with them
                    left = tuple(d.entry_id for d in rest if d not in again)
                    return outcomes + ([_same(stop, left)] if left else []), []
                self._saved[destination].remove(saved)
                rest = [d for d in rest if d not in again]
                continue
            shown = self._shown.get(saved.message_id)
            if shown is None:
                if not any(d.kill.id in saved.kill_ids for d in rest):
                    continue
                await self._budget.take()
                message: discord.Message | None = None
                try:
                    message = await target.fetch_message(saved.message_id)
                except Exception as error:
                    if not (isinstance(error, discord.NotFound)
                            and error.code == UNKNOWN_MESSAGE):
                        found = verdict(error, retry_delay=self._retry_delay)
                        if found is None:
                            raise
                        ids = tuple(d.entry_id for d in rest)
                        return [*outcomes, self._answer(destination, found, ids)], []
                    # Deleted: what it showed is shown nowhere now.
                counts = [shown_count(e.to_dict()) for e in message.embeds] if message else []
                shown = saved.shown_at(max((c for c in counts if c is not None), default=0))
                self._shown[saved.message_id] = shown
            done = tuple(d.entry_id for d in rest if d.kill.id in shown)
            if done:
                log.info("%s: %d owed kills were already in a live summary", destination,
                         len(done))
                self._folded += len(done)
                outcomes.append(Sent(done, saved.message_id))
                rest = [d for d in rest if d.kill.id not in shown]
        return outcomes, rest

    async def _until_shown(self, battle: Battle, ids: tuple[int, ...]) -> Outcome | None:
        """Wait (at most an edit interval, edits stay that far apart) until the summary as
        Discord shows it counts every kill folded so far; None once it does, else the outcome
        for `ids`. A kill is answered sent only once it shows: answered at the fold, a crash
        before the next edit would lose it (sent in the store, shown nowhere)."""
        destination = battle.destination
        wanted = battle.folded
        while battle.shown < wanted:
            lost = self._lost.pop(destination, None)
            if lost is not None:  # the keeper's edit found the destination gone
                return self._answer(destination, Verdict("gone", lost), ids)
            if battle.message is None:  # deleted meanwhile: the next send posts a new one
                return self._answer(
                    destination, Verdict("retry", "the live summary was deleted"), ids
                )
            wait = battle.last_edit + self._edit_interval - self._clock()
            if wait > 0:
                await self._sleep(wait)
                continue
            refused = await self._edit(battle)
            if refused is not None:
                if refused.kind == "gone":
                    self._lost.pop(destination, None)  # told now, with these kills
                return self._answer(destination, refused, ids)
        return None

    async def _due_pings(
        self, destination: str, deliveries: Sequence[Delivery]
    ) -> tuple[str, ...]:
        due: list[str] = []
        for delivery in deliveries:
            for options in await self._options(delivery):
                mention = options.mention
                if mention and mention not in due and mention_text(mention) and (
                    self._cooldowns.ready(destination, mention, options.cooldown_seconds)
                ):
                    due.append(mention)
        return tuple(due)

    async def _keep(self, battle: Battle) -> None:
        """End the battle mode once no kill came for the quiet period. (Each fold brings the
        summary up to date itself, before its kills are answered as sent.)"""
        try:
            while self._watch.battle(battle.destination) is battle:
                wait = self._watch.quiet - self._watch.quiet_since(battle)
                if wait <= 0:
                    # Ended first: a kill arriving meanwhile is posted on its own.
                    self._watch.end(battle)
                    log.info("%s is quiet again: back to single posts", battle.destination)
                    await self._edit(battle, OVER.format(count=battle.summary.kills))
                    return
                await self._sleep(min(wait, self._tick))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the live summary of %s stopped", battle.destination)
            self._watch.end(battle)

    async def _edit(self, battle: Battle, content: str | None = None) -> Verdict | None:
        """Bring the summary up to date; the verdict if Discord would not."""
        message = battle.message
        if message is None:
            return None
        # The embed, what it shows and the step written down are taken together, with no
        # await between them: a kill folded in meanwhile belongs to the next edit.
        showing = battle.folded
        embed = battle_embed(battle.summary)
        step = self._next_step(battle)
        battle.dirty = False
        battle.last_edit = self._clock()
        if not await self._save_step(battle, step):
            battle.unsaved[:0] = step[1]
            battle.dirty = True
            return Verdict("retry", "the live summary could not be written down",
                           after=self._retry_delay)
        await self._budget.take()
        try:
            if content is None:
                battle.message = await message.edit(embed=embed)
            else:
                battle.message = await message.edit(
                    content=content, embed=embed, allowed_mentions=discord.AllowedMentions.none()
                )
        except Exception as error:
            found = verdict(error, retry_delay=self._retry_delay)
            if found is None:
                raise
            if isinstance(error, discord.HTTPException) and _unlogged_429(error):
                self._rate_limited += 1
            if isinstance(error, discord.NotFound) and error.code == UNKNOWN_MESSAGE:
                # Deleted by someone: the next kill posts a new one (under a new nonce, or
                # Discord would answer with the deleted one).
                battle.message = None
                battle.nonce = nonce_for(battle.destination, battle.summary.kills, "r")
                battle.dirty = True
                return Verdict("retry", "the live summary was deleted")
            if found.kind == "gone":
                self._lost[battle.destination] = found.reason
                self._watch.end(battle)
            elif found.kind == "retry":
                battle.dirty = True
                battle.last_edit += max(found.after - self._edit_interval, 0.0)
            else:
                log.error("Discord refused the summary of %s: %s", battle.destination,
                          found.reason)
            return found
        battle.shown = max(battle.shown, showing)
        battle.edits += 1
        self._edits += 1
        return None


def _same(stop: Retry | Gone, ids: tuple[int, ...]) -> Outcome:
    """What `stop` said, for `ids` too: posts behind a refused one wait or go with it."""
    if isinstance(stop, Retry):
        return Retry(ids, stop.after, stop.error, stop.counts)
    return Gone(ids, stop.reason)
