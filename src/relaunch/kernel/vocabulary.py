"""The kernel's shared words: every enum that more than one kernel module speaks.

This module must import nothing but the standard library's ``enum``, and nothing from relaunch,
so that any kernel module can import it without an import circle (the rule supervisord's
``supervisor/states.py`` states in its first lines). What each word *does* lives elsewhere: the
mode table and the per-cause table in ``policy.py``, the group rule in ``group.py``, the wording in
``_explain.py``.

The plain enums hash by identity (``__hash__ = object.__hash__``): their members are singletons
compared by identity anyway, and ``enum.Enum.__hash__`` is a Python function, which made a dict
lookup keyed by a member cost more than the rest of a decision. ``Reset`` is a ``Flag`` and keeps
``Flag``'s own hash, since combined flags are new objects.
"""

from __future__ import annotations

import enum

__all__ = [
    "Action",
    "Cause",
    "Exhausted",
    "ExitClass",
    "Lost",
    "Mode",
    "Reset",
    "Rule",
    "StartFailed",
    "Strategy",
]


class Action(enum.Enum):
    """What the supervisor should do next."""

    __hash__ = object.__hash__

    #: Start the workload again after ``delay``; the run was part of an unstable streak.
    RETRY = "retry"
    #: The run was stable: the policy's reset applied; start again after ``delay``.
    RESET = "reset"
    #: Do not restart, now or later: the budget is spent (terminal until ``Policy.start``).
    GIVE_UP = "give-up"
    #: Nothing to restart: a clean end, an operator's stop, or an exit the policy leaves down.
    STOP = "stop"


class Rule(enum.Enum):
    """Which rule of the policy made the decision, for metrics and logs (values are stable)."""

    __hash__ = object.__hash__

    BACKOFF = "backoff"
    STABLE_RESET = "stable-reset"
    LOST = "lost"
    #: A restart after a health kill (``Cause.UNHEALTHY``): backed off, counted, never stable.
    UNHEALTHY = "unhealthy"
    FORCED = "forced"
    BUDGET_WAIT = "budget-wait"
    BUDGET_EXHAUSTED = "budget-exhausted"
    START_FAILED = "start-failed"
    GIVEN_UP = "given-up"
    SUCCESS = "success"
    MODE = "mode"
    PREVENTED = "prevented"
    OPERATOR_STOP = "operator-stop"


class Cause(enum.Enum):
    """Why a run ended, as far as the supervisor can tell.

    Each cause has one row in ``policy.CAUSES`` (how the state machine treats it and how a reason
    words it); a cause without a row fails when ``policy.py`` is imported.
    """

    __hash__ = object.__hash__

    #: The workload ended by itself; ``exit_code`` or ``signal`` says how.
    EXITED = "exited"
    #: Killed for exceeding its memory limit.
    OOM = "oom"
    #: Ended by the supervisor because its health check failed (a liveness or watchdog kill); the
    #: exit it then made, if any, is carried as reported.
    UNHEALTHY = "unhealthy"
    #: It could not be started at all (bad image, bad command).
    START_FAILED = "start-failed"
    #: Lost through no fault of its own: the runtime or daemon went away or restarted, the host rebooted.
    LOST = "lost"
    #: An operator stopped or removed it on purpose.
    STOPPED = "stopped"


class Mode(enum.Enum):
    """Which endings are restarted (systemd's ``Restart=`` values; the table is ``policy.RESTARTS``)."""

    __hash__ = object.__hash__

    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    ON_SUCCESS = "on-success"
    #: Deaths by an unclean signal, OOM kills and health kills; not unclean exit codes.
    ON_ABNORMAL = "on-abnormal"
    #: Health kills only (systemd's ``Restart=on-watchdog``).
    ON_WATCHDOG = "on-watchdog"
    #: Deaths by an unclean signal only.
    ON_ABORT = "on-abort"
    NEVER = "never"


class ExitClass(enum.Enum):
    """How a run ended, as the mode table sees it (its columns)."""

    __hash__ = object.__hash__

    CLEAN = "clean"
    EXIT_CODE = "exit-code"
    SIGNAL = "signal"
    OOM = "oom"
    #: Killed by its supervisor for failing its health check (systemd's ``watchdog`` result).
    UNHEALTHY = "unhealthy"


class Reset(enum.Flag):
    """What a stable run resets."""

    #: The backoff curve: the next restart after a crash waits the first delay again.
    DELAY = enum.auto()
    #: The budget: the workload gets a fresh one.
    BUDGET = enum.auto()
    BOTH = DELAY | BUDGET


class Exhausted(enum.Enum):
    """What to do when the budget refuses a restart."""

    __hash__ = object.__hash__

    #: Give up for good (terminal until ``Policy.start``).
    GIVE_UP = "give-up"
    #: Wait until a window budget allows the next restart (Nomad's ``mode = "delay"``).
    WAIT = "wait"


class StartFailed(enum.Enum):
    """What to do when the workload could not be started at all."""

    __hash__ = object.__hash__

    #: Give up at once (ToolHive returns a start error without retrying).
    GIVE_UP = "give-up"
    #: Treat it as a crash: back off and spend the budget.
    RETRY = "retry"


class Lost(enum.Enum):
    """How a ``LOST`` run is restarted (in every mode but ``NEVER``)."""

    __hash__ = object.__hash__

    #: Back off as after a crash; the budget is spent only with ``Policy.count_lost``.
    BACKOFF = "backoff"
    #: Restart at once with a fresh state, as ``Policy.start`` at the run's end would give: the
    #: backoff curve and the budget start over. This is what supervisors whose counters live in
    #: their own memory do when they (or their host) come back: the kubelet after its own
    #: restart, supervisord, PM2's ``resurrect``, systemd after a reboot.
    FRESH = "fresh"
    #: Restart as after a stable run: reset what the policy's stability resets and wait what it
    #: waits. The kubelet after its own restart: its backoff is gone, so the restart is the
    #: first (immediate) step of a fresh curve, and the next crash waits the initial delay.
    STABLE = "stable"
    #: As ``FRESH``, but only if the budget as it stands admits one more restart; otherwise give up.
    #: Docker's restore at daemon start: it asks a restart manager rebuilt with the persisted
    #: restart count, so a spent ``on-failure:N`` stays down, and restarts the others afresh.
    RESTORE = "restore"


class Strategy(enum.Enum):
    """Which members of a group a member's restart takes with it (OTP's restart strategies).

    The table of what each one does is ``group.TAKES_WITH``.
    """

    __hash__ = object.__hash__

    #: Only the member itself.
    ONE_FOR_ONE = "one_for_one"
    #: Every other member too.
    ONE_FOR_ALL = "one_for_all"
    #: The members started after it (they depend on it).
    REST_FOR_ONE = "rest_for_one"
