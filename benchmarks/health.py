"""`check.observe` on three probe patterns, with only observe timed (target: under 1 us:
it runs every interval for every workload).

Each pattern is replayed once, before timing, the way a supervisor would drive the probe machine:
every probe comes in when the state says it is due, and when a run turns UNHEALTHY a fresh run
begins (`check.begin`), so the absorbing verdict is timed once per run and never on its own. The
(state, result, at) triples are kept and cycled; observe is pure, so timing the same triple again
is timing the same work.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.harness import Case, Workload
from relaunch import HealthCheck, HealthState, ProbeResult, Verdict

#: Triples kept per pattern: several unhealthy runs for the failing patterns.
TRIPLES = 256

Pattern = Callable[[int], ProbeResult]


def steady(i: int) -> ProbeResult:
    """A healthy workload: every probe passes."""
    return ProbeResult.PASS


_FLAKY = (ProbeResult.PASS, ProbeResult.FAIL, ProbeResult.TIMEOUT, ProbeResult.PASS, ProbeResult.FAIL)


def flaky(i: int) -> ProbeResult:
    """Passes broken by failure streaks (a timeout among them) shorter than the threshold."""
    return _FLAKY[i % len(_FLAKY)]


def hung(i: int) -> ProbeResult:
    """A workload that stops answering: every probe times out, through the start period to UNHEALTHY."""
    return ProbeResult.TIMEOUT


#: Pattern name, the check it runs under, and exactly the verdicts its replay reaches.
PATTERNS: dict[str, tuple[Pattern, Callable[[], HealthCheck], frozenset[Verdict]]] = {
    "steady passes (Docker defaults)": (steady, HealthCheck, frozenset({Verdict.HEALTHY})),
    "flaky, below the threshold (kubelet)": (
        flaky,
        HealthCheck.kubelet,
        frozenset({Verdict.HEALTHY}),
    ),
    "hung, start period to unhealthy (Docker)": (
        hung,
        lambda: HealthCheck.docker(start_period=20.0, retries=3),
        frozenset({Verdict.STARTING, Verdict.UNHEALTHY}),
    ),
}


def replay(check: HealthCheck, pattern: Pattern, count: int) -> list[tuple[HealthState, ProbeResult, float]]:
    """The first `count` (state, result, at) triples a supervisor would hand to `check.observe`."""
    triples: list[tuple[HealthState, ProbeResult, float]] = []
    state = check.begin(0.0)
    for i in range(count):
        at = state.next_probe_at
        result = pattern(i)
        verdict, next_state = check.observe(state, result, at)
        triples.append((state, result, at))
        state = check.begin(at) if verdict is Verdict.UNHEALTHY else next_state
    return triples


def name(pattern: str) -> str:
    return f"observe: {pattern}"


def make(pattern: str) -> Callable[[], Workload]:
    def build() -> Workload:
        shape, make_check, expected = PATTERNS[pattern]
        check = make_check()
        triples = replay(check, shape, TRIPLES)
        reached = {check.observe(*triple)[0] for triple in triples}
        if reached != expected:
            raise AssertionError(f"{name(pattern)}: the replay reached {reached}, not {set(expected)}")
        return Workload(check.observe, triples)

    return build


def cases() -> list[Case]:
    return [Case(name(pattern), "health", make(pattern)) for pattern in PATTERNS]
