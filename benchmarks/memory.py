"""Memory per State (deep size) and allocations per decision (tracemalloc).

Deep size rule: the bytes (`sys.getsizeof`) of the State and of every object reachable from it
through `gc.get_referents`, each object counted once, except objects the State shares with the
whole process or with its Policy, which it does not pay for:
- None, True, False, Ellipsis, NotImplemented, enum members, classes, modules and functions;
- CPython's cached small ints (-5..256) and its empty tuple / frozenset / str singletons;
- anything reachable from the Policy (backoff, budget, ...), shared by every State it decides on.
Floats, larger ints, strings and containers are counted even when two successive States happen
to share them, so a figure is what one State alone keeps alive.

Allocations: with gc off and tracemalloc on, decide runs over a replayed crash loop while every
Decision is held; the memory blocks still alive afterwards that were allocated by relaunch's own
code are what each decision keeps, counted per source line. A new State and a new Decision are
two blocks each decision must allocate; anything else is reported as extra. Objects CPython takes
from its free lists (floats, some tuples) are not allocations tracemalloc sees, and do not count.
"""

from __future__ import annotations

import enum
import gc
import statistics
import sys
import tracemalloc
import types
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from benchmarks import decide, growth

_SINGLETONS = (None, True, False, Ellipsis, NotImplemented, (), frozenset(), "")
_SHARED_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
)

DEEP_SIZE_RULE = (
    "Deep size: sys.getsizeof over the object graph (gc.get_referents), each object once; "
    "not counted: None/bools/enum members/classes/functions, cached small ints (-5..256), "
    "empty-container singletons, and anything reachable from the Policy."
)


def _is_shared(obj: object) -> bool:
    if any(obj is s for s in _SINGLETONS):
        return True
    if isinstance(obj, (enum.Enum, *_SHARED_TYPES)):
        return True
    return type(obj) is int and -5 <= obj <= 256  # type: ignore[operator]


def _reachable(roots: Iterable[object]) -> set[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or _is_shared(obj):
            continue
        seen.add(id(obj))
        stack.extend(gc.get_referents(obj))
    return seen


def deep_size(obj: object, shared_with: Iterable[object] = ()) -> int:
    """Bytes `obj` keeps alive by itself, by the rule in this module's docstring."""
    excluded = _reachable(shared_with)
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or id(o) in excluded or _is_shared(o):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        stack.extend(gc.get_referents(o))
    return total


def state_sizes() -> list[dict[str, Any]]:
    rows = []
    policy = decide.PRESETS["toolhive"]()
    mid = decide.replay(policy, decide.crash_loop(), 6)[-1][0]
    rows.append({"name": "toolhive, 5 restarts into a crash loop", "bytes": deep_size(mid, [policy])})
    base = growth.window_policy("count", 1)
    rows.append(
        {
            "name": "count budget, steady crash loop",
            "bytes": deep_size(growth.steady(base, 10)[-1][0], [base]),
        }
    )
    for kind in ("sliding", "fixed"):
        for b in growth.BURSTS:
            p = growth.window_policy(kind, b)
            state = growth.steady(p, b)[-1][0]
            rows.append({"name": f"{kind} window, burst {b}", "bytes": deep_size(state, [p])})
    sp = growth.streak_policy()
    for n in growth.STREAKS:
        rows.append({"name": f"streak, attempt {n:,}", "bytes": deep_size(growth.streak_state(sp, n), [sp])})
    return rows


def _per_call(
    fn: Callable[[Any, Any], object], pairs: list[tuple[Any, Any]]
) -> tuple[list[object], list[int], list[int]]:
    """Call fn on each pair with tracemalloc on: results, bytes kept and transient peak bytes."""
    held: list[object] = [None] * len(pairs)
    kept, transient = [], []
    for i, (s, o) in enumerate(pairs):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn(s, o)
        after, peak = tracemalloc.get_traced_memory()
        held[i] = result
        kept.append(after - before)
        transient.append(peak - after)
    return held, kept, transient


def allocations(count: int = 200) -> dict[str, Any]:
    """What each toolhive crash-loop decision allocates: objects it keeps, by type, and any
    transient memory at its high-water mark.

    Kept objects are found exactly, by walking each Decision and counting what was not already
    reachable from the policy and the inputs. Bytes are measured with tracemalloc around each
    call, minus the same measurement around a call that does nothing (the measuring itself
    allocates a few ints).
    """
    policy = decide.PRESETS["toolhive"]()
    pairs = decide.replay(policy, decide.crash_loop(), count)
    for s, o in pairs:  # warm up: a first call may fill a cache, which is not per-decision cost
        policy.decide(s, o)
    before = _reachable([policy, pairs])
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        _, base_kept, base_transient = _per_call(lambda s, o: None, pairs)
        held, kept, transient = _per_call(policy.decide, pairs)
    finally:
        tracemalloc.stop()
        gc.enable()
    new: Counter[str] = Counter()
    seen: set[int] = set()
    stack: list[object] = list(held)
    while stack:
        o = stack.pop()
        if id(o) in seen or id(o) in before or _is_shared(o):
            continue
        seen.add(id(o))
        new[type(o).__name__] += 1
        stack.extend(gc.get_referents(o))
    per_type = {name: round(n / count, 2) for name, n in new.most_common()}
    extra = sum(n for name, n in new.items() if name not in ("State", "Decision")) / count
    kept_bytes = statistics.median(kept) - statistics.median(base_kept)
    transient_bytes = max(t - b for t, b in zip(transient, base_transient, strict=True))
    summary = (
        "New objects each toolhive crash-loop decision keeps (per decision): "
        + ", ".join(f"{name} {n:g}" for name, n in per_type.items())
        + f"; median {kept_bytes:g} B kept; transient high-water mark above what is kept: "
        f"at most {transient_bytes} B."
    )
    return {
        "new_objects_per_decision": per_type,
        "extra_objects_per_decision": extra,
        "kept_bytes_median": kept_bytes,
        "transient_bytes_max": transient_bytes,
        "summary": summary,
    }


def measure(smoke: bool = False) -> dict[str, Any]:
    sizes = state_sizes()
    alloc = allocations(20 if smoke else 200)
    return {
        "deep_size_rule": DEEP_SIZE_RULE,
        "state_bytes": sizes,
        "count_budget_state_bytes": sizes[0]["bytes"],
        "allocations": alloc,
        "extra_objects_per_decision": alloc["extra_objects_per_decision"],
        "transient_bytes_max": alloc["transient_bytes_max"],
    }
