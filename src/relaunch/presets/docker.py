"""Docker's restart policies (``docker run --restart``)."""

from __future__ import annotations

from ..kernel import (
    CountBudget,
    Exponential,
    Lost,
    Mode,
    Policy,
    PolicyError,
    Reset,
    Stability,
    StartFailed,
    Unlimited,
)
from ..kernel.validate import choice, count
from .registry import register

_DOCKER_MODES = {
    "no": Mode.NEVER,
    "always": Mode.ALWAYS,
    # unless-stopped differs from always only at daemon start after a manual stop, when the
    # adapter does not ask the kernel at all (an operator's stop is Cause.STOPPED, never restarted).
    "unless-stopped": Mode.ALWAYS,
    "on-failure": Mode.ON_FAILURE,
}


@register("docker", "Docker's restart policies (docker run --restart).")
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
    mode = choice("docker.policy", policy, _DOCKER_MODES)
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
