"""The kubelet's CrashLoopBackOff, with and without KEP-4603."""

from __future__ import annotations

from ..kernel import ExitClass, Exponential, ImmediateFirst, Lost, Mode, Policy, Reset, Stability, Unlimited
from ..kernel.validate import choice, finite
from ._common import start_failed
from .registry import register

_KUBERNETES_MODES = {"Always": Mode.ALWAYS, "OnFailure": Mode.ON_FAILURE, "Never": Mode.NEVER}


@register("kubernetes", "The kubelet's CrashLoopBackOff for a pod's restartPolicy.")
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


@register(
    "kubernetes_reduced", "The kubelet with KEP-4603's ReduceDefaultCrashLoopBackOffDecay feature gate."
)
def kubernetes_reduced() -> Policy:
    """The kubelet with KEP-4603's ``ReduceDefaultCrashLoopBackOffDecay`` feature gate.

    Source: kubernetes/kubernetes ``pkg/kubelet/kubelet.go`` (``newCrashLoopBackOff``: initial
    1 s, max 60 s). Delays 0, 1, 2, 4, 8, 16, 32, 60, 60 ... s. The reset stays the kubelet's
    fixed 600 s (not 2 x max, which client-go's default expiry would give). Everything else as
    :func:`kubernetes` with ``restart_policy="Always"``.
    """
    return _kubernetes("kubernetes_reduced", "Always", 1.0, 60.0, 600.0)


def _kubernetes(name: str, restart_policy: str, initial: float, maximum: float, reset_after: float) -> Policy:
    mode = choice("kubernetes.restart_policy", restart_policy, _KUBERNETES_MODES)
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
        start_failed=start_failed(mode, ExitClass.EXIT_CODE),
        name=name,
    )
