"""relaunch's own default for long-running services."""

from __future__ import annotations

from ..kernel import EqualJitter, Exponential, Lost, Mode, Policy, SlidingWindow, Stability, StartFailed
from .registry import register


@register("recommended", "relaunch's default for long-running services.")
def recommended() -> Policy:
    """relaunch's default for long-running services.

    - **Restart every ending but an operator's stop** (``Mode.ALWAYS``): a service that exits,
      even with 0, is not doing its job; the operator's stop is the one ending that is meant.
    - **Cause-aware**: a ``LOST`` run (daemon restarted, host rebooted) never spends the budget, so
      daemon outages can never exhaust it (as they exhaust ToolHive's, stacklok/toolhive #5171), and
      it is restarted as after a stable run (``Lost.STABLE``): a daemon outage says nothing about
      the workload, so it does not push the backoff up either. Measured on the ``daemon-flaps``
      scenario (a disruption every 30 to 90 s for two hours): 98.8 % availability this way, 78.7 %
      when LOST runs back off like crashes. The price: an outage also ends a crash loop's streak, so
      a workload that crash-loops *and* sits on a flapping daemon is bounded only between outages.
    - **Tight crash loops bounded**: at most 10 restarts in any 10 minutes (a sliding window, as
      Erlang/OTP's intensity and period): a loop that crashes at once gives up after about four
      minutes of backoff, while a service that crashes once an hour is never given up.
    - **Backoff** 1 s doubling to 60 s: a one-off crash costs a second; a loop slows quickly.
    - **Equal jitter** (each delay between half and all of its nominal value): when one daemon
      restart takes down many workloads, their restarts spread out instead of landing together,
      while every delay keeps at least half its backoff.
    - **A run of 60 s or more is stable**: it resets both the backoff and the window, and the
      restart waits the first (jittered) backoff delay rather than none, to spread a herd.
    - **Health kills restarted like crashes** (``Cause.UNHEALTHY``): a workload that stopped
      answering is restarted through the same backoff and the same window, and never counts as
      stable, however long it ran before it hung: this is how the kubelet's liveness probes, Nomad's
      ``check_restart`` and systemd's watchdog all work (health decides when to kill; the restart
      goes through the ordinary path), and a service that hangs every hour must still run out of
      budget rather than reset it each time.
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
