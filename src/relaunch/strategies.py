"""Hypothesis strategies for relaunch's values: fuzz your own supervisor against the kernel.

    from hypothesis import given
    from relaunch import strategies as rst

    @given(rst.policies(), st.lists(rst.run_specs()))
    def test_my_supervisor(policy, runs): ...

``Run`` and ``drive`` (from :mod:`relaunch.runs`) are re-exported here, since a property test
usually needs them next to the strategies. This module needs Hypothesis
(``pip install relaunch[test]``); importing ``relaunch`` does not import it. The relaunch test
suite uses exactly these strategies.
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "relaunch.strategies needs Hypothesis: pip install 'relaunch[test]' (or pip install hypothesis)"
    ) from error


from .kernel import (
    Backoff,
    Budget,
    Cause,
    Compounded,
    Constant,
    CountBudget,
    DecorrelatedJitter,
    EqualJitter,
    Exhausted,
    ExitRules,
    Exponential,
    Fibonacci,
    FixedWindow,
    FullJitter,
    Geometric,
    Group,
    ImmediateFirst,
    Jitter,
    Linear,
    Lost,
    Mode,
    NoJitter,
    Outcome,
    Policy,
    ProportionalJitter,
    RandomDelay,
    Reset,
    SlidingWindow,
    Stability,
    StartFailed,
    Strategy,
    Table,
    TumblingWindow,
    Unlimited,
    UnstableRuns,
)
from .runs import Run, drive

__all__ = [
    "Run",
    "backoffs",
    "budgets",
    "causes",
    "crash_loops",
    "drive",
    "exit_rules",
    "groups",
    "jitters",
    "outcomes",
    "policies",
    "run_specs",
    "seeds",
    "stabilities",
]

# Delays and durations stay in a range where float sums of thousands of them remain exact enough
# to reason about, and where a test's virtual clock never approaches float overflow.
_seconds = st.floats(min_value=0.0, max_value=600.0, allow_nan=False, allow_infinity=False)
_positive = st.floats(min_value=0.001, max_value=600.0, allow_nan=False, allow_infinity=False)
seeds = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def _capped(draw: st.DrawFn, make: Any) -> Backoff:
    initial = draw(_positive)
    cap = draw(st.floats(min_value=initial, max_value=max(initial, 3600.0)))
    backoff: Backoff = make(initial, cap)
    return backoff


def backoffs(monotone: bool = False) -> st.SearchStrategy[Backoff]:
    """Every backoff shape. ``monotone=True`` leaves out tables whose delays ever decrease."""
    table_delays = st.lists(_seconds, min_size=1, max_size=8)
    if monotone:
        table_delays = table_delays.map(sorted)
    simple: st.SearchStrategy[Backoff] = st.one_of(
        st.builds(Constant, _seconds),
        _capped(lambda initial, cap: Linear(initial, initial / 2, cap)),
        st.builds(
            lambda initial, factor, extra: Exponential(initial, factor, initial + extra),
            _positive,
            st.floats(min_value=1.0, max_value=4.0),
            _seconds,
        ),
        st.builds(
            lambda first, extra, steps: Geometric(first, first + extra, steps),
            _positive,
            _seconds,
            st.integers(min_value=1, max_value=12),
        ),
        _capped(Fibonacci),
        st.builds(lambda delays: Table(tuple(delays)), table_delays),
        st.builds(
            # PM2 starts at its base even above the ceiling, so only initial <= ceiling is monotone.
            lambda initial, factor, extra, grid: Compounded(initial, factor, initial + extra, grid),
            _seconds,
            st.floats(min_value=1.0, max_value=3.0),
            _seconds,
            st.sampled_from([0.001, 0.01, 1.0]),
        ),
    )
    return st.one_of(simple, simple.map(ImmediateFirst))


def jitters() -> st.SearchStrategy[Jitter]:
    """Every jitter strategy."""
    return st.one_of(
        st.just(NoJitter()),
        st.just(FullJitter()),
        st.just(EqualJitter()),
        st.just(DecorrelatedJitter()),
        st.builds(ProportionalJitter, st.floats(min_value=0.0, max_value=1.0)),
        st.builds(RandomDelay, st.floats(min_value=0.0, max_value=30.0)),
    )


def budgets(max_restarts: int = 12) -> st.SearchStrategy[Budget]:
    """Every budget, with at most ``max_restarts`` restarts per count or window."""
    counts = st.integers(min_value=0, max_value=max_restarts)
    return st.one_of(
        st.just(Unlimited()),
        st.builds(CountBudget, counts),
        st.builds(SlidingWindow, counts, _positive),
        st.builds(FixedWindow, counts, _positive, st.booleans()),
        st.builds(TumblingWindow, counts, _positive),
        st.builds(UnstableRuns, counts, _seconds, _seconds),
    )


def stabilities() -> st.SearchStrategy[Stability | None]:
    """No stability, or any threshold, strictness, reset and restart delay."""
    return st.none() | st.builds(
        Stability,
        after=_seconds,
        strict=st.booleans(),
        resets=st.sampled_from([Reset.DELAY, Reset.BUDGET, Reset.BOTH]),
        restart_delay=st.none() | _seconds,
    )


_codes = st.frozensets(st.integers(min_value=0, max_value=255), max_size=3)
_signals = st.frozensets(st.integers(min_value=1, max_value=64), max_size=3)


def exit_rules() -> st.SearchStrategy[ExitRules]:
    """Exit rules, mostly the default, sometimes with listed codes and signals."""
    return st.just(ExitRules()) | st.builds(
        ExitRules,
        success_codes=_codes | st.just(frozenset({0})),
        success_signals=_signals,
        prevent_codes=_codes,
        prevent_signals=_signals,
        force_codes=_codes,
        force_signals=_signals,
    )


@st.composite
def policies(
    draw: st.DrawFn,
    budget: st.SearchStrategy[Budget] | None = None,
    backoff: st.SearchStrategy[Backoff] | None = None,
    jitter: st.SearchStrategy[Jitter] | None = None,
    stability: st.SearchStrategy[Stability | None] | None = None,
) -> Policy:
    """Any valid policy; pass a strategy for a part to pin it down."""
    chosen_budget = draw(budget if budget is not None else budgets())
    exhausted = Exhausted.GIVE_UP
    if chosen_budget.can_wait and draw(st.booleans()):
        exhausted = Exhausted.WAIT
    chosen_stability = draw(stability if stability is not None else stabilities())
    # Draw only combinations Policy accepts: Lost.STABLE and restart_unstable need a stability
    # threshold, Lost.FRESH and Lost.RESTORE leave nothing for count_lost to count, and a budget
    # that tracks every run must see LOST restarts too.
    lost_choices = [Lost.BACKOFF, Lost.FRESH, Lost.RESTORE]
    lost = draw(st.sampled_from(lost_choices + ([Lost.STABLE] if chosen_stability is not None else [])))
    if lost is Lost.FRESH or lost is Lost.RESTORE:
        count_lost = False
    elif chosen_budget.tracks_runs:
        count_lost = True
    else:
        count_lost = draw(st.booleans())
    return Policy(
        mode=draw(st.sampled_from(Mode)),
        backoff=draw(backoff if backoff is not None else backoffs()),
        budget=chosen_budget,
        exits=draw(exit_rules()),
        jitter=draw(jitter if jitter is not None else jitters()),
        stability=chosen_stability,
        on_exhausted=exhausted,
        count_lost=count_lost,
        start_failed=draw(st.sampled_from(StartFailed)),
        lost=lost,
        restart_unstable=chosen_stability is not None and draw(st.booleans()),
        resume_stopped=draw(st.booleans()),
    )


causes = st.sampled_from(Cause)


@st.composite
def run_specs(draw: st.DrawFn, durations: st.SearchStrategy[float] = _seconds) -> Run:
    """Any run: any cause, and for exits either an exit code or a signal."""
    cause = draw(causes)
    code: int | None = None
    signal: int | None = None
    if cause is Cause.EXITED:
        if draw(st.booleans()):
            code = draw(st.integers(min_value=0, max_value=255))
        else:
            signal = draw(st.integers(min_value=1, max_value=64))
    else:
        code = draw(st.none() | st.integers(min_value=0, max_value=255))
        signal = draw(st.none() | st.integers(min_value=1, max_value=64))
    return Run(draw(durations), code, signal, cause)


def outcomes(after: float = 0.0) -> st.SearchStrategy[Outcome]:
    """Any valid outcome that starts at or after ``after``."""
    return st.builds(
        lambda gap, spec: spec.outcome(after + gap),
        _seconds,
        run_specs(),
    )


def crash_loops(policy: Policy, min_size: int = 1, max_size: int = 40) -> st.SearchStrategy[list[Run]]:
    """Runs that each crash (exit 1) before ``policy`` would call them stable."""
    stability = policy.stability
    if stability is None:
        durations = _seconds
    else:
        # The kernel measures ended_at - started_at, which float rounding at large clock values
        # can push up to the threshold: keep a margin of a microsecond (exact zero always works).
        durations = st.floats(min_value=0.0, max_value=max(0.0, stability.after - 1e-6))
    crash = st.builds(Run, durations, exit_code=st.just(1))
    return st.lists(crash, min_size=min_size, max_size=max_size)


#: Short member names, so that failing examples read well.
_member_names = st.text(alphabet="abcdefgh", min_size=1, max_size=3)


def groups(budget: st.SearchStrategy[Budget] | None = None, max_members: int = 6) -> st.SearchStrategy[Group]:
    """Any valid group: any strategy, 1 to ``max_members`` distinct members, any shared budget."""
    return st.builds(
        Group,
        name=_member_names,
        strategy=st.sampled_from(Strategy),
        members=st.lists(_member_names, min_size=1, max_size=max_members, unique=True).map(tuple),
        budget=budget if budget is not None else budgets(),
    )
