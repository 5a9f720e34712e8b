"""The simulator: a scenario's runs drive a policy's decisions in virtual time.

Because the kernel never reads a clock, hours of failures replay in milliseconds: each run's end
becomes an :class:`~relaunch.Outcome`, ``policy.decide`` answers, and the next run starts after
the decision's delay (the loop is :func:`relaunch.runs.play`, the one every replay uses). The
simulation ends at the horizon (``until``), or when the policy gives up
or stops (the workload then stays down until the horizon). This module only composes the kernel
and a scenario; it does no I/O.
"""

from __future__ import annotations

import math

import attrs

from .kernel import Action, Decision, Outcome, Policy
from .runs import play
from .scenarios import Ending, Scenario, ScenarioError

__all__ = ["MAX_RUNS", "Simulation", "Step", "Summary", "simulate"]

#: Runs a simulation may take before it is refused: zero-length runs restarted with no delay would
#: otherwise never reach the horizon.
MAX_RUNS = 200_000


@attrs.frozen
class Step:
    """One run: when it started and ended, how, and what the policy decided.

    A run still going at the horizon has no ``ending`` and no ``decision``; its ``ended_at`` is
    the horizon.
    """

    run: int
    started_at: float
    ended_at: float
    ending: Ending | None
    decision: Decision | None

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at


@attrs.frozen
class Summary:
    """What a policy did to a workload over ``until`` seconds of virtual time."""

    until: float
    runs: int
    restarts: int
    uptime: float
    #: When the policy gave up, or None; a STOP decision (nothing to restart) is ``stopped_at``.
    gave_up_at: float | None
    stopped_at: float | None
    #: The longest stretch with the workload down (a backoff gap, or the rest after giving up).
    longest_outage: float

    @property
    def downtime(self) -> float:
        return self.until - self.uptime

    @property
    def availability(self) -> float:
        return self.uptime / self.until if self.until else 1.0


@attrs.frozen
class Simulation:
    policy: Policy
    scenario: Scenario
    seed: int
    until: float
    steps: tuple[Step, ...]
    summary: Summary


def simulate(policy: Policy, scenario: Scenario, *, until: float | None = None, seed: int = 0) -> Simulation:
    """Run ``scenario`` under ``policy`` from time 0 to ``until`` (default: the scenario's own)."""
    horizon = scenario.until if until is None else until
    if not 0 < horizon < math.inf:
        raise ScenarioError(f"until: must be a finite duration > 0, got {horizon!r}")
    runs = scenario.runs(seed)
    steps: list[Step] = []
    endings: list[Ending] = []

    def outcome_at(start: float) -> Outcome | None:
        if start >= horizon:
            return None
        if len(steps) == MAX_RUNS:
            raise ScenarioError(
                f"more than {MAX_RUNS} runs before the horizon: use a shorter --until for this policy"
            )
        end, ending = runs.end(start)
        if end >= horizon:
            steps.append(Step(len(steps) + 1, start, horizon, None, None))
            return None
        endings.append(ending)
        return ending.outcome(start, end)

    for decision in play(policy, policy.start(at=0.0, seed=seed), outcome_at):
        outcome = decision.outcome
        steps.append(Step(len(steps) + 1, outcome.started_at, outcome.ended_at, endings[-1], decision))
    return Simulation(policy, scenario, seed, horizon, tuple(steps), _summarise(steps, horizon))


def _summarise(steps: list[Step], until: float) -> Summary:
    uptime = sum(step.duration for step in steps)
    # Outages: from each run's end to the next run's start, or to the horizon after the last.
    starts = [step.started_at for step in steps[1:]] + [until]
    outages = [begin - step.ended_at for step, begin in zip(steps, starts, strict=True)]
    last = steps[-1].decision
    ended_at = steps[-1].ended_at
    return Summary(
        until=until,
        runs=len(steps),
        restarts=sum(1 for step in steps if step.decision is not None and step.decision.restarts),
        uptime=uptime,
        gave_up_at=ended_at if last is not None and last.action is Action.GIVE_UP else None,
        stopped_at=ended_at if last is not None and last.action is Action.STOP else None,
        longest_outage=max(outages, default=0.0),
    )
