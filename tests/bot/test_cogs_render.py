"""The subscription replies as pure functions: escaping, the caret window, Discord's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.render.limits import within_limits
from cogs.subscriptions.arguments import parse_isk
from cogs.subscriptions.errors import BadArgument
from cogs.subscriptions.render import (
    CARET_WIDTH,
    caret_window,
    code_block,
    filter_error_message,
    inline_code,
    list_embed,
    saved_message,
)
from engine.filters import FilterInvalid, FilterSyntaxError
from engine.filters.errors import Problem
from engine.subscriptions import SubscriptionOptions, SubscriptionView

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def view(n: int, filter_text: str, **changes: object) -> SubscriptionView:
    fields: dict[str, object] = {
        "id": n, "destination": "channel:1002", "guild_id": 9, "owner_id": 5,
        "filter_text": filter_text, "filter": {}, "text": filter_text, "preset": None,
        "options": SubscriptionOptions(), "paused": False, "pause_reason": None,
        "created_at": WHEN, "updated_at": WHEN,
    }
    return SubscriptionView(**(fields | changes))  # type: ignore[arg-type]


def test_a_code_block_cannot_be_closed_by_the_text_in_it() -> None:
    block = code_block("a ``` b")
    assert block == "```\na `\u200b`` b\n```"
    assert block.count("```") == 2
    assert len(code_block("x" * 5000, 300)) <= 300


def test_a_code_span_shows_backticks_as_look_alikes_and_stays_one_line() -> None:
    assert inline_code("a `b`\nc") == "`a ˋbˋ c`"
    assert len(inline_code("y" * 500, 50)) <= 52


def test_a_long_filter_keeps_the_caret_in_view_under_its_column() -> None:
    text = "value >= 1b and " * 30 + "regoin = Delve" + " and value >= 1b" * 10
    column = text.index("regoin") + 1
    error = FilterSyntaxError("unknown field", text, column)
    shown, caret = caret_window(error).split("\n")
    assert len(shown) <= CARET_WIDTH + 2
    assert shown.startswith("…")
    assert shown.endswith("…")
    assert shown[caret.index("^"):].startswith("regoin")


def test_a_short_filter_is_shown_whole_with_its_caret() -> None:
    error = FilterSyntaxError("expected a value", "value >= ", 10)
    assert caret_window(error) == "value >= \n         ^"


def test_an_invalid_tree_lists_each_problem_escaped() -> None:
    error = FilterInvalid([
        Problem("$.all[0]", "too **deep**", "use fewer levels"),
        Problem("$.all[1].value", "unknown id", "check <@123>"),
    ])
    assert filter_error_message(error) == (
        "That filter cannot be used:\n- `$.all[0]` too \\*\\*deep\\*\\*; use fewer levels\n"
        "- `$.all[1].value` unknown id; check <\u200b@\u200b123>"
    )


def test_a_listing_of_huge_filters_stays_within_discords_limits() -> None:
    views = [view(n, "region = Delve and " * 200, paused=n % 2 == 0) for n in range(1, 40)]
    embed = list_embed("Subscriptions", views, page=3)
    assert within_limits(embed)
    assert embed.footer.text == (
        "Page 3 of 3 · 39 subscriptions, 19 paused · the page option shows the others"
    )
    assert list_embed("Subscriptions", views, page=99).footer.text == embed.footer.text


def test_a_confirmation_of_a_huge_filter_fits_in_a_message() -> None:
    message = saved_message("created", view(7, "value >= 1b and " * 300))
    assert len(message) <= 2000
    assert message.count("```") == 2


@pytest.mark.parametrize(
    ("typed", "isk"),
    [("10b", 1e10), ("1.5b", 1.5e9), ("500m", 5e8), ("1,200,000,000", 1.2e9), ("2t ISK", 2e12),
     ("0", 0.0)],
)
def test_isk_amounts_are_read_as_players_write_them(typed: str, isk: float) -> None:
    assert parse_isk(typed) == isk


@pytest.mark.parametrize("typed", ["lots", "-5b", "", "1b2"])
def test_what_is_not_an_isk_amount_is_refused(typed: str) -> None:
    with pytest.raises(BadArgument, match="is not an ISK amount"):
        parse_isk(typed)
