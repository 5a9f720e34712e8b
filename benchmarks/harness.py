"""The timing shape every row shares: a `Case` builds a `Workload`, pyperf times it, a sampler
times single calls.

A row is one callable applied to a precomputed list of argument tuples, cycled. Every row, the
floors included, runs through the same loop (`for args in islice(cycle(argsets), n): fn(*args)`),
so the loop's own cost (about 30-40 ns here) sits in every figure alike and shows up on its own in
the plain-function floor. Peers that run a whole retry loop per call report per attempt through
`inner` (pyperf's `inner_loops`).

Each workload checks itself after it was timed (`verify`): a peer that silently stopped retrying
early, or slept, would otherwise look fast. The checks run outside the timed region.

This module must not import relaunch or a peer: the rows live in floors.py, peers.py, decide.py,
growth.py and health.py.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Workload:
    """What one row times: `fn(*args)` for args cycled from `argsets`."""

    fn: Callable[..., object]
    argsets: Sequence[tuple[Any, ...]]
    #: Called after a timed batch with the number of calls made; raises AssertionError when the
    #: calls did not do the work the row claims (N attempts, no sleep, the expected action).
    verify: Callable[[int], None] = field(default=lambda calls: None)


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the results table."""

    name: str
    #: "floor", "peer", "decide", "window", "streak" or "health": the table the row belongs to.
    group: str
    #: Builds the workload; called once per process, inside the worker that times it, so setup
    #: (precomputing states, building 10**6-long streaks) is never timed and never repeated.
    make: Callable[[], Workload]
    #: Decisions made by one call of `fn` (N for a peer's full retry loop, else 1).
    inner: int = 1
    note: str = ""


_built: dict[str, Workload] = {}


def workload(case: Case) -> Workload:
    """The case's workload, built on first use in this process."""
    if case.name not in _built:
        _built[case.name] = case.make()
    return _built[case.name]


def time_calls(loops: int, case: Case) -> float:
    """pyperf time function: seconds for `loops` calls of the case's callable, then verify."""
    w = workload(case)
    fn = w.fn
    it = itertools.islice(itertools.cycle(w.argsets), loops)
    t0 = time.perf_counter()
    for args in it:
        fn(*args)
    elapsed = time.perf_counter() - t0
    w.verify(loops)
    return elapsed


def timer_overhead_ns(samples: int = 10_000) -> int:
    """Median cost of two back-to-back perf_counter_ns() calls, subtracted from each sample."""
    pc = time.perf_counter_ns
    deltas = []
    for _ in range(samples):
        t0 = pc()
        deltas.append(pc() - t0)
    return int(statistics.median(deltas))


def sample_per_call(cases: Sequence[Case], samples: int, rounds: int = 50) -> dict[str, list[float]]:
    """Per-decision latencies in ns for each case, one timed call at a time, in this process.

    The cases are interleaved in short rounds (a round over every row takes about a second) so that
    drift of the machine (frequency, a noisy neighbour) lands on every row alike: this is the
    side-by-side, same-process measurement the targets are judged on. The garbage collector stays
    on: collections are part of a decision's tail, and the peers allocate more than relaunch does.
    """
    overhead = timer_overhead_ns()
    pc = time.perf_counter_ns
    out: dict[str, list[float]] = {c.name: [] for c in cases}
    chunk = max(1, samples // rounds)
    iters = {
        c.name: itertools.cycle(workload(c).argsets) for c in cases
    }  # one cycle per case, continued across rounds so each round sees new pairs
    gc.collect()
    for _ in range(rounds):
        for c in cases:
            w = workload(c)
            fn = w.fn
            it = iters[c.name]
            dest = out[c.name]
            for _ in range(chunk):
                args = next(it)
                t0 = pc()
                fn(*args)
                t1 = pc()
                dest.append(max(t1 - t0 - overhead, 0) / c.inner)
            w.verify(chunk)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
