"""Crash and restart (issue 9): `killwatch run` as a real process against a fake R2Z2 and a
fake Discord, killed at random moments and restarted, loses no kill and posts none twice.

The fast version runs by default; the full one (≥ 1,000 kills, ≥ 20 SIGKILLs) with
``KILLWATCH_CHAOS=1`` (``make chaos``). Both print their figures (``pytest -s``). How kills
folded into live battle summaries are counted: `tests.reliability.accounting`.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.harness import ChaosPlan, ChaosReport, run_chaos

CHAOS = os.environ.get("KILLWATCH_CHAOS") == "1"


def _check(report: ChaosReport, plan: ChaosPlan) -> None:
    text = "\n".join(report.lines())
    print(text)
    d = report.delivered
    assert (report.sigkills, report.sigterms) == (plan.sigkills, plan.sigterms), text
    assert report.published == plan.kills, text
    assert d.expected > plan.kills, text  # most kills go somewhere, many to two places
    assert d.posted > 0, text
    assert d.folded > 0, text  # battle summaries were live through the crashes
    assert d.missing == 0, text
    assert d.duplicate_posts == 0, text
    assert d.unexpected == 0, text
    assert d.store_faults == 0, text
    assert d.recounted == 0, text  # live summaries are written down first (bot.battle_ledger)
    assert not report.unexpected_exits, text
    assert len(report.shutdowns) == plan.sigterms + 1, text  # the last run is stopped too
    assert max(report.shutdowns) <= plan.shutdown_limit, text


def test_killed_at_random_moments_and_restarted_it_loses_no_kill_and_posts_none_twice(
    tmp_path,
):
    plan = ChaosPlan(kills=200, sigkills=5, sigterms=2, seed=11, publish_seconds=20,
                     patience=3.5)
    _check(run_chaos(plan, tmp_path), plan)


@pytest.mark.skipif(not CHAOS, reason="the full chaos run takes minutes: KILLWATCH_CHAOS=1 "
                    "(make chaos) runs it")
def test_a_thousand_kills_through_twenty_crashes_lose_none_and_post_none_twice(tmp_path):
    plan = ChaosPlan(kills=1000, sigkills=20, sigterms=5, seed=9)
    _check(run_chaos(plan, tmp_path), plan)
