"""``bench history --plot``: the metric of every run set over time, as a PNG or SVG picture.

Each run set is a column of its ok repetitions with its mean marked; baseline run sets and
candidate run sets are told apart, the baseline in effect is a step line that moves where the
pointer moved (establish, promote), and the two sides of a paired comparison are joined.
matplotlib is an optional extra (the ``plot`` extra, or ``pip install matplotlib``) and is imported
only here.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchstone.errors import BenchstoneError, MissingExtra

if TYPE_CHECKING:
    from benchstone.project.history import Timeline, TimelineEntry

FORMATS = {".png": "png", ".svg": "svg"}
INSTALL = "pip install matplotlib (benchstone's plot extra)"
BASELINE_COLOUR = "#1f77b4"
CANDIDATE_COLOUR = "#ff7f0e"
POINTER_COLOUR = "#2ca02c"


def check_plot_path(path: Path) -> str:
    """The image format for ``path``; raises before any work when it cannot be written."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BenchstoneError(f"cannot plot to {path.name}: the file name must end in .png or .svg")
    if not path.parent.is_dir():
        raise BenchstoneError(f"cannot plot to {path}: {path.parent} is not a directory")
    require_matplotlib()
    return fmt


def require_matplotlib() -> Any:
    """The matplotlib module, or MissingExtra naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    return matplotlib


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _ok_values(entry: TimelineEntry) -> list[float]:
    return [run.metric for run in entry.runs if run.status == "ok" and run.metric is not None]


def _is_baseline(entry: TimelineEntry) -> bool:
    return entry.run_set.kind == "baseline" or entry.run_set.side == "baseline"


def _draw(axes: Any, entries: list[TimelineEntry]) -> dict[int, tuple[float, float]]:
    """One column per run set, oldest first: its runs, their range and their mean.

    Returns the (position, mean) of every run set that has ok runs, by run set id.
    """
    means: dict[int, tuple[float, float]] = {}
    labelled: set[str] = set()
    for position, entry in enumerate(entries):
        values = _ok_values(entry)
        if not values:
            continue
        mean = sum(values) / len(values)
        means[entry.run_set.id] = (position, mean)
        role = "baseline run set" if _is_baseline(entry) else "candidate run set"
        colour = BASELINE_COLOUR if _is_baseline(entry) else CANDIDATE_COLOUR
        axes.scatter([position] * len(values), values, s=12, color=colour, alpha=0.35,
                     linewidths=0)
        axes.plot([position, position], [min(values), max(values)], color=colour, alpha=0.5,
                  linewidth=1)
        axes.scatter([position], [mean], s=46, color=colour, edgecolors="black", linewidths=0.6,
                     zorder=3, label=None if role in labelled else f"{role} (mean and runs)")
        labelled.add(role)
    if not means:
        axes.text(0.5, 0.5, "no ok runs yet", transform=axes.transAxes, ha="center", va="center")
    return means


def _draw_comparisons(axes: Any, entries: list[TimelineEntry],
                      means: dict[int, tuple[float, float]]) -> None:
    """Join the two sides of each paired comparison (run sets sharing a comparison_id)."""
    sides: dict[int, dict[str, int]] = {}
    for entry in entries:
        rs = entry.run_set
        if rs.comparison_id is not None and rs.side is not None:
            sides.setdefault(rs.comparison_id, {})[rs.side] = rs.id
    for pair in sides.values():
        if {"baseline", "candidate"} <= pair.keys() and all(i in means for i in pair.values()):
            (x0, y0), (x1, y1) = means[pair["baseline"]], means[pair["candidate"]]
            axes.plot([x0, x1], [y0, y1], color="grey", linestyle=":", linewidth=1)


def _draw_pointer(axes: Any, entries: list[TimelineEntry],
                  means: dict[int, tuple[float, float]]) -> None:
    """A marked line at every pointer move, placed after the last run set made before it, and
    the baseline in effect as a step line at the mean of the run set the pointer named."""
    created = [_time(entry.run_set.created_at) for entry in entries]
    events = sorted((event for entry in entries for event in entry.baseline_events),
                    key=lambda event: event.created_at)

    def position(stamp: str) -> float:
        moved = _time(stamp)
        return sum(1 for when in created if when <= moved) - 0.5

    drawn = False
    for index, event in enumerate(events):
        start = position(event.created_at)
        until = (position(events[index + 1].created_at) if index + 1 < len(events)
                 else len(entries) - 0.5)
        label = event.action + (" (forced)" if event.forced else "")
        axes.axvline(start, color=POINTER_COLOUR, linestyle="--", linewidth=0.8, alpha=0.7,
                     label="baseline pointer moved" if index == 0 else None)
        axes.annotate(label, xy=(start, 1.0), xycoords=("data", "axes fraction"),
                      xytext=(2, -4), textcoords="offset points", fontsize=7,
                      color=POINTER_COLOUR, rotation=90, va="top")
        if event.run_set_id in means:
            level = means[event.run_set_id][1]
            axes.plot([start, until], [level, level], color=POINTER_COLOUR, linewidth=2,
                      alpha=0.8, label=None if drawn else "baseline in effect (its mean)")
            drawn = True


def _tick_labels(entries: list[TimelineEntry]) -> list[str]:
    """Time and commit under each column; the date only where it changes."""
    labels, last_day = [], None
    for entry in entries:
        when = _time(entry.run_set.created_at)
        day = when.strftime("%Y-%m-%d")
        stamp = when.strftime("%H:%M:%S") if day == last_day else f"{day}\n{when:%H:%M:%S}"
        labels.append(f"{stamp}\n{entry.run_set.git_sha[:7]}")
        last_day = day
    return labels


def render(timeline: Timeline, fmt: str) -> bytes:
    """The picture of ``timeline`` as PNG or SVG bytes."""
    matplotlib = require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator

    entries = list(reversed(timeline.entries))  # oldest first
    figure = Figure(figsize=(max(8.0, 0.55 * len(entries) + 3), 5), layout="constrained")
    axes = figure.add_subplot()
    means = _draw(axes, entries)
    _draw_comparisons(axes, entries, means)
    _draw_pointer(axes, entries, means)
    step = max(1, len(entries) // 25)
    ticks = list(range(0, len(entries), step))
    labels = _tick_labels(entries)
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_major_formatter(FixedFormatter([labels[i] for i in ticks]))
    axes.tick_params(axis="x", labelsize=7)
    axes.set_xlim(-0.7, max(len(entries) - 0.3, 0.7))
    axes.set_title(f"{timeline.project}/{timeline.benchmark}: metric per run set, oldest first")
    axes.set_ylabel("metric")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="best")
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "benchstone"}):
        figure.savefig(buffer, format=fmt, dpi=120,
                       metadata={"Date": None} if fmt == "svg" else None)
    return buffer.getvalue()


def write_plot(timeline: Timeline, path: Path) -> Path:
    """Draw ``timeline`` into ``path`` (.png or .svg); a new file is created 0o600."""
    data = render(timeline, check_plot_path(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
