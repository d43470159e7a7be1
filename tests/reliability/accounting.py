"""What should have been posted, what the fake Discord shows, and the difference.

Expected: every kill the fake R2Z2 published, parsed, enriched (offline, as the bot runs with
ESI off) and matched against the subscriptions read back from the bot's store — computed after
the run from the published payloads, never from what the bot did. A plain-Python reading of
the same filters cross-checks the matcher.

Shown: per destination, the kills of each message (embed URLs, compact descriptions,
link-style content) and each live battle summary's count. A summary shows a count, not ids,
so folded kills are counted: a summary starts with the `threshold` kills posted one by one just
before it (shown twice: in their posts and in its count) and counts every kill folded in after,
so ``count - threshold`` kills are shown by the summary alone. The figures:

- missing: expected kills neither posted nor covered by a summary's count;
- duplicate posts: a kill in two messages of its own (exact);
- recounted: summary counts beyond the kills left to fold, i.e. kills a summary counted and
  then shown again (what a crash between Discord applying a summary edit and the outbox
  recording it would do, were the edit not written down first: see bot.battle_ledger);
- unexpected: posted though none of the destination's subscriptions matches.

Counts can offset each other, so the bot's outbox is checked too, message by message: every
expected kill must be recorded as sent, and every message a row names must show it (a post by
its id; a summary by its count: no more rows than ``count - threshold``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine.enrich.enricher import Enricher
from engine.filters import Matcher
from engine.model import EnrichedKill, KillmailRejected, parse_killmail

__all__ = [
    "Delivered",
    "DestinationTally",
    "Row",
    "Seen",
    "expected_by_destination",
    "read_messages",
    "tally",
]

_KILL_URL = re.compile(r"zkillboard\.com/kill/(\d+)")
_SUMMARY_COUNT = re.compile(r"\*\*([\d,]+) ships? destroyed\*\*")
_SUMMARY_FOOTER = "Live summary"


@dataclass(frozen=True, slots=True)
class Seen:
    """One message as users see it: the kills it posts, or a summary's count."""

    message_id: int
    kills: frozenset[int]
    summary: int | None = None  # the kill count of a live battle summary


@dataclass(frozen=True, slots=True)
class Row:
    """One outbox row of the bot's store: where a kill was owed and what became of it."""

    destination: str
    killmail_id: int
    state: str
    message_id: int | None


@dataclass(frozen=True, slots=True)
class DestinationTally:
    destination: str
    expected: int
    posted: int  # distinct expected kills posted one by one
    folded_expected: int  # expected kills not posted one by one: summaries must cover them
    folded_shown: int  # kills the summaries show beyond their seeds
    summaries: int
    missing: int
    duplicate_posts: int
    recounted: int
    unexpected: tuple[int, ...]
    not_sent: tuple[int, ...]  # expected, but the store has no sent row for it
    not_shown: int  # sent rows whose message does not show them
    duplicate_ids: tuple[int, ...]

    @property
    def delivered(self) -> int:
        return self.posted + min(self.folded_shown, self.folded_expected)


@dataclass(frozen=True, slots=True)
class Delivered:
    destinations: tuple[DestinationTally, ...]

    def _sum(self, pick: Callable[[DestinationTally], int]) -> int:
        return sum(pick(d) for d in self.destinations)

    @property
    def expected(self) -> int:
        return self._sum(lambda d: d.expected)

    @property
    def delivered(self) -> int:
        return self._sum(lambda d: d.delivered)

    @property
    def posted(self) -> int:
        return self._sum(lambda d: d.posted)

    @property
    def folded(self) -> int:
        return self._sum(lambda d: min(d.folded_shown, d.folded_expected))

    @property
    def missing(self) -> int:
        return self._sum(lambda d: d.missing)

    @property
    def duplicate_posts(self) -> int:
        return self._sum(lambda d: d.duplicate_posts)

    @property
    def recounted(self) -> int:
        return self._sum(lambda d: d.recounted)

    @property
    def unexpected(self) -> int:
        return self._sum(lambda d: len(d.unexpected))

    @property
    def store_faults(self) -> int:
        """Kills the store says were delivered, or should have been, that no message shows."""
        return self._sum(lambda d: len(d.not_sent) + d.not_shown)


