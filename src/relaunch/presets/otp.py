"""Erlang/OTP supervisors' restart intensity, and Elixir's defaults for it."""

from __future__ import annotations

from ..kernel import Constant, ExitClass, Lost, Mode, Policy, SlidingWindow
from ..kernel.validate import choice, count, finite
from ._common import start_failed
from .registry import register

_OTP_MODES = {"permanent": Mode.ALWAYS, "transient": Mode.ON_FAILURE, "temporary": Mode.NEVER}


@register("otp", "An Erlang/OTP supervisor's restart intensity, for one child.")
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

    **UNHEALTHY**: OTP has no health checks; a child killed for not answering (a ``gen_server``
    call timing out in its caller, say) dies with an abnormal reason: restarted (by ``permanent``
    and ``transient``) and counted against the intensity.
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


@register("elixir", "An Elixir Supervisor (or DynamicSupervisor): OTP's rules with Elixir's defaults.")
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
    mode = choice(f"{name}.restart", restart, _OTP_MODES)
    return Policy(
        mode=mode,
        backoff=Constant(0.0),
        budget=SlidingWindow(max_restarts=intensity, period=period),
        lost=Lost.FRESH,
        start_failed=start_failed(mode, ExitClass.EXIT_CODE),
        name=name,
    )
