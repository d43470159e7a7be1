"""Digest opt-ins and week marks on both backends, and the weekly slot's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.digests import DigestChannel, DigestChannels, WeeklySlot
from engine.store.database import Database

KILLS, INTEL, ELSEWHERE = 2002, 2003, 3001
GUILD, OTHER = 2222, 3333


async def test_channels_opt_in_and_out_per_server(db: Database) -> None:
    digests = DigestChannels(db)
    assert await digests.opt_in(KILLS, GUILD) is True
    assert await digests.opt_in(KILLS, GUILD) is False
    await digests.opt_in(ELSEWHERE, OTHER)
    await digests.opt_in(INTEL, GUILD)

    assert await digests.opted_in() == [
        DigestChannel(KILLS, GUILD), DigestChannel(INTEL, GUILD), DigestChannel(ELSEWHERE, OTHER)
    ]
    assert await digests.opted_in(OTHER) == [DigestChannel(ELSEWHERE, OTHER)]
    assert await digests.opt_out(INTEL) is True
    assert await digests.opt_out(INTEL) is False
    assert await digests.opted_in(GUILD) == [DigestChannel(KILLS, GUILD)]


async def test_a_channel_given_a_week_is_not_due_for_it_again_even_after_opting_out_and_in(
    db: Database,
) -> None:
    digests = DigestChannels(db)
    await digests.opt_in(KILLS, GUILD)
    await digests.opt_in(ELSEWHERE, OTHER)
    await digests.mark_posted(KILLS, "2026-W05")

    assert await digests.due("2026-W05") == [DigestChannel(ELSEWHERE, OTHER)]
    await digests.opt_out(KILLS)
    await digests.opt_in(KILLS, GUILD)
    assert await digests.due("2026-W05") == [DigestChannel(ELSEWHERE, OTHER)]
    assert await digests.due("2026-W06") == [
        DigestChannel(KILLS, GUILD), DigestChannel(ELSEWHERE, OTHER)
    ]
    await digests.forget(ELSEWHERE)
    assert await digests.due("2026-W06") == [DigestChannel(KILLS, GUILD)]


@pytest.mark.parametrize(
    ("now", "slot", "week"),
    [
        (datetime(2026, 1, 26, 12, 0, tzinfo=UTC), datetime(2026, 1, 26, 12, 0, tzinfo=UTC),
         "2026-W05"),
        (datetime(2026, 1, 26, 11, 59, tzinfo=UTC), datetime(2026, 1, 19, 12, 0, tzinfo=UTC),
         "2026-W04"),
        (datetime(2026, 2, 1, 23, 0, tzinfo=UTC), datetime(2026, 1, 26, 12, 0, tzinfo=UTC),
         "2026-W05"),
        (datetime(2027, 1, 2, 9, 0, tzinfo=UTC), datetime(2026, 12, 28, 12, 0, tzinfo=UTC),
         "2026-W53"),
    ],
)
def test_the_latest_monday_noon_slot_and_its_week(
    now: datetime, slot: datetime, week: str
) -> None:
    monday_noon = WeeklySlot(0, 12)
    assert monday_noon.latest(now) == slot
    assert WeeklySlot.week(slot) == week


def test_another_slot_and_its_description() -> None:
    friday = WeeklySlot(4, 18)
    assert friday.latest(datetime(2026, 1, 26, 12, 0, tzinfo=UTC)) == datetime(
        2026, 1, 23, 18, 0, tzinfo=UTC
    )
    assert friday.describe() == "every Friday at 18:00 UTC"
    with pytest.raises(ValueError, match="weekday"):
        WeeklySlot(7, 0)
