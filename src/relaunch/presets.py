"""Ready-made policies: the restart rules of real supervisors, built from the kernel's parts.

Each preset is a plain :class:`~relaunch.kernel.Policy`; its docstring names the system and version
it follows, the source it was read from (repository, commit, file, function), what it does with
``OOM``, ``LOST`` and ``START_FAILED`` outcomes, and every deviation from the system. Parameters
keep the system's own names (converted to seconds) and are validated here, so a
:class:`~relaunch.kernel.PolicyError` names the preset's parameter rather than a kernel part's.

:func:`names` lists the presets and :func:`get` builds one by name, for the CLI and policy files.
"""

from __future__ import annotations

import inspect
import signal as _signal
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .kernel import (
    DAEMON_CLEAN_SIGNALS,
    RESTARTS,
    Compounded,
    Constant,
    CountBudget,
    EqualJitter,
    Exhausted,
    ExitClass,
    ExitRules,
    Exponential,
    FixedWindow,
    Geometric,
    ImmediateFirst,
    Linear,
    Lost,
    Mode,
    Policy,
    PolicyError,
    ProportionalJitter,
    Reset,
    SlidingWindow,
    Stability,
    StartFailed,
    TumblingWindow,
    Unlimited,
    UnstableRuns,
)
from .kernel.validate import count, finite

__all__ = [
    "docker",
    "elixir",
    "get",
    "kubernetes",
    "kubernetes_reduced",
    "names",
    "nomad",
    "otp",
    "pm2",
    "recommended",
    "supervisord",
    "systemd",
    "toolhive",
    "toolhive_legacy",
]

_T = TypeVar("_T")

#: Every signal an Outcome can carry.
_ALL_SIGNALS = frozenset(range(1, 65))


