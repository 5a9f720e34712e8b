"""The state machine's rules that are data: the mode table and the per-cause table.

``policy.py`` reads these and nothing else decides what a mode restarts or how a cause is treated;
``_explain.py`` reads the same rows for its wording, so a rule and its words cannot drift apart.
As h11 keeps its transitions in dict tables, the tables are checked when this module is imported:
a mode or a cause without a row fails at import, never at a first decision or a first reason.

Adding a cause: add the member to ``vocabulary.Cause`` and its row to :data:`CAUSES`. A cause
that ends a run the way an exit does needs only its row (its mode-table column, whether such a run
can be stable, its rule and its words); ``LOST``, ``START_FAILED`` and ``STOPPED`` have their own
branches in ``Policy.decide``.
"""

from __future__ import annotations

import attrs

from .vocabulary import Cause, ExitClass, Mode, Rule

__all__ = ["CAUSES", "RESTARTS", "CauseRule"]

#: Which exit classes each mode restarts (systemd ``src/core/service.c``, ``service_shall_restart``:
#: on-failure restarts every result but success; on-abnormal every result but success and an
#: unclean exit code, so a watchdog timeout too; on-watchdog only a watchdog timeout; on-abort only
#: an unclean signal or a core dump).
RESTARTS: dict[Mode, frozenset[ExitClass]] = {
    Mode.ALWAYS: frozenset(ExitClass),
    Mode.ON_FAILURE: frozenset({ExitClass.EXIT_CODE, ExitClass.SIGNAL, ExitClass.OOM, ExitClass.UNHEALTHY}),
    Mode.ON_SUCCESS: frozenset({ExitClass.CLEAN}),
    Mode.ON_ABNORMAL: frozenset({ExitClass.SIGNAL, ExitClass.OOM, ExitClass.UNHEALTHY}),
    Mode.ON_WATCHDOG: frozenset({ExitClass.UNHEALTHY}),
    Mode.ON_ABORT: frozenset({ExitClass.SIGNAL}),
    Mode.NEVER: frozenset(),
}


@attrs.frozen(slots=True)
class CauseRule:
    """How ``Policy.decide`` treats one :class:`Cause`, and how a reason words it."""

    #: The mode-table column of such a run, or None where the exit code or signal decides
    #: (``EXITED``) or where the cause has a branch of its own (``LOST``, ``START_FAILED``,
    #: ``STOPPED``).
    exit_class: ExitClass | None
    #: Whether such a run counts as stable when it lasted long enough.
    may_be_stable: bool
    #: The rule code of a backed-off restart after such a run.
    rule: Rule
    #: How a reason says the run ended, when no exit code or signal says more.
    ending: str


CAUSES: dict[Cause, CauseRule] = {
    Cause.EXITED: CauseRule(None, True, Rule.BACKOFF, "exited"),
    # Docker and the kubelet report an OOM kill as exit 137; the cause, not the code, classifies it.
    Cause.OOM: CauseRule(ExitClass.OOM, True, Rule.BACKOFF, "OOM-killed"),
    # A health kill is a failure however long the run was: a service that hung for an hour must not
    # reset the budget. It spends the budget like a crash.
    Cause.UNHEALTHY: CauseRule(ExitClass.UNHEALTHY, False, Rule.UNHEALTHY, "killed as unhealthy"),
    Cause.START_FAILED: CauseRule(None, False, Rule.BACKOFF, "failed to start"),
    Cause.LOST: CauseRule(None, True, Rule.LOST, "lost (runtime or host went away)"),
    Cause.STOPPED: CauseRule(None, False, Rule.OPERATOR_STOP, "stopped by an operator"),
}


def _check_tables() -> None:
    missing_modes = set(Mode) - set(RESTARTS)
    if missing_modes:
        raise ImportError(f"tables.RESTARTS: no row for {sorted(m.name for m in missing_modes)}")
    missing = set(Cause) - set(CAUSES)
    if missing:
        raise ImportError(f"tables.CAUSES: no row for {sorted(c.name for c in missing)}")
    classed = {row.exit_class for row in CAUSES.values() if row.exit_class is not None}
    unrestartable = classed - set().union(*RESTARTS.values())
    if unrestartable:
        raise ImportError(f"tables.RESTARTS: no mode restarts {sorted(c.name for c in unrestartable)}")


_check_tables()
