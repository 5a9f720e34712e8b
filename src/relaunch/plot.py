"""Draw simulations as lanes: one per policy, runs as bars, backoff gaps, give-up marked.

matplotlib is an optional dependency (the ``plot`` extra); it is imported here only, when a plot is
asked for, and drawn through its object-oriented API (``Figure``, no ``pyplot``), so no global
state or GUI backend is involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .kernel import Action, Cause
from .simulate import Simulation
from .units import span

__all__ = ["PlotError", "render"]

_RUN = "#4c9a5a"
_LOST_RUN = "#e0a030"
_CRASH_END = "#c0392b"
_BACKOFF = "#d5d8dc"
_DOWN = "#f5b7b1"
_HUNG = "#8e6fb5"
_FORMATS = (".png", ".svg")


class PlotError(Exception):
    """The plot cannot be drawn (matplotlib missing, unknown format, unwritable file)."""


def render(results: list[Simulation], path: str | Path) -> None:
    """Write one lane per simulation to ``path`` (``.png`` or ``.svg``)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise PlotError(f"--plot: the file must end in .png or .svg, got {str(path)!r}")
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        raise PlotError(
            "--plot needs matplotlib, which is not installed: in the relaunch checkout, "
            "pip install -e '.[plot]' (or make demo)"
        ) from None
    until = results[0].until
    hours = until >= 3 * 3600
    scale, unit = (3600.0, "hours") if hours else (60.0, "minutes")
    figure = Figure(figsize=(12, 1.3 + 0.75 * len(results)), dpi=120, layout="constrained")
    axes = figure.add_subplot()
    for lane, result in enumerate(reversed(results)):
        _lane(axes, lane, result, scale)
    axes.set_yticks(
        range(len(results)),
        [_label(result) for result in reversed(results)],
    )
    axes.set_ylim(-0.6, len(results) - 0.4)
    axes.set_xlim(0, until / scale)
    axes.set_xlabel(f"virtual time ({unit})")
    scenario = results[0].scenario
    figure.suptitle(f"{scenario.name}: {scenario.description}", x=0.01, ha="left", fontsize=10)
    axes.set_title(f"{span(until)} of virtual time, seed {results[0].seed}", loc="left", fontsize=9)
    axes.spines[["top", "right", "left"]].set_visible(False)
    axes.tick_params(axis="y", length=0)
    figure.legend(
        handles=[
            Patch(color=_RUN, label="running"),
            Patch(color=_LOST_RUN, label="running, then lost (daemon)"),
            Patch(color=_HUNG, label="hung (not answering)"),
            Line2D([], [], color=_CRASH_END, marker="|", linestyle="", markersize=10, label="crash"),
            Patch(color=_BACKOFF, label="waiting (backoff)"),
            Patch(color=_DOWN, label="down: gave up or stopped"),
        ],
        loc="outside lower center",
        ncols=6,
        frameon=False,
        fontsize=9,
    )
    # The folder is the user's to make: a typo in it must not create a tree (the CLI checks first).
    try:
        figure.savefig(path)
    except OSError as error:
        raise PlotError(f"--plot: cannot write {path}: {error.strerror or error}") from None


def _label(result: Simulation) -> str:
    summary = result.summary
    fate = "never gave up" if summary.gave_up_at is None else f"gave up after {span(summary.gave_up_at)}"
    return f"{result.name}\n{summary.availability:.1%} up, {fate}"


def _lane(axes: Any, lane: int, result: Simulation, scale: float) -> None:
    bars: dict[str, list[tuple[float, float]]] = {_RUN: [], _LOST_RUN: [], _HUNG: [], _BACKOFF: [], _DOWN: []}
    crash_ends: list[float] = []
    for index, step in enumerate(result.steps):
        lost = step.ending is not None and step.ending.cause is Cause.LOST
        bars[_LOST_RUN if lost else _RUN].append((step.started_at / scale, step.uptime / scale))
        if step.hung_at is not None:
            bars[_HUNG].append((step.hung_at / scale, (step.ended_at - step.hung_at) / scale))
        if step.decision is None:
            continue
        if step.ending is not None and not lost:
            crash_ends.append(step.ended_at / scale)
        following = result.steps[index + 1].started_at if index + 1 < len(result.steps) else result.until
        gap = ((step.ended_at) / scale, (following - step.ended_at) / scale)
        bars[_BACKOFF if step.decision.restarts else _DOWN].append(gap)
    for colour, spans in bars.items():
        running = colour in (_RUN, _LOST_RUN, _HUNG)
        height = 0.7 if running else 0.35
        # A thin white edge keeps back-to-back runs (restarted at once) visible as separate runs.
        axes.broken_barh(
            spans,
            (lane - height / 2, height),
            facecolors=colour,
            edgecolor="white",
            linewidth=0.4 if running else 0,
        )
    if crash_ends:
        axes.plot(crash_ends, [lane] * len(crash_ends), "|", color=_CRASH_END, markersize=12)
    last = result.steps[-1].decision
    if last is not None and last.action is Action.GIVE_UP:
        at = result.steps[-1].ended_at / scale
        axes.plot([at], [lane], "X", color=_CRASH_END, markersize=11)
        axes.annotate(
            f"gave up at {span(result.steps[-1].ended_at)}",
            (at, lane + 0.2),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=9,
            color=_CRASH_END,
        )
