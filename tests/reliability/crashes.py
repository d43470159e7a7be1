"""Signals at chosen moments: the fakes report what the bot is doing, a `Crasher` strikes.

The fake R2Z2 and the fake Discord are subclassed to tell a hook about every request that
matters, before and after answering it:

- ``fetch`` / ``fetched``: a published killmail requested / answered (404 polls don't count);
- ``post`` / ``posted``: a message about to be created / created, its answer not yet sent;
- ``edit`` / ``edited``: the same for an edit (live battle summaries are the only edits).

A SIGKILL on ``post`` or ``edit`` drops the request (the bot died before Discord got it); on
``posted`` or ``edited`` Discord has done the work and the answer is lost.

A `Moment` names one of these events, which occurrence of it, and a delay after it (``store``
is ``fetched`` plus a few milliseconds: the kill is then being parsed, enriched and written).
The `Crasher` sends the signal from the fake's own thread, inside the request, so that a SIGKILL
on ``posted`` is exactly "Discord made the message, the bot never heard": for SIGKILL it waits
until the process is dead before the fake answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.discord import FakeDiscord
from tests.fakes.r2z2 import SEQUENCE_JSON, FakeR2Z2

__all__ = ["EVENTS", "Crasher", "HookedDiscord", "HookedR2Z2", "Moment", "Strike"]

Hook = Callable[[str, str], bool]  # (event, detail) -> the process was just killed

# Event names a Moment may wait for; "timer" waits for nothing but its delay.
EVENTS = ("fetch", "store", "post", "posted", "edit", "edited", "timer")


def _no_hook(event: str, detail: str) -> bool:
    return False


class HookedR2Z2(FakeR2Z2):
    """FakeR2Z2 telling `hook(event, detail)` about each published killmail it serves."""

    hook: Hook = staticmethod(_no_hook)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        sequence = None if name == SEQUENCE_JSON else name.removesuffix(".json")
        served = sequence is not None and sequence.isdigit() and int(sequence) in self.payloads
        if served:
            self.hook("fetch", f"sequence {sequence}")
        response = await super()._answer(request)
        if served:
            self.hook("fetched", f"sequence {sequence}")
        return response


class HookedDiscord(FakeDiscord):
    """FakeDiscord telling `hook(event, detail)` about each message created or edited."""

    hook: Hook = staticmethod(_no_hook)

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel_id"]
        if self.hook("post", f"channel {channel}"):
            return web.Response(status=503)  # never made; nobody is left to read this
        response = await super()._post_message(request)
        self.hook("posted", f"channel {channel}")
        return response

    async def _edit_message(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel_id"]
        if self.hook("edit", f"channel {channel}"):
            return web.Response(status=503)
        response = await super()._edit_message(request)
        self.hook("edited", f"channel {channel}")
        return response


@dataclass(frozen=True, slots=True)
class Moment:
    """Strike at the `count`-th `event` after arming, `delay` seconds after it."""

    event: str
    count: int = 1
    delay: float = 0.0

    def __str__(self) -> str:
        if self.event == "timer":
            return f"timer {self.delay * 1000:.0f} ms"
        after = f" +{self.delay * 1000:.0f} ms" if self.delay else ""
        return f"{self.event} #{self.count}{after}"


@dataclass(frozen=True, slots=True)
class Strike:
    """One signal sent: when (seconds since the harness began), why, and what it hit."""

    number: int
    signal: str
    moment: Moment
    trigger: str  # "event" or "fallback" (the event did not come in time)
    detail: str  # what the fake was serving at that instant
    at: float
    uptime: float  # seconds the process had been running
    wall: float  # time.time(), to find the moment in the process's log


@dataclass(frozen=True, slots=True)
class _Armed:
    process: subprocess.Popen[Any]
    moment: Moment
    signum: signal.Signals
    spawned: float
    number: int


def _dead(pid: int) -> bool:
    """Killed (a zombie not yet reaped, or gone): without reaping it behind Popen's back."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


class Crasher:
    """Arm it with a process, a Moment and a signal; the fakes' hooks set it off."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._lock = threading.Lock()
        self._armed: _Armed | None = None
        self._seen = 0
        self._fired = threading.Event()
        self.strikes: list[Strike] = []
        self.sent_at: float = 0.0  # monotonic time of the last signal

    def hook(self, event: str, detail: str) -> bool:
        """Called by the fakes, from their threads, for every event; True when it has just
        killed the process (SIGKILL, sent there and then)."""
        # A store moment counts served kills: it strikes while the kill is handled.
        return self._observe("store" if event == "fetched" else event, detail)

    def arm(
        self, process: subprocess.Popen[Any], moment: Moment, signum: signal.Signals,
        *, number: int, spawned: float,
    ) -> None:
        """`spawned`: the process's start (monotonic), for the strike's uptime."""
        with self._lock:
            self._fired.clear()
            self._seen = 0
            self._armed = _Armed(process, moment, signum, spawned, number)
        if moment.event == "timer":
            threading.Timer(moment.delay, self._fire_armed, args=("event", "timer")).start()

    def wait(self, timeout: float) -> bool:
        """True once the signal was sent; False if `timeout` passed first."""
        return self._fired.wait(timeout)

    def fire_now(self) -> None:
        """The awaited event did not come: strike anyway (if it has not just struck)."""
        self._fire_armed("fallback", "no such event in time")

    def _observe(self, event: str, detail: str) -> bool:
        with self._lock:
            if self._armed is None or self._armed.moment.event != event:
                return False
            self._seen += 1
            if self._seen < self._armed.moment.count:
                return False
            delay = self._armed.moment.delay
        if delay > 0:
            threading.Timer(delay, self._fire_armed, args=("event", detail)).start()
            return False
        return self._fire_armed("event", detail)

    def _fire_armed(self, trigger: str, detail: str) -> bool:
        with self._lock:
            armed, self._armed = self._armed, None
            if armed is None:
                return False
        now = time.monotonic()
        self.sent_at = now
        process = armed.process
        if process.poll() is None:
            os.kill(process.pid, armed.signum)
            if armed.signum == signal.SIGKILL:
                # Hold the fake's answer until nobody is left to read it.
                deadline = now + 5
                while not _dead(process.pid) and time.monotonic() < deadline:
                    time.sleep(0.001)
        self.strikes.append(
            Strike(armed.number, armed.signum.name, armed.moment, trigger, detail,
                   now - self._started, now - armed.spawned, time.time())
        )
        self._fired.set()
        return armed.signum == signal.SIGKILL
