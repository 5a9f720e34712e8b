"""A Hypothesis state machine that drives the kernel and a tiny independent model side by side.

The model is written the plain way, with mutable counters and lists, for a subset of policies
(exponential backoff without jitter; count or sliding-window budget; optional stability; either
restart mode that matters for services). Any disagreement is a bug in one of them.
"""

from __future__ import annotations

import attrs
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from relaunch import (
    Action,
    Cause,
    CountBudget,
    Exponential,
    Mode,
    Outcome,
    Policy,
    Reset,
    SlidingWindow,
    Stability,
    StartFailed,
)


@attrs.define
class Model:
    """The reference: what the kernel should do, as a supervisor author would write it inline."""

    mode: Mode
    initial: float
    cap: float
    max_restarts: int
    window: float | None  # None: a count budget
    stable_after: float | None
    resets: Reset
    restart_delay: float | None
    count_lost: bool
    give_up_on_failed_start: bool
    step: int = 0
    attempt: int = 0
    restarts: int = 0
    used: int = 0
    times: list[float] = attrs.Factory(list)
    given_up: bool = False

    def backoff(self, step: int) -> float:
        return min(self.initial * 2.0 ** min(step - 1, 1100), self.cap)

    def admit(self, at: float) -> bool:
        if self.window is None:
            if self.used >= self.max_restarts:
                return False
            self.used += 1
            return True
        self.times = [t for t in self.times if at - t <= self.window]
        if len(self.times) >= self.max_restarts:
            return False
        self.times.append(at)
        return True

    def decide(self, started: float, ended: float, cause: Cause, code: int | None) -> tuple[Action, float]:
        if self.given_up:
            return Action.GIVE_UP, 0.0
        if cause is Cause.STOPPED:
            return Action.STOP, 0.0
        if cause is Cause.START_FAILED and self.give_up_on_failed_start:
            self.given_up = True
            return Action.GIVE_UP, 0.0
        if cause is Cause.EXITED and code == 0 and self.mode is Mode.ON_FAILURE:
            return Action.STOP, 0.0
        counted = cause is not Cause.LOST or self.count_lost
        stable = (
            self.stable_after is not None
            and cause is not Cause.START_FAILED
            and cause is not Cause.UNHEALTHY
            and ended - started >= self.stable_after
        )
        if stable:
            if self.resets & Reset.DELAY:
                self.step = 0
            if self.restart_delay is None:
                self.step += 1
                delay = self.backoff(self.step)
            else:
                delay = self.restart_delay
            if self.resets & Reset.BUDGET:
                self.used, self.times = 0, []
            elif counted and not self.admit(ended + delay):
                self.given_up = True
                return Action.GIVE_UP, 0.0
            self.attempt = 0
            self.restarts += 1
            return Action.RESET, delay
        delay = self.backoff(self.step + 1)
        if counted and not self.admit(ended + delay):
            self.given_up = True
            return Action.GIVE_UP, 0.0
        self.step += 1
        self.attempt += 1
        self.restarts += 1
        return Action.RETRY, delay


class KernelAgainstModel(RuleBasedStateMachine):
    """For any sequence of runs, the kernel and the independent model make the same decisions and remember the same counters.

    Every rule feeds the same run to both; the invariant compares what they remember.
    """

    @initialize(
        mode=st.sampled_from([Mode.ALWAYS, Mode.ON_FAILURE]),
        initial=st.floats(0.01, 10.0),
        extra=st.floats(0.0, 100.0),
        max_restarts=st.integers(0, 6),
        window=st.none() | st.floats(0.5, 200.0),
        stable_after=st.none() | st.floats(0.5, 100.0),
        resets=st.sampled_from([Reset.DELAY, Reset.BUDGET, Reset.BOTH]),
        restart_delay=st.none() | st.floats(0.0, 5.0),
        count_lost=st.booleans(),
        give_up_on_failed_start=st.booleans(),
    )
    def setup(self, **params: object) -> None:
        params["cap"] = params["initial"] + params.pop("extra")  # type: ignore[operator]
        self.model = Model(**params)  # type: ignore[arg-type]
        m = self.model
        budget = CountBudget(m.max_restarts) if m.window is None else SlidingWindow(m.max_restarts, m.window)
        stability = None
        if m.stable_after is not None:
            stability = Stability(after=m.stable_after, resets=m.resets, restart_delay=m.restart_delay)
        self.policy = Policy(
            mode=m.mode,
            backoff=Exponential(m.initial, 2.0, m.cap),
            budget=budget,
            stability=stability,
            count_lost=m.count_lost,
            start_failed=StartFailed.GIVE_UP if m.give_up_on_failed_start else StartFailed.RETRY,
        )
        self.state = self.policy.start(at=0.0)
        self.now = 0.0
        self.stopped = False

    def _run(self, duration: float, cause: Cause, code: int | None) -> None:
        started = self.now
        outcome = Outcome(started_at=started, ended_at=started + duration, exit_code=code, cause=cause)
        decision = self.policy.decide(self.state, outcome)
        expected = self.model.decide(started, outcome.ended_at, cause, code)
        note(f"{outcome} -> kernel {decision.action.value} {decision.delay}, model {expected}")
        assert (decision.action, decision.delay) == expected
        self.state = decision.state
        self.now = outcome.ended_at + decision.delay
        self.stopped = decision.action is Action.STOP

    @precondition(lambda self: not self.stopped)
    @rule(duration=st.floats(0.0, 150.0), code=st.sampled_from([0, 1, 2, 137]))
    def exits(self, duration: float, code: int) -> None:
        self._run(duration, Cause.EXITED, code)

    @precondition(lambda self: not self.stopped)
    @rule(duration=st.floats(0.0, 150.0))
    def lost(self, duration: float) -> None:
        self._run(duration, Cause.LOST, None)

    @precondition(lambda self: not self.stopped)
    @rule(duration=st.floats(0.0, 150.0), code=st.sampled_from([None, 137]))
    def health_kills(self, duration: float, code: int | None) -> None:
        self._run(duration, Cause.UNHEALTHY, code)

    @precondition(lambda self: not self.stopped)
    @rule()
    def start_fails(self) -> None:
        self._run(0.0, Cause.START_FAILED, None)

    @precondition(lambda self: not self.stopped)
    @rule(duration=st.floats(0.0, 150.0))
    def operator_stops(self, duration: float) -> None:
        self._run(duration, Cause.STOPPED, None)

    @precondition(lambda self: self.stopped)
    @rule(idle=st.floats(0.0, 60.0))
    def operator_starts_it_again(self, idle: float) -> None:
        # A manual start after a stop keeps the policy's memory; only Policy.start forgets.
        self.now += idle
        self.stopped = False

    @invariant()
    def same_memory(self) -> None:
        if not hasattr(self, "state"):
            return
        m = self.model
        assert self.state.given_up == m.given_up
        if not m.given_up:
            assert (self.state.attempt, self.state.step, self.state.restarts) == (
                m.attempt,
                m.step,
                m.restarts,
            )
            if m.window is None:
                assert self.state.budget == m.used
            else:
                assert SlidingWindow.times(self.state.budget) == tuple(m.times)
                assert self.state.budget[0] == len(m.times)


TestKernelAgainstModel = KernelAgainstModel.TestCase
