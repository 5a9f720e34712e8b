"""`policy.decide` per preset on three exit patterns, with only decide timed.

Each pattern is replayed once, before timing, the way a supervisor would drive the kernel: every
run starts when the previous decision's delay has passed, and when a decision does not restart
(give-up, stop) a fresh workload starts from `policy.start()`, so a give-up is timed once per
episode and never as an endless absorbing state. The (state, outcome) pairs are kept and cycled;
decide is pure, so timing the same pair again is timing the same work.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Iterator

from benchmarks.harness import Case, Workload
from relaunch import Cause, Decision, Outcome, Policy, Rule, State, presets
from relaunch.runs import Run, drive

#: Pairs kept per pattern: enough for several give-up episodes (toolhive's has 10 decisions).
PAIRS = 256
#: A crash: half a second of running, exit code 1.
CRASH_RUN = 0.5
#: A run long enough to count as stable under every preset's threshold.
STABLE_RUN = 3600.0

#: Keywords for presets that restart nothing unconfigured (Docker's and systemd's defaults are
#: "no"), so that their rows time restarts as they always have: the README table's configurations.
CONFIGURED: dict[str, dict[str, str]] = {
    "docker": {"policy": "on-failure"},
    "systemd": {"restart": "on-failure"},
}

#: Every preset in the registry, with its default keywords or those above.
PRESETS: dict[str, Callable[[], Policy]] = {
    name: functools.partial(presets.REGISTRY[name].factory, **CONFIGURED.get(name, {}))
    for name in presets.names()
}

Runs = Iterator[Run]


def crash_loop() -> Runs:
    return itertools.repeat(Run(CRASH_RUN, exit_code=1))


def stable_crash_mix(seed: int = 6) -> Runs:
    """Half the runs crash at once, half fail after running stably; a fixed seed keeps the mix."""
    rng = random.Random(seed)
    while True:
        yield Run(STABLE_RUN if rng.random() < 0.5 else CRASH_RUN, exit_code=1)


def flapping() -> Runs:
    """The workload vanishes without an exit status (the engine lost it), again and again."""
    return itertools.repeat(Run(CRASH_RUN, cause=Cause.LOST))


PATTERNS: dict[str, Callable[[], Runs]] = {
    "crash loop": crash_loop,
    "stable/crash mix": stable_crash_mix,
    "flapping (LOST)": flapping,
}


def exercised(policy: Policy, pattern: str, decisions: list[Decision]) -> bool:
    """Whether the replayed pattern took the path it is meant to time, checked when it is built."""
    rules = {d.rule for d in decisions}
    if pattern == "flapping (LOST)":
        return Rule.LOST in rules
    if pattern == "stable/crash mix" and policy.stability is not None:
        return Rule.STABLE_RESET in rules
    # A crash loop restarts with backoff (or forced, as supervisord's exit codes do).
    return any(d.restarts for d in decisions)


def replay(policy: Policy, runs: Runs, count: int) -> list[tuple[State, Outcome]]:
    """The first `count` (state, outcome) pairs a supervisor would hand to `policy.decide`.

    Through `runs.drive`, episode after episode: when a decision does not restart, a fresh
    workload starts from `policy.start()` at that run's end.
    """
    pairs: list[tuple[State, Outcome]] = []
    at = 0.0
    while len(pairs) < count:
        state = policy.start(at=at)
        for decision in drive(policy, state, runs, at=at):
            pairs.append((state, decision.outcome))
            state, at = decision.state, decision.outcome.ended_at
            if len(pairs) == count:
                break
    return pairs


def name(preset: str, pattern: str) -> str:
    return f"decide: {preset}, {pattern}"


TOOLHIVE_CRASH = name("toolhive", "crash loop")


def make(preset: str, pattern: str) -> Callable[[], Workload]:
    def build() -> Workload:
        policy = PRESETS[preset]()
        pairs = replay(policy, PATTERNS[pattern](), PAIRS)
        if not exercised(policy, pattern, [policy.decide(s, o) for s, o in pairs]):
            raise AssertionError(f"{name(preset, pattern)}: the replay missed the path it times")
        return Workload(policy.decide, pairs)

    return build


def cases() -> list[Case]:
    return [
        Case(name(preset, pattern), "decide", make(preset, pattern))
        for preset in PRESETS
        for pattern in PATTERNS
    ]
