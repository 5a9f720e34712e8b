"""The two floors every decision is compared with.

A plain function returning a tuple is the cost of any Python call through the shared loop; a
frozen, slotted attrs instance with 4 fields is the practical floor for a pure decision that
returns a new state, and the kernel's targets are ratios to it. The floors must stay as cheap as
they can be: no validators, no converters, nothing that relaunch's State would not also skip on
the hot path.
"""

from __future__ import annotations

import attrs

from benchmarks.harness import Case, Workload


def plain(a: int, b: int) -> tuple[int, int]:
    return (a, b)


@attrs.frozen(slots=True)
class Four:
    a: int
    b: int
    c: float
    d: float


def cases() -> list[Case]:
    return [
        Case(
            "floor: plain function returning a tuple",
            "floor",
            lambda: Workload(plain, [(1, 2)]),
        ),
        Case(
            "floor: frozen slotted attrs instance, 4 fields",
            "floor",
            lambda: Workload(Four, [(1, 2, 3.0, 4.0)]),
        ),
    ]
