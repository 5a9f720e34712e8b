"""How decide's cost grows with its work: restarts held in a budget window, and streak length.

Windows: a crash loop under a sliding or fixed window of `burst` restarts, waiting when the budget
is spent (Exhausted.WAIT), is replayed until it is in steady state, so every timed decision sees a
full window; the count budget with the same backoff is the baseline the 3x target is set on.

Streaks: a State `attempt` restarts into an unbroken streak is built through the public
serialised form (`State.to_dict()` / `State.from_dict()`), not by a million decisions; the timed
decisions continue that streak under an exponential backoff, which must stay at its cap without a
float overflow (2.0 ** 10**6 overflows; the backoff must not compute it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from benchmarks.decide import CRASH_RUN, crash_loop, replay
from benchmarks.harness import Case, Workload
from relaunch import Outcome, Policy, State
from relaunch.kernel import (
    Constant,
    CountBudget,
    Exhausted,
    Exponential,
    FixedWindow,
    SlidingWindow,
    Unlimited,
)

BURSTS = (1, 10, 100, 1000)
STREAKS = (10, 1000, 10**6)
#: Timed pairs per row, taken from the end of the replay.
PAIRS = 64
#: Seconds between restarts in the window rows, so a window of `burst` restarts spans
#: burst * CYCLE seconds of crash loop.
DELAY = 1.0
CYCLE = CRASH_RUN + DELAY
CAP = 60.0

COUNT_BASELINE = "window: count budget (baseline)"


def window_name(kind: str, burst: int) -> str:
    return f"window: {kind}, burst {burst}"


def streak_name(attempt: int) -> str:
    return f"streak: attempt {attempt:,}"


def window_policy(kind: str, burst: int) -> Policy:
    # The period is twice the time `burst` restarts take, so the budget (not the backoff) is
    # what limits the loop and the window is full in steady state.
    period = 2 * burst * CYCLE
    budget = {
        "sliding": lambda: SlidingWindow(burst, period),
        "fixed": lambda: FixedWindow(burst, period),
        "count": lambda: CountBudget(10**9),
    }[kind]()
    # WAIT keeps a full window restarting; a count budget this large is never spent.
    exhausted = Exhausted.GIVE_UP if kind == "count" else Exhausted.WAIT
    return Policy(backoff=Constant(DELAY), budget=budget, on_exhausted=exhausted)


def steady(policy: Policy, burst: int) -> list[tuple[State, Outcome]]:
    """The last PAIRS pairs of a crash loop long enough to fill the window several times."""
    return replay(policy, crash_loop(), 4 * burst + PAIRS)[-PAIRS:]


def window_case(kind: str, burst: int) -> Callable[[], Workload]:
    def build() -> Workload:
        policy = window_policy(kind, burst)
        return Workload(policy.decide, steady(policy, burst))

    return build


def count_baseline() -> Workload:
    policy = window_policy("count", 1)
    return Workload(policy.decide, steady(policy, max(BURSTS)))


def streak_policy() -> Policy:
    return Policy(backoff=Exponential(1.0, 2.0, CAP), budget=Unlimited())


def streak_state(policy: Policy, attempt: int) -> State:
    """A state `attempt` restarts into one unstable streak, via the serialised form."""
    state = replay(policy, crash_loop(), 2)[-1][0]
    data = state.to_dict()
    data["attempt"] = data["step"] = data["restarts"] = attempt
    return State.from_dict(data)


def streak_case(attempt: int) -> Callable[[], Workload]:
    def build() -> Workload:
        policy = streak_policy()
        state = streak_state(policy, attempt)
        pairs = []
        t = state.last_at
        for _ in range(PAIRS):
            outcome = next(crash_loop()).outcome(t)
            decision = policy.decide(state, outcome)
            if not (decision.restarts and math.isfinite(decision.delay)):
                raise AssertionError(f"attempt {state.attempt}: {decision!r}")
            if decision.delay != CAP:
                raise AssertionError(f"attempt {state.attempt}: delay {decision.delay}, not {CAP}")
            pairs.append((state, outcome))
            state, t = decision.state, outcome.ended_at + decision.delay
        return Workload(policy.decide, pairs)

    return build


def cases() -> list[Case]:
    return [
        Case(COUNT_BASELINE, "window", count_baseline),
        *(
            Case(window_name(kind, b), "window", window_case(kind, b))
            for kind in ("sliding", "fixed")
            for b in BURSTS
        ),
        *(Case(streak_name(n), "streak", streak_case(n)) for n in STREAKS),
    ]
