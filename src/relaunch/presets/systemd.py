"""A systemd service's ``Restart=`` and its start rate limit."""

from __future__ import annotations

from collections.abc import Iterable

from ..kernel import (
    DAEMON_CLEAN_SIGNALS,
    Constant,
    ExitClass,
    ExitRules,
    FixedWindow,
    Geometric,
    Lost,
    Mode,
    NoJitter,
    Policy,
    RandomDelay,
    Unlimited,
)
from ..kernel.validate import choice, count, finite
from ._common import exit_statuses, start_failed
from .registry import register

_SYSTEMD_MODES = {
    "no": Mode.NEVER,
    "always": Mode.ALWAYS,
    "on-success": Mode.ON_SUCCESS,
    "on-failure": Mode.ON_FAILURE,
    "on-abnormal": Mode.ON_ABNORMAL,
    "on-watchdog": Mode.ON_WATCHDOG,
    "on-abort": Mode.ON_ABORT,
}


@register("systemd", "A systemd service's Restart= with its start rate limit (Type=simple).")
def systemd(
    restart: str = "no",
    restart_sec: float = 0.1,
    restart_steps: int = 0,
    restart_max_delay_sec: float | None = None,
    restart_randomized_delay_sec: float = 0.0,
    start_limit_interval_sec: float = 10.0,
    start_limit_burst: int = 5,
    success_exit_status: Iterable[int | str] = (),
    restart_prevent_exit_status: Iterable[int | str] = (),
    restart_force_exit_status: Iterable[int | str] = (),
) -> Policy:
    """A systemd service's ``Restart=`` with its start rate limit (``Type=simple``, a daemon).

    System: systemd v254 or later (the file read has ``RestartSteps=``; most likely v255-v257;
    read through a file index, so the commit is not pinned). Source: ``src/core/service.c``
    (``service_shall_restart``, ``service_restart_usec_next``, ``service_sigchld_event``,
    ``service_enter_restart``, ``service_start``), ``src/basic/exit-status.c``
    (``is_clean_exit``, ``exit_status_set_test``), ``src/basic/ratelimit.c``
    (``ratelimit_below``), ``src/core/unit.c`` (``unit_test_start_limit``).

    - In the exit-status lists an int is an exit code and a name such as ``"SIGTERM"`` a signal.
      Clean: exit 0 or a ``success_exit_status`` code; death by SIGHUP, SIGINT, SIGTERM or SIGPIPE
      (``EXIT_CLEAN_DAEMON``) or a listed signal.
    - Precedence (``service_shall_restart``): ``restart_prevent_exit_status`` > ``restart_force_
      exit_status`` > ``restart`` on the result: ``no``, ``always``, ``on-success`` (clean only),
      ``on-failure`` (all but clean), ``on-abnormal`` (signals, OOM kills; not exit codes),
      ``on-abort`` (unclean signals only).
    - Delay ``restart_sec``; with ``restart_steps > 0`` and a ``restart_max_delay_sec`` above it,
      ``restart_sec * (max / restart_sec) ** ((n - 1) / steps)`` for restart n <= steps, then max.
      n counts every automatic restart since the start and a long run never resets it (only
      ``service_start`` after a stop flushes it, which is :meth:`Policy.start` here), so the
      preset has no stability threshold. A ``restart_max_delay_sec`` below ``restart_sec``
      lowers ``restart_sec`` to it (``service_verify``).
    - Start limit: at most ``start_limit_burst`` starts in a window of
      ``start_limit_interval_sec`` that opens at a start once the previous one is more than the
      interval old (``ratelimit_below``); the first start counts, and a restart starts at its run's
      end plus its delay. A refused start gives up (``start-limit-hit``). Interval 0 or burst 0
      disables the limit.

    - With no arguments, ``Restart=no``, systemd's default (``systemd.service(5)``; ``service_init``
      leaves ``restart`` at ``SERVICE_RESTART_NO``): nothing is restarted.
    - ``restart_randomized_delay_sec`` adds a random delay in [0, that span) to every restart's
      delay (``RestartRandomizedDelaySec=``, :class:`~relaunch.kernel.RandomDelay`).

    **UNHEALTHY** is a watchdog timeout (``WatchdogSec=`` without a keep-alive, result ``watchdog``):
    restarted by ``always``, ``on-failure``, ``on-abnormal`` and ``on-watchdog``
    (``service_shall_restart``), and not by ``on-success`` or ``on-abort``; the exit-status lists still
    screen the status of the kill first. **OOM** follows the default ``OOMPolicy=stop``: result
    ``oom-kill``, restarted by always, on-failure and on-abnormal, not by on-abort or on-success.
    **START_FAILED** is an exec failure, exit 203 (``EXIT_EXEC``): retried where an unclean exit code is
    (always, on-failure), under the same start limit; given up otherwise. **LOST** means the machine
    rebooted (systemd is PID 1): the unit starts with fresh counters and a fresh rate-limit window in
    which that start counts (``Lost.FRESH``), in every mode but ``no``.

    Deviations: the random delay is drawn reproducibly from the state's seed. relaunch cannot tell a core
    dump from a plain death by the same signal, so a listed success signal also makes a core dump clean
    (systemd never does). The interpolated delay is not truncated to whole microseconds. Start and stop
    timeouts, protocol results, ``Type=oneshot`` (no clean
    signals) and ``StartLimitAction=`` are not modelled. After a reboot systemd starts a unit through its
    ``[Install]`` wiring even with ``Restart=no``; the preset restarts nothing then.
    """
    mode = choice("systemd.restart", restart, _SYSTEMD_MODES)
    restart_sec = finite("systemd.restart_sec", restart_sec)
    steps = count("systemd.restart_steps", restart_steps)
    maximum = None
    if restart_max_delay_sec is not None:
        maximum = finite("systemd.restart_max_delay_sec", restart_max_delay_sec)
        restart_sec = min(restart_sec, maximum)
    randomized = finite("systemd.restart_randomized_delay_sec", restart_randomized_delay_sec)
    interval = finite("systemd.start_limit_interval_sec", start_limit_interval_sec)
    burst = count("systemd.start_limit_burst", start_limit_burst)
    success_codes, success_signals = exit_statuses("systemd.success_exit_status", success_exit_status)
    prevent_codes, prevent_signals = exit_statuses(
        "systemd.restart_prevent_exit_status", restart_prevent_exit_status
    )
    force_codes, force_signals = exit_statuses("systemd.restart_force_exit_status", restart_force_exit_status)
    # service_restart_usec_next returns RestartSec unless all of these hold.
    interpolated = steps > 0 and maximum is not None and 0.0 < restart_sec < maximum
    return Policy(
        mode=mode,
        jitter=RandomDelay(randomized) if randomized > 0 else NoJitter(),
        backoff=(
            Geometric(first=restart_sec, last=maximum, steps=steps)
            if interpolated and maximum is not None
            else Constant(restart_sec)
        ),
        budget=FixedWindow(limit=burst, interval=interval) if interval > 0 and burst > 0 else Unlimited(),
        exits=ExitRules(
            success_codes=success_codes | {0},
            success_signals=success_signals | DAEMON_CLEAN_SIGNALS,
            prevent_codes=prevent_codes,
            prevent_signals=prevent_signals,
            force_codes=force_codes,
            force_signals=force_signals,
        ),
        lost=Lost.FRESH,
        start_failed=start_failed(mode, ExitClass.EXIT_CODE),
        name="systemd",
    )
