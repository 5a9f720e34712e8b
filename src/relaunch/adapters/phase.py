"""Where a workload is, as far as the supervisor core knows, and the only edges between phases.

A leaf module (it imports nothing of relaunch): the core, the store and ``relaunch status`` share
this vocabulary. Every phase change in the core goes through :func:`check_transition`, which
refuses an edge that is not in :data:`TRANSITIONS`, as supervisord's ``process.py`` guards each
``change_state`` with ``_assertInState`` (Supervisor/supervisor, ``supervisor/process.py``) and
h11 keeps its edges in one table (python-hyper/h11, ``h11/_state.py``). A refused edge is a bug
in the core, never bad input, so it raises :class:`PhaseError` rather than asserting (asserts
vanish under ``python -O``).
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "Phase", "PhaseError", "check_transition"]


class Phase(enum.StrEnum):
    """Where a workload is, as far as the supervisor knows."""

    PENDING = "pending"  # added, not yet observed (the runtime is unreachable)
    STARTING = "starting"  # a start is recorded and under way (or due now)
    RUNNING = "running"
    BACKING_OFF = "backing-off"  # ended; a start is scheduled at Status.restart_at
    GIVEN_UP = "given-up"  # the policy gave up; stays down until an operator starts it
    STOPPED = "stopped"  # stopped or removed on purpose, or the policy needs no restart


_P = Phase
_DECIDED = frozenset({_P.BACKING_OFF, _P.GIVEN_UP, _P.STOPPED})  # where a decision can lead

#: Every allowed edge, with why it exists. A phase is never changed to itself through this table:
#: the core skips a change that would not change anything.
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    # Added: observed running (adopted), due to start, or decided on (a death found at adoption).
    _P.PENDING: frozenset({_P.STARTING, _P.RUNNING}) | _DECIDED,
    # A start under way: it runs; it failed (a decision); the runtime was unreachable (retry
    # later: BACKING_OFF without a decision).
    _P.STARTING: frozenset({_P.RUNNING}) | _DECIDED,
    # A run ended (a decision), or the runtime lost track and a start is due again.
    _P.RUNNING: frozenset({_P.STARTING}) | _DECIDED,
    # The delay passed (STARTING); someone started it by hand (RUNNING); an operator stop, or a
    # death reported late that a decision turns into a give-up.
    _P.BACKING_OFF: frozenset({_P.STARTING, _P.RUNNING}) | _DECIDED,
    # Only an operator brings it back: a manual start (STARTING), a start outside the supervisor
    # (RUNNING), or a stop or removal (STOPPED).
    _P.GIVEN_UP: frozenset({_P.STARTING, _P.RUNNING, _P.STOPPED}),
    _P.STOPPED: frozenset({_P.STARTING, _P.RUNNING}),
}


class PhaseError(RuntimeError):
    """The core tried an edge that :data:`TRANSITIONS` does not allow: a bug in the core."""


def check_transition(name: str, old: Phase, new: Phase) -> None:
    """Raise :class:`PhaseError` unless ``old -> new`` is an allowed edge."""
    if new not in TRANSITIONS[old]:
        raise PhaseError(f"{name}: illegal phase change {old.value} -> {new.value}")
