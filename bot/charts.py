"""Charts attached to query replies, as PNG bytes: activity by hour and weekday, ship classes.

Drawn with matplotlib's object API on the Agg canvas (``FigureCanvasAgg``), never pyplot: no
global figure state, no GUI backend. matplotlib is still not safe to draw from two threads at
once (font and text caches are shared), so drawing is serialised by a lock; the ``*_chart``
coroutines draw in a worker thread so the event loop never waits on a render (~50-100 ms).
matplotlib is imported on first use: the bot starts without paying for it.

Titles and labels come from data (names): ``$`` is escaped so that matplotlib never reads a
name as mathtext.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "HOURS",
    "MAX_CLASSES",
    "WEEKDAYS",
    "activity_chart",
    "activity_png",
    "class_mix_chart",
    "class_mix_png",
]

HOURS: Final = 24
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_CLASSES: Final = 12  # bars in the class mix; the rest are summed as "Other"
_SIZE: Final = (8.0, 4.0)  # inches, at _DPI: 800 x 400 px
_DPI: Final = 100
_COLOURS: Final = ("#5865F2", "#ED4245", "#57F287", "#FEE75C")
_lock = threading.Lock()


def _plain(text: str) -> str:
    """Data text as matplotlib shows it verbatim (no mathtext), on one line."""
    return " ".join(text.replace("$", r"\$").split())


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def activity_png(by_hour: Sequence[int], by_weekday: Sequence[int], *, title: str) -> bytes:
    """Two bar charts side by side: kills per hour of the day and per day of the week (UTC)."""
    if len(by_hour) != HOURS or len(by_weekday) != len(WEEKDAYS):
        raise ValueError("activity takes 24 hourly and 7 daily counts")
    from matplotlib.ticker import MaxNLocator

    with _lock:
        figure = _figure()
        hours, days = figure.subplots(1, 2, width_ratios=(3, 1.4))
        hours.bar(range(HOURS), list(by_hour), color=_COLOURS[0])
        hours.set_xticks(range(0, HOURS, 3))
        hours.set_xlim(-0.6, HOURS - 0.4)
        hours.set_xlabel("hour (UTC)")
        hours.set_ylabel("kills and losses")
        days.bar(range(len(WEEKDAYS)), list(by_weekday), color=_COLOURS[2])
        days.set_xticks(range(len(WEEKDAYS)), WEEKDAYS, fontsize=8)
        days.set_xlabel("day (UTC)")
        for axes in (hours, days):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.spines[["top", "right"]].set_visible(False)
        figure.suptitle(_plain(title))
        return _png(figure)


def class_mix_png(series: Mapping[str, Sequence[tuple[str, int]]], *, title: str) -> bytes:
    """Horizontal bars per ship class, one colour per series ("flown", "lost"...).

    Classes are ordered by their total over all series; past :data:`MAX_CLASSES` the rest are
    summed into "Other".
    """
    if not 1 <= len(series) <= len(_COLOURS):
        raise ValueError(f"between 1 and {len(_COLOURS)} series")
    counts = {label: dict(rows) for label, rows in series.items()}
    totals: dict[str, int] = {}
    for rows in counts.values():
        for name, n in rows.items():
            totals[name] = totals.get(name, 0) + n
    order = sorted(totals, key=lambda name: (-totals[name], name))
    shown, rest = order[:MAX_CLASSES], order[MAX_CLASSES:]
    from matplotlib.ticker import MaxNLocator

    with _lock:
        figure = _figure()
        axes = figure.subplots()
        height = 0.8 / len(counts)
        for index, (label, rows) in enumerate(counts.items()):
            values = [rows.get(name, 0) for name in shown]
            if rest:
                values.append(sum(rows.get(name, 0) for name in rest))
            positions = [i + index * height for i in range(len(values))]
            axes.barh(positions, values, height=height, label=_plain(label),
                      color=_COLOURS[index])
        labels = [_plain(name) for name in shown] + (["Other"] if rest else [])
        axes.set_yticks([i + height * (len(counts) - 1) / 2 for i in range(len(labels))],
                        labels, fontsize=8)
        axes.invert_yaxis()  # the most common class on top
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        if len(counts) > 1:
            axes.legend(loc="lower right", frameon=False)
        figure.suptitle(_plain(title))
        return _png(figure)


async def activity_chart(
    by_hour: Sequence[int], by_weekday: Sequence[int], *, title: str
) -> bytes:
    """:func:`activity_png`, drawn in a worker thread."""
    return await asyncio.to_thread(activity_png, by_hour, by_weekday, title=title)


async def class_mix_chart(series: Mapping[str, Sequence[tuple[str, int]]], *, title: str) -> bytes:
    """:func:`class_mix_png`, drawn in a worker thread."""
    return await asyncio.to_thread(class_mix_png, series, title=title)
