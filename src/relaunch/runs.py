"""Runs played back to back against a policy: the one loop every replay in relaunch uses.

:func:`play` starts each run when the previous decision says (its end plus the delay), as a
supervisor following the decisions would, and yields the decisions; :func:`drive` plays a list of
:class:`Run` values through it. The simulator, the README table, the CLI, the benchmarks, the
property tests (``strategies``) and users' own tests all replay through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import attrs

from .kernel import Cause, Decision, Outcome, Policy, State

__all__ = ["Run", "drive", "play"]


@attrs.frozen(slots=True)
class Run:
    """One run of a failure pattern: how long it lasts and how it ends (an ``EXITED`` run needs
    exactly one of ``exit_code`` and ``signal``, as :class:`~relaunch.kernel.Outcome` does)."""

    duration: float
    exit_code: int | None = None
    signal: int | None = None
    cause: Cause = Cause.EXITED

    def outcome(self, started_at: float) -> Outcome:
        """The Outcome of this run if it starts at ``started_at``."""
        return Outcome(
            started_at=started_at,
            ended_at=started_at + self.duration,
            exit_code=self.exit_code,
            signal=self.signal,
            cause=self.cause,
        )


def play(
    policy: Policy, state: State, outcome_at: Callable[[float], Outcome | None], at: float = 0.0
) -> Iterator[Decision]:
    """Ask ``outcome_at(start)`` how each run started at ``start`` ends, and yield each decision.

    The first run starts at ``at``. Stops when ``outcome_at`` returns None (nothing more to
    replay) or after the first decision that does not restart.
    """
    started = at
    while (outcome := outcome_at(started)) is not None:
        decision = policy.decide(state, outcome)
        yield decision
        if not decision.restarts:
            return
        state = decision.state
        started = outcome.ended_at + decision.delay


def drive(policy: Policy, state: State, runs: Iterable[Run], at: float = 0.0) -> Iterator[Decision]:
    """Feed ``runs`` to ``policy`` from ``state``, the first starting at ``at``; yield each decision.

    Stops after the last run, or after the first decision that does not restart.
    """
    remaining = iter(runs)

    def outcome_at(started: float) -> Outcome | None:
        run = next(remaining, None)
        return None if run is None else run.outcome(started)

    return play(policy, state, outcome_at, at)
