"""Ready-made policies: the restart rules of real supervisors, built from the kernel's parts.

Each preset is a plain :class:`~relaunch.kernel.Policy`; its docstring names the system and version
it follows, the source it was read from, and every deviation.
"""

from __future__ import annotations

from .kernel import (
    CountBudget,
    EqualJitter,
    Exponential,
    Mode,
    Policy,
    PolicyError,
    SlidingWindow,
    Stability,
    StartFailed,
)

__all__ = ["recommended", "toolhive", "toolhive_legacy"]


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
    - **Cause-aware**: a ``LOST`` run (daemon restarted, host rebooted) is restarted with backoff
      but never spends the budget, so daemon outages can never exhaust it (issue #5171).
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
        start_failed=StartFailed.RETRY,
        name="recommended",
    )
