"""PM2's restart rules for one app."""

from __future__ import annotations

from collections.abc import Iterable

from ..kernel import (
    Compounded,
    Constant,
    ExitClass,
    ExitRules,
    Lost,
    Mode,
    Policy,
    Reset,
    Stability,
    UnstableRuns,
)
from ..kernel.validate import boolean, codes, count, finite
from ._common import ALL_SIGNALS, start_failed
from .registry import register


@register("pm2", "PM2's restart rules for one app.")
def pm2(
    autorestart: bool = True,
    min_uptime: float = 1.0,
    max_restarts: int = 16,
    restart_delay: float = 0.0,
    exp_backoff_restart_delay: float | None = None,
    stop_exit_codes: Iterable[int] = (),
) -> Policy:
    """PM2's restart rules for one app.

    System: PM2 7.0.3 (Unitech/pm2 ``31adee8048db``). Source: ``lib/God.js`` (``handleExit``, the
    exit hooks, ``executeApp``), ``lib/Worker.js`` (the 30 s tick resetting the backoff),
    ``lib/API/schema.json`` (defaults).

    - Exit codes in ``stop_exit_codes``, and ``autorestart=False``, stop; everything else restarts,
      exit 0 included.
    - A run shorter than ``min_uptime`` (strictly) that ends less than ``min_uptime *
      max_restarts`` seconds after the first start is an unstable restart; the exit that brings
      the unstable restarts to ``max_restarts`` gives up ("errored"): 16 runs, 15 restarts by
      default. A long run resets nothing, and after the horizon nothing more is counted
      (:class:`~relaunch.kernel.UnstableRuns`).
    - Delay ``restart_delay``, or with ``exp_backoff_restart_delay`` (which then overrides it): the
      base, then ``floor(min(15 s, previous * 1.5))`` on PM2's millisecond grid: 0.1, 0.15, 0.225,
      0.337 ... 15 s (:class:`~relaunch.kernel.Compounded`). A run longer than 30 s (strictly)
      sets it back to the base.

    How the 30 s reset is modelled: PM2's worker checks every 30 s whether a process has been up
    for more than 30 s since its last start, and if so resets its backoff; so a run of more than
    60 s is always reset, and one of 30-60 s only if a tick lands late enough in it (the tick can
    also land while a restart is pending). The preset resets after any run longer than 30 s, as
    if PM2 checked at the exit: deterministic, and right for runs under 30 s and over 60 s.

    A death by signal reaches PM2 as exit 0: its exit hooks call ``handleExit(code || 0,
    signal)``. ``stop_exit_codes`` containing 0 therefore also stops every death by signal; the
    preset does the same.

    **UNHEALTHY**: PM2 has no health check that restarts (only ``max_memory_restart`` and cron
    restarts); a health kill is a signal death, exit 0 to PM2 as above: an unstable restart when
    short, and it never resets the 30 s backoff here (a health kill is never stable).
    **OOM** (the kernel's SIGKILL) is exit 0 to PM2: restarted unless 0 is a stop code (an OOM
    outcome reported with exit code 137 rather than signal 9 is not stopped by a listed 0).
    **START_FAILED** is what PM2 sees of a spawn error, an immediate exit 1: an unstable restart
    (given up with ``autorestart=False``). **LOST** means the PM2 daemon died: ``pm2 resurrect``
    re-creates the app, counters at 0 and a new first start, so the preset restarts at once
    with a fresh state (``Lost.FRESH``).

    Deviations: the 30 s reset is decided at the exit, as above; and the run's start is the
    restart time the policy gave (PM2's ``pm_uptime`` is likewise set when PM2 starts the
    process), not the outcome's ``started_at``.
    """
    autorestart = boolean("pm2.autorestart", autorestart)
    min_uptime = finite("pm2.min_uptime", min_uptime)
    max_restarts = count("pm2.max_restarts", max_restarts)
    restart_delay = finite("pm2.restart_delay", restart_delay)
    stops = codes("pm2.stop_exit_codes", stop_exit_codes)
    mode = Mode.ALWAYS if autorestart else Mode.NEVER
    if exp_backoff_restart_delay is None:
        backoff: Constant | Compounded = Constant(restart_delay)
        stability = None
    else:
        base = finite("pm2.exp_backoff_restart_delay", exp_backoff_restart_delay)
        backoff = Compounded(initial=base, factor=1.5, ceiling=15.0, grid=0.001)
        stability = Stability(after=30.0, strict=True, resets=Reset.DELAY, restart_delay=None)
    return Policy(
        mode=mode,
        backoff=backoff,
        budget=UnstableRuns(limit=max_restarts, min_uptime=min_uptime, horizon=min_uptime * max_restarts),
        exits=ExitRules(prevent_codes=stops, prevent_signals=ALL_SIGNALS if 0 in stops else frozenset()),
        stability=stability,
        lost=Lost.FRESH,
        start_failed=start_failed(mode, ExitClass.EXIT_CODE),
        name="pm2",
    )
