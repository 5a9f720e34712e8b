"""The simulator: a scenario's runs drive a policy's decisions in virtual time.

Because the kernel never reads a clock, hours of failures replay in milliseconds: each run's end
becomes an :class:`~relaunch.Outcome`, ``policy.decide`` answers, and the next run starts after
the decision's delay (the loop is :func:`relaunch.runs.play`, the one every replay uses). The
simulation ends at the horizon (``until``), or when the policy gives up
or stops (the workload then stays down until the horizon). This module only composes the kernel
and a scenario; it does no I/O.

A run that hangs (stops answering without exiting) is down from then on. Without a health check it
stays hung until it ends by itself (or the horizon). With one, the kernel's probe machine
(:class:`~relaunch.kernel.HealthCheck`) is fed virtual probes: each answers at once while the run
answers, and times out (``ProbeResult.TIMEOUT``, ``timeout`` after it was sent) once it hangs. The
run is killed when the verdict is UNHEALTHY, at that instant (a supervisor's stop grace is not
modelled), and ends with ``Cause.UNHEALTHY`` through ``policy.decide`` like any other end. Runs
that never hang are not probed: every probe would pass, and passes never kill.
"""

from __future__ import annotations

import math

import attrs

from .kernel import Action, Cause, Decision, HealthCheck, Outcome, Policy, ProbeResult, Verdict
from .runs import play
from .scenarios import Ending, Scenario, ScenarioError

__all__ = ["MAX_RUNS", "UNHEALTHY", "Simulation", "Step", "Summary", "simulate", "unhealthy_at"]

#: Runs a simulation may take before it is refused: zero-length runs restarted with no delay would
#: otherwise never reach the horizon.
MAX_RUNS = 200_000


@attrs.frozen
class Step:
    """One run: when it started and ended, how, and what the policy decided.

    A run still going at the horizon has no ``ending`` and no ``decision``; its ``ended_at`` is
    the horizon. ``hung_at`` is when the run stopped answering (None: it never did); it is down
    from then to ``ended_at``.
    """

    run: int
    started_at: float
    ended_at: float
    ending: Ending | None
    decision: Decision | None
    hung_at: float | None = None

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    @property
    def uptime(self) -> float:
        """The part of the run it answered: up to its end, or up to its hang."""
        return (self.ended_at if self.hung_at is None else self.hung_at) - self.started_at


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
    #: The longest stretch with the workload down (a hang and the backoff gap after it, a
    #: backoff gap, or the rest after giving up).
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
    #: The health check the runs were probed with, or None.
    health: HealthCheck | None = None

    @property
    def name(self) -> str:
        """The policy's name, and whether a health check watched the runs (``docker + health check``)."""
        return self.policy.name if self.health is None else f"{self.policy.name} + health check"


#: How a run the health check killed ends.
UNHEALTHY = Ending(cause=Cause.UNHEALTHY)


def simulate(
    policy: Policy,
    scenario: Scenario,
    *,
    until: float | None = None,
    seed: int = 0,
    health: HealthCheck | None = None,
) -> Simulation:
    """Run ``scenario`` under ``policy`` from time 0 to ``until`` (default: the scenario's own),
    with its runs probed by ``health`` if one is given (see the module docstring)."""
    horizon = scenario.until if until is None else until
    if not 0 < horizon < math.inf:
        raise ScenarioError(f"until: must be a finite duration > 0, got {horizon!r}")
    runs = scenario.runs(seed)
    steps: list[Step] = []
    endings: list[tuple[Ending, float | None]] = []

    def outcome_at(start: float) -> Outcome | None:
        if start >= horizon:
            return None
        if len(steps) == MAX_RUNS:
            raise ScenarioError(
                f"more than {MAX_RUNS} runs before the horizon: use a shorter --until for this policy"
            )
        end, ending, hangs_at = runs.end(start)
        if health is not None and hangs_at < end:
            killed_at = unhealthy_at(health, start, hangs_at, min(end, horizon))
            if killed_at < end:
                end, ending = killed_at, UNHEALTHY
        hung_at = hangs_at if hangs_at < min(end, horizon) else None
        if end >= horizon:
            steps.append(Step(len(steps) + 1, start, horizon, None, None, hung_at))
            return None
        endings.append((ending, hung_at))
        return ending.outcome(start, end)

    for decision in play(policy, policy.start(at=0.0, seed=seed), outcome_at):
        outcome = decision.outcome
        ending, hung_at = endings[-1]
        steps.append(Step(len(steps) + 1, outcome.started_at, outcome.ended_at, ending, decision, hung_at))
    return Simulation(policy, scenario, seed, horizon, tuple(steps), _summarise(steps, horizon), health)


def unhealthy_at(check: HealthCheck, start: float, hangs_at: float, end: float) -> float:
    """When ``check`` declares a run started at ``start`` that hangs at ``hangs_at`` unhealthy;
    ``math.inf`` if not before ``end`` (the run's own end, or the horizon: probing stops there, so a
    long start period costs at most one probe per start interval up to the horizon).

    A probe sent before the hang passes at once; one sent at or after it times out ``timeout``
    later. Passes that change nothing but the time of the next probe (a HEALTHY run past its start
    period) are skipped in one step, so a run that answers for days costs a few probes, not one per
    interval.
    """
    state = check.begin(start)
    interval = check.interval
    while (due := state.next_probe_at) < end:
        if due < hangs_at:
            if state.verdict is Verdict.HEALTHY and state.last_at >= state.start_period_ends:
                skipped = math.floor((hangs_at - due) / interval)
                while skipped > 0 and due + skipped * interval >= hangs_at:
                    skipped -= 1  # rounding: the probe skipped to must still come before the hang
                due += skipped * interval
            _, state = check.observe(state, ProbeResult.PASS, due)
            continue
        answered = due + check.timeout
        if answered >= end:
            break
        verdict, state = check.observe(state, ProbeResult.TIMEOUT, answered)
        if verdict is Verdict.UNHEALTHY:
            return answered
    return math.inf


def _summarise(steps: list[Step], until: float) -> Summary:
    # Summing the runs' (end - start) can exceed the horizon by a rounding error: not more than 100%.
    uptime = min(sum(step.uptime for step in steps), until)
    # Outages: from each run's end (or its hang) to the next run's start, or to the horizon after
    # the last.
    starts = [step.started_at for step in steps[1:]] + [until]
    downs = [step.ended_at if step.hung_at is None else step.hung_at for step in steps]
    outages = [begin - down for down, begin in zip(downs, starts, strict=True)]
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
