"""Issue 8's scale-out test: an ingester and two bot processes (shards 0 and 1 of 2) on local
Redis and PostgreSQL against the fake Discord. Every kill reaches every matching channel (and
DM) exactly once, also when one bot process is SIGKILLed mid-run and started again.

Prints its figures (``pytest -s``); ``python -m tests.scale.scale_harness --kills 1000`` runs a
longer one by hand.
"""

from __future__ import annotations

import asyncio
import signal

from tests.scale.scale_harness import FEEDS, ScalePlan, run_scale_out
from tests.scale.support import redis_client
from tests.store.support import fresh_postgres_database


async def test_two_bot_processes_post_each_kill_once_through_a_crash_of_one(tmp_path):
    async with redis_client():  # skips the test, with the reason, when Redis is not there
        pass
    plan = ScalePlan(kills=300)
    async with fresh_postgres_database() as url:
        report = await asyncio.to_thread(run_scale_out, plan, tmp_path, url)
    text = "\n".join(report.lines())
    print(text)
    d = report.delivered
    assert report.published == plan.kills, text
    assert report.stored == plan.kills, text
    assert report.stream_entries >= plan.kills, text  # repeats only after an ingester crash
    assert {row.destination for row in d.destinations} == {f.destination for f in FEEDS}, text
    assert all(row.expected > 0 for row in d.destinations), text
    assert d.expected > plan.kills, text  # every kill to a channel of shard 1, many to more
    assert d.missing == 0, text
    assert d.duplicate_posts == 0, text
    assert d.unexpected == 0, text
    assert d.store_faults == 0, text
    assert report.posted_before_kill > 0, text  # the crash came mid-run, not before it
    assert report.exits == {"bot0-1": 0, "bot1-1": -signal.SIGKILL, "bot1-2": 0,
                            "ingest-1": 0}, text
    # Each process matched only its servers' subscriptions; the DMs are shard 0's.
    assert report.loaded == {"bot0-1": 3, "bot1-1": 2, "bot1-2": 2}, text
    assert not [e for e in report.log_errors if "Traceback" in e], text
