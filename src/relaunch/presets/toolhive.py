"""ToolHive's restart loop, before and after stacklok/toolhive PR #5172."""

from __future__ import annotations

from ..kernel import CountBudget, Exponential, Mode, Policy, PolicyError, Stability, StartFailed
from .registry import register


@register("toolhive", "ToolHive's RunWorkload retry loop, after stacklok/toolhive PR #5172.")
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
      crash, so ``LOST`` spends the budget (``count_lost=True``): that is stacklok/toolhive #5171.
    - **UNHEALTHY**: ToolHive's health checks are disabled (stacklok/toolhive #3283, #3284) and its
      health-aware restart was not merged (#3433), so it never kills for health; a health kill
      relaunch makes is one more ended run to ToolHive's loop: restarted and counted.
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


@register(
    "toolhive_legacy",
    "ToolHive before PR #5172: 10 runs, 5 s doubling to 60 s, and no reset after a stable run.",
)
def toolhive_legacy() -> Policy:
    """ToolHive before PR #5172: 10 runs, 5 s doubling to 60 s, and no reset after a stable run.

    A healthy workload killed by repeated daemon disruptions spends one try per disruption and is
    given up for good after ten: stacklok/toolhive issue #5171.
    """
    return toolhive(stable_run_threshold=None)
