"""`killwatch status` rendering: lag, errors, backoff, and a running engine gone quiet."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from bot.status_command import render_status
from engine.sources.status import SourceStatus
from engine.status import EngineStatus

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def _status(updated_at: datetime, *, running: bool = True) -> EngineStatus:
    feed = SourceStatus(
        name="r2z2",
        kind="r2z2",
        last_position="900123",
        last_kill_time=NOW - timedelta(seconds=95),
        last_uploaded_at=NOW - timedelta(seconds=20),
        kills=321,
        kills_per_minute=11.5,
        errors={"http_429": 2, "gap": 1},
        backoff_seconds=12.0,
        connected=False,
        last_error="http_429: sequence 900124: rate limited",
        updated_at=NOW,
    )
    return EngineStatus(
        started_at=NOW - timedelta(hours=3),
        updated_at=updated_at,
        running=running,
        sources=(feed,),
        received=330,
        stored=321,
        duplicates=9,
        rejected={"missing_body": 1},
        queues={"parse": 0, "enrich": 2, "store": 5},
    )


def _render(status: EngineStatus) -> str:
    out = io.StringIO()
    render_status(status, {"source:r2z2:sequence": "900123"}, out, now=lambda: NOW)
    return out.getvalue()


def test_a_running_feed_shows_position_lag_errors_and_backoff():
    text = _render(_status(NOW - timedelta(seconds=5)))
    assert "(5 s ago): running" in text
    assert "feed r2z2 (r2z2): at 900123, not connected, backing off 12 s" in text
    assert "last kill 2026-11-24 11:58:25 UTC (lag 95 s)" in text
    assert "published 2026-11-24 11:59:40 UTC (lag 20 s)" in text
    assert "kills 321, 11.5/min; errors: gap 1, http_429 2" in text
    assert "last error: http_429: sequence 900124: rate limited" in text
    assert "rejected 1 (missing_body 1)" in text
    assert "queues: enrich 2, parse 0, store 5" in text
    assert "source:r2z2:sequence = 900123" in text


def test_an_engine_that_stopped_reporting_is_called_out():
    text = _render(_status(NOW - timedelta(minutes=10)))
    assert "not reporting for 10 min" in text


def test_a_stopped_engine_says_stopped():
    assert "): stopped" in _render(_status(NOW - timedelta(days=2), running=False))
