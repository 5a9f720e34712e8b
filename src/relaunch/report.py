"""How simulations read: the timeline and the comparison as text, and both as JSON.

Pure formatting: it takes :class:`~relaunch.simulate.Simulation` values and returns strings and
plain data; printing, and deciding whether there is a terminal to colour, is the CLI's job.
"""

from __future__ import annotations

import os
from typing import Any, TextIO

from .scenarios import Scenario
from .simulate import Simulation, Step
from .units import span

__all__ = ["Style", "comparison", "comparison_json", "headline", "simulation_json", "timeline"]


class Style:
    """ANSI colour, on only for a terminal that has not asked for none (https://no-color.org)."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("31", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)


def timeline(result: Simulation, style: Style) -> str:
    """Every run (start, duration, how it ended, decision, delay, reason), then the summary."""
    scenario = result.scenario
    lines = [
        style.bold(f"{scenario.name} under {result.name}") + f" ({_horizon(result)})",
        style.dim(scenario.description),
        "",
        style.bold(
            f"{'run':>5}  {'start':>10}  {'duration':>9}  {'ended':<12} {'decision':<8} {'delay':>7}  reason"
        ),
    ]
    for step in result.steps:
        start = f"{step.run:>5}  {span(step.started_at):>10}  {span(step.duration):>9}  "
        hung = (
            "" if step.hung_at is None else f"stopped answering after {span(step.hung_at - step.started_at)}"
        )
        if step.decision is None or step.ending is None:
            if hung:
                watched = "no health check sees it" if result.health is None else "not unhealthy yet"
                lines.append(f"{start}{'(hung)':<12} {'':<8} {'':>7}  {hung}, {watched} at the horizon")
            else:
                lines.append(f"{start}{'(running)':<12} {'':<8} {'':>7}  still running at the horizon")
            continue
        decision = step.decision
        action, delay = decision.action.value, span(decision.delay)
        if not decision.restarts:
            action, delay = style.bad(f"{action:<8}"), "-"
        reason = f"{hung}; {decision.reason}" if hung else decision.reason
        lines.append(f"{start}{step.ending.describe():<12} {action:<8} {delay:>7}  {reason}")
    summary = result.summary
    lines += [
        "",
        style.bold("summary"),
        f"  runs {summary.runs}, restarts {summary.restarts}, uptime {span(summary.uptime)}, "
        f"downtime {span(summary.downtime)}, availability {summary.availability:.1%}",
        f"  longest outage {span(summary.longest_outage)}; {_ends(result, style)}",
    ]
    return "\n".join(lines)


def comparison(results: list[Simulation], style: Style) -> str:
    """One row per policy (availability, restarts, when it gave up, longest outage), then the headline."""
    scenario = results[0].scenario
    width = max(len("policy"), *(len(result.name) for result in results))
    columns = f"{'availability':>12}  {'restarts':>8}  {'gave up':>10}  {'longest outage':>14}"
    lines = [
        style.bold(scenario.name) + f": {scenario.description}",
        style.dim(_horizon(results[0])),
        "",
        style.bold(f"{'policy':<{width}}  {columns}"),
    ]
    for result in results:
        summary = result.summary
        gave_up = "never" if summary.gave_up_at is None else span(summary.gave_up_at)
        if summary.stopped_at is not None:
            gave_up = "stopped"
        availability = f"{summary.availability:>12.1%}"
        if summary.gave_up_at is not None:
            availability = style.bad(availability)
        lines.append(
            f"{result.name:<{width}}  {availability}  "
            f"{summary.restarts:>8}  {gave_up:>10}  {span(summary.longest_outage):>14}"
        )
    return "\n".join([*lines, "", headline(results)])


def headline(results: list[Simulation]) -> str:
    """One sentence: the worst and the best policy on this scenario."""
    # min and max keep the first of equals: the order the user asked for breaks ties.
    worst = min(results, key=lambda result: result.summary.availability)
    best = max(results, key=lambda result: result.summary.availability)
    if len(results) == 1 or worst.summary.availability == best.summary.availability:
        return f"All policies keep {best.summary.availability:.1%} availability."

    def fate(result: Simulation) -> str:
        summary = result.summary
        if summary.gave_up_at is not None:
            return f"gives up after {span(summary.gave_up_at)} ({summary.availability:.1%} available)"
        return f"keeps {summary.availability:.1%} availability"

    return f"{worst.name} {fate(worst)}; {best.name} {fate(best)}."


def _horizon(result: Simulation) -> str:
    return f"{span(result.until)} of virtual time, seed {result.seed}"


def _ends(result: Simulation, style: Style) -> str:
    summary = result.summary
    if summary.gave_up_at is not None:
        return style.bad(f"gave up at {span(summary.gave_up_at)}")
    if summary.stopped_at is not None:
        return f"stopped at {span(summary.stopped_at)} (nothing to restart)"
    return style.good("never gave up")


def simulation_json(result: Simulation) -> dict[str, Any]:
    """``simulate --json``: the scenario, the policy spelled out, every step and the summary."""
    return {
        "scenario": _scenario_json(result.scenario),
        "seed": result.seed,
        "until": result.until,
        "policy": result.policy.to_dict(),
        "health_check": _health_json(result),
        "timeline": [_step_json(step) for step in result.steps],
        "summary": _summary_json(result),
    }


def comparison_json(results: list[Simulation]) -> dict[str, Any]:
    """``compare --json``: the scenario, and each policy's name and summary."""
    return {
        "scenario": _scenario_json(results[0].scenario),
        "seed": results[0].seed,
        "until": results[0].until,
        "policies": [
            {
                "policy": result.policy.name,
                "health_check": _health_json(result),
                "summary": _summary_json(result),
            }
            for result in results
        ],
    }


def _scenario_json(scenario: Scenario) -> dict[str, Any]:
    return {"name": scenario.name, "description": scenario.description, "hangs": scenario.hangs}


def _health_json(result: Simulation) -> dict[str, Any] | None:
    return None if result.health is None else result.health.to_dict()


def _summary_json(result: Simulation) -> dict[str, Any]:
    summary = result.summary
    return {
        "runs": summary.runs,
        "restarts": summary.restarts,
        "uptime": summary.uptime,
        "downtime": summary.downtime,
        "availability": summary.availability,
        "gave_up": summary.gave_up_at is not None,
        "gave_up_at": summary.gave_up_at,
        "stopped_at": summary.stopped_at,
        "longest_outage": summary.longest_outage,
    }


def _step_json(step: Step) -> dict[str, Any]:
    decision, ending = step.decision, step.ending
    return {
        "run": step.run,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "duration": step.duration,
        "hung_at": step.hung_at,
        "ending": None
        if ending is None
        else {"cause": ending.cause.value, "exit_code": ending.exit_code, "signal": ending.signal},
        "action": None if decision is None else decision.action.value,
        "delay": None if decision is None else decision.delay,
        "attempt": None if decision is None else decision.attempt,
        "rule": None if decision is None else decision.rule.value,
        "reason": None if decision is None else decision.reason,
    }
