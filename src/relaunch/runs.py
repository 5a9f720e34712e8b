"""Runs played back to back against a policy: the one loop every replay in relaunch uses.

A :class:`Run` is an outcome without its times; :func:`drive` starts each run when the previous
decision says (its end plus the delay), as a supervisor following the decisions would, and yields
the decisions. The README table (``compare``), the property tests (``strategies``) and users'
own tests all replay through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import attrs

from .kernel import Cause, Decision, Outcome, Policy, State

__all__ = ["Run", "drive"]


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


def drive(policy: Policy, state: State, runs: Iterable[Run], at: float = 0.0) -> Iterator[Decision]:
    """Feed ``runs`` to ``policy`` from ``state``, the first starting at ``at``; yield each decision.

    Stops after the first decision that does not restart.
    """
    started = at
    for run in runs:
        decision = policy.decide(state, run.outcome(started))
        yield decision
        if not decision.restarts:
            return
        state = decision.state
        started = decision.outcome.ended_at + decision.delay