def _choice(field: str, value: object, allowed: Mapping[str, _T]) -> _T:
    if not isinstance(value, str) or value not in allowed:
        raise PolicyError(f"{field}: must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return allowed[value]


def _bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{field}: must be True or False, got {value!r}")
    return value


def _codes(field: str, values: object) -> frozenset[int]:
    """Exit codes 0..255 from a collection, checked one by one so the error names the bad one."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PolicyError(f"{field}: must be a collection of exit codes, got {values!r}")
    result = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise PolicyError(f"{field}: exit codes must be integers in 0..255, got {value!r}")
        result.add(value)
    return frozenset(result)


def _exit_statuses(field: str, values: object) -> tuple[frozenset[int], frozenset[int]]:
    """systemd's exit-status lists: an int is an exit code, a name such as ``"SIGTERM"`` a signal."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise PolicyError(f"{field}: must be a collection of exit codes and signal names, got {values!r}")
    codes, signals = set(), set()
    for value in values:
        if isinstance(value, str) and value.startswith("SIG") and value in _signal.Signals.__members__:
            signals.add(int(_signal.Signals[value]))
        elif not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= 255:
            codes.add(value)
        else:
            raise PolicyError(
                f"{field}: each item must be an exit code in 0..255 or a signal name "
                f"such as 'SIGTERM', got {value!r}"
            )
    return frozenset(codes), frozenset(signals)


def _start_failed(mode: Mode, exit_class: ExitClass) -> StartFailed:
    """Retry a failed start when the mode restarts the exit class the system turns it into."""
    return StartFailed.RETRY if exit_class in RESTARTS[mode] else StartFailed.GIVE_UP


def toolhive(
    max_retries: int = 10,
    initial_delay: float = 5.0,
    max_backoff: float = 60.0,
    stable_run_threshold: float | None = 30.0,
) -> Policy:
    """ToolHive's ``RunWorkload`` retry loop, after stacklok/toolhive PR #5172.

    Source: stacklok/toolhive ``pkg/workloads/manager.go`` (the ``RunWorkload`` loop and its
    ``retryConfig``) as changed by PR #5172, "Reset RunWorkload retry counter after stable run".

    - ``max_retries`` counts *runs* in a stable epoch: 10 runs are 9 restarts.
    - Delays 5, 10, 20, 40, 60, 60 ... s: ``initial_delay`` doubling, capped at ``max_backoff``.
    - A run lasting at least ``stable_run_threshold`` seconds (``>=``, as the PR's boundary test)
      resets the attempt counter and the backoff, and the workload restarts at once (0 s); the
      restarted run is the first of a fresh epoch. ``None`` is the behaviour before the PR: no
      reset (see :func:`toolhive_legacy`).
    - The exit code is not consulted: every run that ended needs a restart, whether it exited
      (0 included), was OOM-killed or was lost. ToolHive cannot tell a daemon outage from a
      crash, so ``LOST`` spends the budget (``count_lost=True``): that is issue #5171.
    - A start failure gives up at once (``RunWorkload`` returns any error other than "container
      exited, restart needed" without retrying); an operator's stop is a clean end.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
        raise PolicyError(f"toolhive.max_retries: must be an integer >= 1, got {max_retries!r}")
    stability = None
    if stable_run_threshold is not None:
        stability = Stability(after=stable_run_threshold, restart_delay=0.0)
    return Policy(
        mode=Mode.ALWAYS,
        backoff=Exponential(initial=initial_delay, factor=2.0, cap=max_backoff),
        budget=CountBudget(max_retries - 1),
        stability=stability,
        count_lost=True,
        start_failed=StartFailed.GIVE_UP,
        name="toolhive" if stability is not None else "toolhive_legacy",
    )


def toolhive_legacy() -> Policy:
    """ToolHive before PR #5172: 10 runs, 5 s doubling to 60 s, and no reset after a stable run.

    A healthy workload killed by repeated daemon disruptions spends one try per disruption and is
    given up for good after ten: stacklok/toolhive issue #5171.
    """
    return toolhive(stable_run_threshold=None)


def recommended() -> Policy:
    """relaunch's default for long-running services.

    - **Restart every ending but an operator's stop** (``Mode.ALWAYS``): a service that exits,
      even with 0, is not doing its job; the operator's stop is the one ending that is meant.
    - **Cause-aware**: a ``LOST`` run (daemon restarted, host rebooted) never spends the budget,
      so daemon outages can never exhaust it (issue #5171), and it is restarted as after a stable
      run (``Lost.STABLE``): a daemon outage says nothing about the workload, so it does not push
      the backoff up either. Measured on the ``daemon-flaps`` scenario (a disruption every 30 to
      90 s for two hours): 98.8 % availability this way, 78.7 % when LOST runs back off like
      crashes. The price: an outage also ends a crash loop's streak, so a workload that crash-loops
      *and* sits on a flapping daemon is bounded only between outages.
    - **Tight crash loops bounded**: at most 10 restarts in any 10 minutes (a sliding window, as
      Erlang/OTP's intensity and period): a loop that crashes at once gives up after about four
      minutes of backoff, while a service that crashes once an hour is never given up.
    - **Backoff** 1 s doubling to 60 s: a one-off crash costs a second; a loop slows quickly.
    - **Equal jitter** (each delay between half and all of its nominal value): when one daemon
      restart takes down many workloads, their restarts spread out instead of landing together,
      while every delay keeps at least half its backoff.
    - **A run of 60 s or more is stable**: it resets both the backoff and the window, and the
      restart waits the first (jittered) backoff delay rather than none, to spread a herd.
    - **A failed start is retried** under the same budget: a missing image or a slow volume is
      often transient, and the window still bounds a start that can never succeed.
    """
    return Policy(
        mode=Mode.ALWAYS,
        backoff=Exponential(initial=1.0, factor=2.0, cap=60.0),
        jitter=EqualJitter(),
        budget=SlidingWindow(max_restarts=10, period=600.0),
        stability=Stability(after=60.0, restart_delay=None),
        count_lost=False,
        lost=Lost.STABLE,
        start_failed=StartFailed.RETRY,
        name="recommended",
    )


_DOCKER_MODES = {
    "no": Mode.NEVER,
    "always": Mode.ALWAYS,
    # unless-stopped differs from always only at daemon start after a manual stop, when the
    # adapter does not ask the kernel at all (an operator's stop is Cause.STOPPED, never restarted).
    "unless-stopped": Mode.ALWAYS,
    "on-failure": Mode.ON_FAILURE,
}


def docker(policy: str = "on-failure", max_retries: int = 0) -> Policy:
    """Docker's restart policies (``docker run --restart``).

    System: Docker Engine 29 (moby/moby ``b985e2313a86``, docker-v29.7.2-150; the restart
    manager last changed in ``afd6487b2e1e``). Source: ``daemon/internal/restartmanager/
    restartmanager.go`` (``RestartManager.ShouldRestart``), ``daemon/monitor.go``
    (``handleContainerExit``), ``api/types/container/hostconfig.go`` (``ValidateRestartPolicy``).

    - Delays 0.1, 0.2, 0.4 ... 51.2, 60, 60 ... s: 100 ms doubling, capped at one minute. The first
      restart waits 100 ms too (the manager's timeout starts at 0 and becomes 100 ms).
    - A run of 10 s or more (``>=``) resets the delay to 100 ms, "regardless of status and
      policy", but never the restart count: ``Stability(10, resets=Reset.DELAY)``, and the restart
      after it waits the first delay (0.1 s).
    - ``on-failure`` restarts only non-zero exits, and only while the restarts so far are fewer
      than ``max_retries`` (0 = unlimited): ``max_retries=N`` allows N restarts, N+1 runs, stable
      runs included. ``always`` and ``unless-stopped`` restart exit 0 too; ``no`` nothing.
    - ``max_retries`` with any policy but ``on-failure`` is a PolicyError, as Docker rejects it.

    Docker sees only exit codes: a death by signal is 128 + the signal, never 0, so an outcome with
    a signal is a failure. **OOM** is an ordinary exit 137 (``State.OOMKilled`` is recorded and
    consulted nowhere): restarted by every policy but ``no``. **START_FAILED** gives up: when a
    restart's start fails, ``handleContainerExit`` leaves the container stopped and does not retry.
    **LOST** restarts at once with a fresh count and delay (``Lost.FRESH``): at daemon start the
    restore path starts the container with ``resetRestartManager=true`` (``RestartCount = 0``).

    Deviations: Docker measures a run from its recorded start to the moment the daemon handles
    the exit (event latency included); relaunch uses the outcome's times. On a LOST outcome,
    Docker's ``on-failure`` re-checks the exit code it had stored before the daemon went away;
    relaunch has none to check and restarts (``no`` still restarts nothing).
    """
    mode = _choice("docker.policy", policy, _DOCKER_MODES)
    max_retries = count("docker.max_retries", max_retries)
    if max_retries and policy != "on-failure":
        raise PolicyError(
            f"docker.max_retries: can only be used with policy 'on-failure' (Docker rejects it), "
            f"got {max_retries!r} with policy {policy!r}"
        )
    return Policy(
        mode=mode,
        backoff=Exponential(initial=0.1, factor=2.0, cap=60.0),
        budget=CountBudget(max_retries) if max_retries else Unlimited(),
        stability=Stability(after=10.0, resets=Reset.DELAY, restart_delay=None),
        lost=Lost.FRESH,
        start_failed=StartFailed.GIVE_UP,
        name="docker",
    )


_KUBERNETES_MODES = {"Always": Mode.ALWAYS, "OnFailure": Mode.ON_FAILURE, "Never": Mode.NEVER}


def kubernetes(
    restart_policy: str = "Always",
    initial: float = 10.0,
    max: float = 300.0,  # the name; kubelet calls it MaxContainerRestartPeriod
    reset_after: float = 600.0,
) -> Policy:
    """The kubelet's CrashLoopBackOff for a pod's ``restartPolicy``.

    System: a recent kubelet (the file read has the KEP-4603 and ``ContainerRestartRules`` feature
    gates; the logic below is the same in every version compared). Source:
    kubernetes/client-go ``32ce75a7d6bc`` ``util/flowcontrol/backoff.go`` (``Backoff.Next``,
    ``IsInBackOffSince``); kubernetes/kubernetes ``pkg/kubelet/kubelet.go``
    (``newCrashLoopBackOff``, the ``HasExpiredFunc`` set in ``NewMainKubelet``),
    ``pkg/kubelet/kuberuntime/kuberuntime_manager.go`` (``doBackOff``),
    ``pkg/kubelet/container/helpers.go`` (``ShouldContainerBeRestarted``). Those kubelet files were
    read through a file index, so their commit is not pinned.

    - The first restart is immediate (no backoff entry yet), then ``initial`` doubling, capped at
      ``max``: 0, 10, 20, 40, 80, 160, 300, 300 ... s.
    - A run longer than ``reset_after`` (strictly: the entry expires when ``FinishedAt -
      lastUpdate > 600 s``) starts the curve again: that restart is immediate, the next waits
      ``initial``. The kubelet fixes this at 600 s, independent of ``max``.
    - Never gives up (no limit anywhere; the restart count is only reported).
    - ``Always`` backs off exit 0 like a crash; ``OnFailure`` does not restart exit 0; ``Never``
      restarts nothing. The kubelet sees exit codes only: a death by signal is 128 + the signal.
    - If ``max < initial``, ``initial`` becomes ``max`` (``newCrashLoopBackOff`` with the per-node
      ``maxContainerRestartPeriod``).

    **OOM** is exit 137 with reason OOMKilled, restarted like any crash. **START_FAILED** (a
    StartError leaves an Exited container record) backs off like a crash and never gives up
    (``Never``: nothing restarts). **LOST** restarts at once on a fresh curve, as after a reset
    (``Lost.STABLE``): the backoff lives in the kubelet's memory, so a kubelet restart forgets it,
    and the restart it then makes is the curve's immediate first step (the next crash waits
    ``initial``); a lost node's pod is replaced by a new pod with a new curve.

    Deviations: the kubelet restarts at its next pod sync once the backoff has passed, so real
    delays are slightly longer. ``CreateContainerConfigError`` (no container is ever created) is
    retried at every sync without this backoff. Container-level ``restartPolicy`` and
    ``restartPolicyRules`` on exit codes (KEP-5307, alpha) are not modelled.
    """
    return _kubernetes("kubernetes", restart_policy, initial, max, reset_after)


def kubernetes_reduced() -> Policy:
    """The kubelet with KEP-4603's ``ReduceDefaultCrashLoopBackOffDecay`` feature gate.

    Source: kubernetes/kubernetes ``pkg/kubelet/kubelet.go`` (``newCrashLoopBackOff``: initial
    1 s, max 60 s). Delays 0, 1, 2, 4, 8, 16, 32, 60, 60 ... s. The reset stays the kubelet's
    fixed 600 s (not 2 x max, which client-go's default expiry would give). Everything else as
    :func:`kubernetes` with ``restart_policy="Always"``.
    """
    return _kubernetes("kubernetes_reduced", "Always", 1.0, 60.0, 600.0)


def _kubernetes(name: str, restart_policy: str, initial: float, maximum: float, reset_after: float) -> Policy:
    mode = _choice("kubernetes.restart_policy", restart_policy, _KUBERNETES_MODES)
    initial = finite("kubernetes.initial", initial, strict=True)
    maximum = finite("kubernetes.max", maximum, strict=True)
    reset_after = finite("kubernetes.reset_after", reset_after, strict=True)
    return Policy(
        mode=mode,
        backoff=ImmediateFirst(Exponential(initial=min(initial, maximum), factor=2.0, cap=maximum)),
        budget=Unlimited(),
        # restart_delay=None: the restart after a reset takes step 1 of the curve, which is the
        # immediate one, and the next crash waits ``initial``, as Next() re-creating the entry.
        stability=Stability(after=reset_after, strict=True, resets=Reset.DELAY, restart_delay=None),
        lost=Lost.STABLE,
        start_failed=_start_failed(mode, ExitClass.EXIT_CODE),
        name=name,
    )


_SYSTEMD_MODES = {
    "no": Mode.NEVER,
    "always": Mode.ALWAYS,
    "on-success": Mode.ON_SUCCESS,
    "on-failure": Mode.ON_FAILURE,
    "on-abnormal": Mode.ON_ABNORMAL,
    "on-abort": Mode.ON_ABORT,
}


def systemd(
    restart: str = "on-failure",
    restart_sec: float = 0.1,
    restart_steps: int = 0,
    restart_max_delay_sec: float | None = None,
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

    **OOM** follows the default ``OOMPolicy=stop``: result ``oom-kill``, restarted by always,
    on-failure and on-abnormal, not by on-abort or on-success. **START_FAILED** is an exec
    failure, exit 203 (``EXIT_EXEC``): retried where an unclean exit code is (always,
    on-failure), under the same start limit; given up otherwise. **LOST** means the machine
    rebooted (systemd is PID 1): the unit starts with fresh counters and a fresh rate-limit
    window in which that start counts (``Lost.FRESH``), in every mode but ``no``.

    Deviations: relaunch cannot tell a core dump from a plain death by the same signal, so a
    listed success signal also makes a core dump clean (systemd never does). The interpolated
    delay is not truncated to whole microseconds. ``Restart=on-watchdog``, timeouts, watchdog
    and protocol results, ``Type=oneshot`` (no clean signals) and ``StartLimitAction=`` are not
    modelled. After a reboot systemd starts a unit through its ``[Install]`` wiring even with
    ``Restart=no``; the preset restarts nothing then.
    """
    mode = _choice("systemd.restart", restart, _SYSTEMD_MODES)
    restart_sec = finite("systemd.restart_sec", restart_sec)
    steps = count("systemd.restart_steps", restart_steps)
    maximum = None
    if restart_max_delay_sec is not None:
        maximum = finite("systemd.restart_max_delay_sec", restart_max_delay_sec)
        restart_sec = min(restart_sec, maximum)
    interval = finite("systemd.start_limit_interval_sec", start_limit_interval_sec)
    burst = count("systemd.start_limit_burst", start_limit_burst)
    success_codes, success_signals = _exit_statuses("systemd.success_exit_status", success_exit_status)
    prevent_codes, prevent_signals = _exit_statuses(
        "systemd.restart_prevent_exit_status", restart_prevent_exit_status
    )
    force_codes, force_signals = _exit_statuses(
        "systemd.restart_force_exit_status", restart_force_exit_status
    )
    # service_restart_usec_next returns RestartSec unless all of these hold.
    interpolated = steps > 0 and maximum is not None and 0.0 < restart_sec < maximum
    return Policy(
        mode=mode,
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
        start_failed=_start_failed(mode, ExitClass.EXIT_CODE),
        name="systemd",
    )


_SUPERVISORD_MODES = {"true": Mode.ALWAYS, "unexpected": Mode.ON_FAILURE, "false": Mode.NEVER}


def supervisord(
    startsecs: float = 1.0,
    startretries: int = 3,
    autorestart: str = "unexpected",
    exitcodes: Iterable[int] = (0,),
) -> Policy:
    """Supervisor's ``[program:x]`` restart rules.

    System: Supervisor 4.x (Supervisor/supervisor ``abc60468ea4b``, 4.4.0.dev0). Source:
    ``supervisor/process.py`` (``Subprocess.finish``, ``Subprocess.transition``,
    ``Subprocess.change_state``, ``Subprocess.give_up``), ``supervisor/options.py``
    (``decode_wait_status``, the program defaults).

    - A run shorter than ``startsecs`` is a failed start whatever its exit code, and whatever
      ``autorestart`` says (``restart_unstable``): it is retried after 1, 2, 3 ... s (the number of
      consecutive failed starts, ``change_state`` entering BACKOFF), and the failed start after
      ``startretries`` retries gives up (FATAL): ``startretries=3`` means 4 starts.
    - A run of ``startsecs`` or more reached RUNNING and resets everything; its exit restarts at
      once (0 s), without limit, if ``autorestart`` is ``"true"``, or ``"unexpected"`` and the code
      is not in ``exitcodes``. A death by signal is never expected (``decode_wait_status`` gives
      -1, which cannot be listed). ``"false"`` restarts nothing.

    **OOM** is a SIGKILL, never expected: a failed start if early, else restarted unless
    ``autorestart`` is ``"false"``. **START_FAILED** (a spawn error) is a failed start: retried
    with the same backoff and limit, whatever ``autorestart`` says. **LOST** means supervisord
    itself went away: its children are not re-adopted and ``autostart`` starts them afresh, so
    the preset restarts at once with a fresh count (``Lost.FRESH``), except under ``"false"``.

    Deviation from the issue text: the issue says a run *not longer than* ``startsecs`` is a
    failed start; ``finish`` tests ``now - laststart < startsecs`` (strictly), so a run of exactly
    ``startsecs`` reached RUNNING. The preset follows the source.

    Deviations from supervisord: ``startsecs`` may be fractional (supervisord parses an integer).
    A run of zero length is a failed start here; ``finish`` only tests ``too_quickly`` when
    ``now > laststart`` and otherwise assumes the process did not exit too quickly.
    supervisord spawns from its main loop, which wakes about once a second, so real delays can be
    up to a second longer than 1, 2, 3 s. With ``autorestart=false`` a LOST program would still
    be started by ``autostart`` when supervisord comes back; the preset leaves it down.
    """
    startsecs = finite("supervisord.startsecs", startsecs)
    startretries = count("supervisord.startretries", startretries)
    mode = _choice("supervisord.autorestart", autorestart, _SUPERVISORD_MODES)
    expected = _codes("supervisord.exitcodes", exitcodes)
    return Policy(
        mode=mode,
        backoff=Linear(initial=1.0, increment=1.0, cap=float(max(1, startretries))),
        budget=CountBudget(startretries),
        exits=ExitRules(success_codes=expected),
        stability=Stability(after=startsecs, resets=Reset.BOTH, restart_delay=0.0),
        restart_unstable=True,
        # A LOST run under autorestart=false is stopped by the mode before this applies.
        lost=Lost.FRESH,
        start_failed=StartFailed.RETRY,
        name="supervisord",
    )


_OTP_MODES = {"permanent": Mode.ALWAYS, "transient": Mode.ON_FAILURE, "temporary": Mode.NEVER}


def otp(intensity: int = 1, period: float = 5.0, restart: str = "permanent") -> Policy:
    """An Erlang/OTP supervisor's restart intensity, for one child.

    System: Erlang/OTP 27 (erlang/otp ``002130b616bb``). Source: ``lib/stdlib/src/supervisor.erl``
    (``do_restart``, ``restart``, ``add_restart``).

    - Restarts are immediate: the supervisor has no delay anywhere.
    - ``restart``: ``permanent`` always; ``transient`` not after a normal exit (exit code 0 here);
      ``temporary`` never.
    - A sliding window over restart times, inclusive: a restart exactly ``period`` seconds old
      still counts, and the current restart counts. When the restarts in the window exceed
      ``intensity``, the supervisor shuts down: the preset gives up. ``intensity=0`` gives up at
      the first crash.

    **OOM**: BEAM processes are not OOM-killed one by one; one that exceeds ``max_heap_size``
    dies with reason ``killed``, an abnormal exit: restarted and counted. **START_FAILED**: a
    failed restart is retried at once (``try_again_restart``) and counts against the intensity
    (``temporary``: given up). **LOST** means the node went down with its supervisor: the tree
    comes back fresh when the VM is started again (by ``heart`` or the host's supervisor), so the
    preset restarts at once with a fresh window (``Lost.FRESH``).

    Deviations: OTP keeps restart times in whole seconds (``erlang:monotonic_time(1)``), so its
    window edge depends on where the seconds tick; relaunch uses exact times. Exit reasons are
    mapped onto outcomes: ``normal`` is exit code 0, anything else (a signal included) abnormal;
    ``shutdown`` reasons have no outcome of their own. Giving up here is where OTP escalates to
    the parent supervisor.
    """
    return _otp("otp", "intensity", intensity, "period", period, restart)


def elixir(max_restarts: int = 3, max_seconds: float = 5.0, restart: str = "permanent") -> Policy:
    """An Elixir ``Supervisor`` (or ``DynamicSupervisor``): OTP's rules with Elixir's defaults.

    System: Elixir's main branch of 2026-08 (elixir-lang/elixir ``63a7a054ceb2``). Source:
    ``lib/elixir/lib/supervisor.ex`` (``Supervisor.init/2``: ``max_restarts`` 3, ``max_seconds``
    5, handed to ``:supervisor`` as intensity and period), ``lib/elixir/lib/dynamic_supervisor.ex``
    (its own copy of the same inclusive window). Everything else, OOM, LOST, START_FAILED and the
    deviations included, as :func:`otp`: 0, 0, 0 s, and the 4th restart within 5 s gives up.
    """
    return _otp("elixir", "max_restarts", max_restarts, "max_seconds", max_seconds, restart)


def _otp(
    name: str, intensity_name: str, intensity: int, period_name: str, period: float, restart: str
) -> Policy:
    intensity = count(f"{name}.{intensity_name}", intensity)
    period = finite(f"{name}.{period_name}", period, strict=True)
    mode = _choice(f"{name}.restart", restart, _OTP_MODES)
    return Policy(
        mode=mode,
        backoff=Constant(0.0),
        budget=SlidingWindow(max_restarts=intensity, period=period),
        lost=Lost.FRESH,
        start_failed=_start_failed(mode, ExitClass.EXIT_CODE),
        name=name,
    )


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

    Deviation from the issue text: PM2's exit hooks call ``handleExit(code || 0, signal)``, so a
    death by signal reaches PM2 as exit 0. ``stop_exit_codes`` containing 0 therefore also stops
    every death by signal; the preset does the same.

    **OOM** (the kernel's SIGKILL) is exit 0 to PM2: restarted unless 0 is a stop code (an OOM
    outcome reported with exit code 137 rather than signal 9 is not stopped by a listed 0).
    **START_FAILED** is what PM2 sees of a spawn error, an immediate exit 1: an unstable restart
    (given up with ``autorestart=False``). **LOST** means the PM2 daemon died: ``pm2 resurrect``
    re-creates the app, counters at 0 and a new first start, so the preset restarts at once
    with a fresh state (``Lost.FRESH``).

    Other deviations: the run's start is the restart time the policy gave (PM2's ``pm_uptime``
    is likewise set when PM2 starts the process), not the outcome's ``started_at``.
    """
    autorestart = _bool("pm2.autorestart", autorestart)
    min_uptime = finite("pm2.min_uptime", min_uptime)
    max_restarts = count("pm2.max_restarts", max_restarts)
    restart_delay = finite("pm2.restart_delay", restart_delay)
    stops = _codes("pm2.stop_exit_codes", stop_exit_codes)
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
        exits=ExitRules(prevent_codes=stops, prevent_signals=_ALL_SIGNALS if 0 in stops else frozenset()),
        stability=stability,
        lost=Lost.FRESH,
        start_failed=_start_failed(mode, ExitClass.EXIT_CODE),
        name="pm2",
    )


_NOMAD_EXHAUSTED = {"fail": Exhausted.GIVE_UP, "delay": Exhausted.WAIT}
#: Whether a successful exit is restarted (``NewRestartTracker``: not for batch and sysbatch).
_NOMAD_ON_SUCCESS = {"service": True, "batch": False, "system": True, "sysbatch": False}


def nomad(
    attempts: int = 2,
    interval: float = 1800.0,
    delay: float = 15.0,
    mode: str = "fail",
    job_type: str = "service",
) -> Policy:
    """A Nomad task's ``restart`` block (the client's restart tracker).

    System: Nomad 2.0 (hashicorp/nomad ``aa026cc99cfb``, 2.0.6-dev). Source:
    ``client/allocrunner/taskrunner/restarts/restarts.go`` (``NewRestartTracker``,
    ``RestartTracker.GetState``, ``getDelay``, ``jitter``), ``client/allocrunner/taskrunner/
    task_runner.go`` (``shouldRestart``), ``nomad/structs/structs.go`` (defaults),
    ``plugins/drivers/driver.go`` (``ExitResult.Successful``).

    - A tumbling window (:class:`~relaunch.kernel.TumblingWindow`): it opens at the first start;
      a failure more than ``interval`` after it opened reopens it at that failure, with the
      count starting again. Each failure counts, at the time it happens; the failure that takes
      the count above ``attempts`` gives up (``mode="fail"``) or waits until the window ends
      (``mode="delay"``, no jitter), after which the next failure opens a new window.
    - Otherwise the restart waits ``delay`` plus a jitter uniform in [0, 25 %) of ``delay``.
    - ``job_type`` ``"batch"`` (and ``"sysbatch"``) does not restart a successful exit (exit 0,
      no signal); ``"service"`` (and ``"system"``) does, and counts it.
    - ``attempts=0`` restarts nothing, in either mode.

    **OOM** is an unsuccessful exit (``ExitResult.OOMKilled`` is not consulted): counted and
    restarted. **START_FAILED** is a recoverable start error: it counts and restarts like a
    failure. **LOST**: a lost node's allocations are rescheduled elsewhere by the server (a new
    allocation and tracker, under the job's reschedule policy, which this preset does not
    model); the preset restarts after the usual delay without counting it.

    Deviations: the jitter is drawn reproducibly from the state's seed, not from a generator
    seeded with the wall clock. Nomad turns a zero delay into 1 ns; relaunch keeps 0. An
    unrecoverable start error makes Nomad give up at once; relaunch cannot tell the two kinds
    apart and assumes recoverable. Where the issue names ``handleWaitResult`` and
    ``handleStartError``, current Nomad has a single ``GetState`` fed by ``SetExitResult`` and
    ``SetStartError``; the preset follows ``GetState``.
    """
    attempts = count("nomad.attempts", attempts)
    interval = finite("nomad.interval", interval, strict=True)
    delay = finite("nomad.delay", delay)
    exhausted = _choice("nomad.mode", mode, _NOMAD_EXHAUSTED)
    on_success = _choice("nomad.job_type", job_type, _NOMAD_ON_SUCCESS)
    return Policy(
        mode=Mode.ALWAYS if on_success else Mode.ON_FAILURE,
        backoff=Constant(delay),
        jitter=ProportionalJitter(0.25),
        budget=TumblingWindow(limit=attempts, interval=interval),
        on_exhausted=exhausted,
        start_failed=StartFailed.RETRY,
        name="nomad",
    )


_PRESETS: dict[str, Callable[..., Policy]] = {
    "docker": docker,
    "elixir": elixir,
    "kubernetes": kubernetes,
    "kubernetes_reduced": kubernetes_reduced,
    "nomad": nomad,
    "otp": otp,
    "pm2": pm2,
    "recommended": recommended,
    "supervisord": supervisord,
    "systemd": systemd,
    "toolhive": toolhive,
    "toolhive_legacy": toolhive_legacy,
}


def names() -> tuple[str, ...]:
    """The presets :func:`get` knows, sorted."""
    return tuple(sorted(_PRESETS))


def get(name: str, **params: Any) -> Policy:
    """Build the preset called ``name`` with ``params``; a PolicyError names what is wrong."""
    if not isinstance(name, str) or name not in _PRESETS:
        raise PolicyError(f"presets.get: unknown preset {name!r} (allowed: {', '.join(names())})")
    factory = _PRESETS[name]
    accepted = inspect.signature(factory).parameters
    for key in params:
        if key not in accepted:
            allowed = ", ".join(accepted) or "none"
            raise PolicyError(f"{name}.{key}: no such parameter (allowed: {allowed})")
    return factory(**params)
