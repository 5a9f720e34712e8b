"""A Nomad task's ``restart`` block."""

from __future__ import annotations

from ..kernel import (
    Constant,
    Exhausted,
    Mode,
    Policy,
    PolicyError,
    ProportionalJitter,
    StartFailed,
    TumblingWindow,
)
from ..kernel.validate import choice, count, finite
from .registry import register

_NOMAD_EXHAUSTED = {"fail": Exhausted.GIVE_UP, "delay": Exhausted.WAIT}
#: Whether a successful exit is restarted (``NewRestartTracker``: not for batch and sysbatch).
_NOMAD_ON_SUCCESS = {"service": True, "batch": False, "system": True, "sysbatch": False}
#: (attempts, interval, delay) when the job sets none: ``DefaultServiceJobRestartPolicy`` and
#: ``DefaultBatchJobRestartPolicy`` in ``nomad/structs/structs.go`` (``NewRestartPolicy``).
_NOMAD_DEFAULTS = {
    "service": (2, 1800.0, 15.0),
    "system": (2, 1800.0, 15.0),
    "batch": (3, 86400.0, 15.0),
    "sysbatch": (3, 86400.0, 15.0),
}
#: ``RestartPolicyMinInterval``.
_NOMAD_MIN_INTERVAL = 5.0


@register("nomad", "A Nomad task's restart block (the client's restart tracker).")
def nomad(
    attempts: int | None = None,
    interval: float | None = None,
    delay: float | None = None,
    mode: str = "fail",
    job_type: str = "service",
) -> Policy:
    """A Nomad task's ``restart`` block (the client's restart tracker).

    System: Nomad 2.0 (hashicorp/nomad ``aa026cc99cfb``, 2.0.6-dev). Source:
    ``client/allocrunner/taskrunner/restarts/restarts.go`` (``NewRestartTracker``,
    ``RestartTracker.GetState``, ``getDelay``, ``jitter``), ``client/allocrunner/taskrunner/
    task_runner.go`` (``shouldRestart``), ``nomad/structs/structs.go`` (defaults),
    ``plugins/drivers/driver.go`` (``ExitResult.Successful``).

    - ``attempts``, ``interval`` and ``delay`` left at None take the job type's defaults:
      2 in 30 min with 15 s for ``service`` and ``system``, 3 in 24 h with 15 s for ``batch``
      (``DefaultBatchJobRestartPolicy``; ``sysbatch`` as ``batch`` here).
    - Rejected as ``RestartPolicy.Validate`` rejects them (``TestRestartPolicy_Validate``): a mode
      other than ``fail`` and ``delay``; ``mode="delay"`` with 0 attempts ("ambiguous"); an
      interval under 5 s; ``attempts * delay`` longer than the interval.
    - A tumbling window (:class:`~relaunch.kernel.TumblingWindow`): it opens at the first start;
      a failure more than ``interval`` after it opened reopens it at that failure, with the
      count starting again. Each failure counts, at the time it happens; the failure that takes
      the count above ``attempts`` gives up (``mode="fail"``) or waits until the window ends
      (``mode="delay"``, no jitter), after which the next failure opens a new window.
    - Otherwise the restart waits ``delay`` plus a jitter uniform in [0, 25 %) of ``delay``.
    - ``job_type`` ``"batch"`` (and ``"sysbatch"``) does not restart a successful exit (exit 0,
      no signal); ``"service"`` (and ``"system"``) does, and counts it.
    - ``attempts=0`` restarts nothing, in either mode.

    **UNHEALTHY** is a ``check_restart`` kill: Nomad restarts the task through this same restart
    block (``client/allocrunner/taskrunner/task_runner.go``, the restart triggered by
    ``checkWatcher``), so it is counted and delayed as a failure; it is never a success, even for
    a batch job. **OOM** is an unsuccessful exit (``ExitResult.OOMKilled`` is not consulted): counted and
    restarted. **START_FAILED** is a recoverable start error: it counts and restarts like a
    failure. **LOST**: a lost node's allocations are rescheduled elsewhere by the server (a new
    allocation and tracker, under the job's reschedule policy, which this preset does not
    model); the preset restarts after the usual delay without counting it.

    Deviations: the jitter is drawn reproducibly from the state's seed, not from a generator
    seeded with the wall clock. Nomad turns a zero delay into 1 ns; relaunch keeps 0. An
    unrecoverable start error makes Nomad give up at once; relaunch cannot tell the two kinds
    apart and assumes recoverable. Where older Nomad had ``handleWaitResult`` and
    ``handleStartError``, current Nomad has a single ``GetState`` fed by ``SetExitResult`` and
    ``SetStartError``; the preset follows ``GetState``.
    """
    on_success = choice("nomad.job_type", job_type, _NOMAD_ON_SUCCESS)
    default_attempts, default_interval, default_delay = _NOMAD_DEFAULTS[job_type]
    attempts = count("nomad.attempts", default_attempts if attempts is None else attempts)
    interval = finite("nomad.interval", default_interval if interval is None else interval)
    delay = finite("nomad.delay", default_delay if delay is None else delay)
    exhausted = choice("nomad.mode", mode, _NOMAD_EXHAUSTED)
    if attempts == 0 and exhausted is Exhausted.WAIT:
        raise PolicyError("nomad.attempts: mode 'delay' with 0 attempts is ambiguous (Nomad rejects it)")
    if interval < _NOMAD_MIN_INTERVAL:
        raise PolicyError(
            f"nomad.interval: must be >= {_NOMAD_MIN_INTERVAL:g} (Nomad's minimum), got {interval!r}"
        )
    if attempts * delay > interval:
        raise PolicyError(
            f"nomad.interval: {attempts} attempts with a delay of {delay:g}s do not fit in an interval of "
            f"{interval:g}s (Nomad rejects it)"
        )
    return Policy(
        mode=Mode.ALWAYS if on_success else Mode.ON_FAILURE,
        backoff=Constant(delay),
        jitter=ProportionalJitter(0.25),
        budget=TumblingWindow(limit=attempts, interval=interval),
        on_exhausted=exhausted,
        start_failed=StartFailed.RETRY,
        name="nomad",
    )