def expected_by_destination(
    payloads: Iterable[bytes],
    enricher: Enricher,
    matcher: Matcher,
    check: Mapping[str, Callable[[Mapping[str, Any]], bool]] | None = None,
) -> dict[str, set[int]]:
    """Destination -> kill ids its subscriptions match, over every published payload.

    `check` (destination -> a predicate on the raw R2Z2 envelope) is the same filters written
    in plain Python: a disagreement with the matcher means the expectation itself is wrong.
    """
    wanted: dict[str, set[int]] = {}
    for payload in payloads:
        try:
            kill: EnrichedKill = enricher.enrich(parse_killmail(payload))
        except KillmailRejected:
            continue
        destinations = {match.destination for match in matcher.match(kill)}
        for destination in destinations:
            wanted.setdefault(destination, set()).add(kill.id)
        if check is not None:
            envelope = orjson.loads(payload)
            plain = {d for d, predicate in check.items() if predicate(envelope)}
            if plain != destinations:
                raise AssertionError(
                    f"kill {kill.id}: the matcher says {sorted(destinations)}, the plain "
                    f"filters {sorted(plain)}"
                )
    return wanted


def read_messages(messages: Sequence[Any]) -> tuple[Seen, ...]:
    """The fake Discord's messages of one destination (records with id, content, embeds)."""
    seen = []
    for message in messages:
        embeds: list[dict[str, Any]] = list(message.embeds)
        summary = next(
            (e for e in embeds
             if str((e.get("footer") or {}).get("text", "")).startswith(_SUMMARY_FOOTER)),
            None,
        )
        if summary is not None:
            found = _SUMMARY_COUNT.search(str(summary.get("description", "")))
            count = int(found.group(1).replace(",", "")) if found else 0
            seen.append(Seen(message.id, frozenset(), count))
            continue
        # A full embed links the kill in its URL, a compact one in its description.
        texts = [message.content or ""] + [
            str(e.get(key) or "") for e in embeds for key in ("url", "title", "description")
        ]
        ids = frozenset(int(i) for text in texts for i in _KILL_URL.findall(text))
        seen.append(Seen(message.id, ids))
    return tuple(seen)


def tally(
    expected: Mapping[str, set[int]],
    shown: Mapping[str, Sequence[Seen]],
    rows: Iterable[Row],
    threshold: int,
) -> Delivered:
    """Compare, destination by destination (every destination in any of the three)."""
    by_destination: dict[str, list[Row]] = {}
    for row in rows:
        by_destination.setdefault(row.destination, []).append(row)
    tallies = [
        _one(destination, expected.get(destination, set()), shown.get(destination, ()),
             by_destination.get(destination, []), threshold)
        for destination in sorted(set(expected) | set(shown) | set(by_destination))
    ]
    return Delivered(tuple(tallies))


def _one(
    destination: str, wanted: set[int], seen: Sequence[Seen], rows: Sequence[Row],
    threshold: int,
) -> DestinationTally:
    posted: Counter[int] = Counter()
    for message in seen:
        posted.update(message.kills)
    summaries = [m.summary for m in seen if m.summary is not None]
    duplicate_ids = tuple(sorted(k for k, n in posted.items() if n > 1))
    left = wanted - set(posted)
    folded_shown = sum(max(count - threshold, 0) for count in summaries)
    sent = {row.killmail_id: row for row in rows if row.state == "sent"}
    return DestinationTally(
        destination=destination,
        expected=len(wanted),
        posted=len(wanted & set(posted)),
        folded_expected=len(left),
        folded_shown=folded_shown,
        summaries=len(summaries),
        missing=max(len(left) - folded_shown, 0),
        duplicate_posts=sum(posted[k] - 1 for k in duplicate_ids),
        recounted=max(folded_shown - len(left), 0),
        unexpected=tuple(sorted(set(posted) - wanted)),
        not_sent=tuple(sorted(wanted - set(sent))),
        not_shown=_not_shown(seen, sent.values(), threshold),
        duplicate_ids=duplicate_ids,
    )


def _not_shown(seen: Sequence[Seen], sent: Iterable[Row], threshold: int) -> int:
    messages = {m.message_id: m for m in seen}
    into_summary: Counter[int] = Counter()
    unshown = 0
    for row in sent:
        message = messages.get(row.message_id or 0)
        if message is None:
            unshown += 1
        elif message.summary is not None:
            into_summary[message.message_id] += 1
        elif row.killmail_id not in message.kills:
            unshown += 1
    for message_id, count in into_summary.items():
        summary = messages[message_id].summary
        assert summary is not None
        unshown += max(count - max(summary - threshold, 0), 0)
    return unshown
