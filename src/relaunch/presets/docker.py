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
    # The name before Docker 25 wrote for "no" (``ValidateRestartPolicy`` still accepts it).
    "": Mode.NEVER,
    "always": Mode.ALWAYS,
    "unless-stopped": Mode.ALWAYS,
    "on-failure": Mode.ON_FAILURE,
}


@register("docker", "Docker's restart policies (docker run --restart).")
def docker(policy: str = "no", max_retries: int = 0) -> Policy:
    """Docker's restart policies (``docker run --restart``).

    System: Docker Engine 29 (moby/moby ``b985e2313a86``, docker-v29.7.2-150; the restart
    manager last changed in ``afd6487b2e1e``). Source: ``daemon/internal/restartmanager/
    restartmanager.go`` (``RestartManager.ShouldRestart``), ``daemon/monitor.go``
    (``handleContainerExit``), ``daemon/daemon.go`` (``Daemon.restore``),
    ``daemon/container/container.go`` (``RestartManager``, ``ResetRestartManager``),
    ``api/types/container/hostconfig.go`` (``ValidateRestartPolicy``).

    - With no arguments, ``no``: Docker's default restart policy (moby
      ``integration-cli/docker_cli_run_test.go``, ``TestRunSetDefaultRestartPolicy``). The empty
      name that Docker before 25 stored is accepted as ``no``, with any ``max_retries``, as
      ``ValidateRestartPolicy`` accepts it.
    - Delays 0.1, 0.2, 0.4 ... 51.2, 60, 60 ... s: 100 ms doubling, capped at one minute. The first
      restart waits 100 ms too (the manager's timeout starts at 0 and becomes 100 ms).
    - A run of 10 s or more (``>=``) resets the delay to 100 ms, "regardless of status and
      policy", but never the restart count: ``Stability(10, resets=Reset.DELAY)``, and the restart
      after it waits the first delay (0.1 s).
    - ``on-failure`` restarts only non-zero exits, and only while the restarts so far are fewer
      than ``max_retries`` (0 = unlimited): ``max_retries=N`` allows N restarts, N+1 runs, stable
      runs included. ``always`` and ``unless-stopped`` restart exit 0 too; ``no`` nothing.
    - ``max_retries`` with ``no``, ``always`` or ``unless-stopped`` is a PolicyError, as Docker
      rejects it.

    Docker sees only exit codes: a death by signal is 128 + the signal, never 0, so an outcome with
    a signal is a failure. **OOM** is an ordinary exit 137 (``State.OOMKilled`` is recorded and
    consulted nowhere): restarted by every policy but ``no``. **UNHEALTHY**: Docker's standalone
    engine never restarts on health (moby#28400; ``daemon/health.go`` only sets the status), so
    a health kill is what the supervisor made of it, the exit 137 of its kill: restarted by every
    policy but ``no`` and counted by ``on-failure``, as that exit would be. **START_FAILED**
    gives up: when a restart's start fails, ``handleContainerExit`` leaves the container stopped
    and does not retry. **LOST** (the daemon restarted): ``Daemon.restore`` asks a restart
    manager rebuilt with the persisted ``RestartCount`` whether to restart, then starts the
    container with a fresh count and delay (``containerStart`` with ``resetRestartManager``):
    ``Lost.RESTORE``, so ``on-failure:2`` with both retries spent stays down. At the same moment
    ``always`` also starts a container an operator had stopped, and ``unless-stopped`` does not
    (``ShouldRestart`` consults ``hasBeenManuallyStopped`` for ``unless-stopped`` only):
    ``resume_stopped`` is True for ``always``.

    Deviations: Docker measures a run from its recorded start to the moment the daemon handles
    the exit (event latency included); relaunch uses the outcome's times. On a LOST outcome,
    Docker's ``on-failure`` re-checks the exit code it had stored before the daemon went away;
    relaunch has none to check and restarts (``no`` still restarts nothing). A health kill is
    never a stable run here, while Docker would reset its delay after 10 s of any run.
    """
    mode = choice("docker.policy", policy, _DOCKER_MODES)
    if policy == "":
        max_retries = 0  # the legacy empty name ignores any count
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
        lost=Lost.RESTORE,
        start_failed=StartFailed.GIVE_UP,
        resume_stopped=policy == "always",
        name="docker",
    )
