"""The kubelet's CrashLoopBackOff, with and without KEP-4603."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..kernel import (
    ExitClass,
    ExitRules,
    Exponential,
    ImmediateFirst,
    Lost,
    Mode,
    Policy,
    PolicyError,
    Reset,
    Stability,
    Unlimited,
)
from ..kernel.validate import choice, codes, finite
from ._common import start_failed
from .registry import register

_KUBERNETES_MODES = {"Always": Mode.ALWAYS, "OnFailure": Mode.ON_FAILURE, "Never": Mode.NEVER}


@register("kubernetes", "The kubelet's CrashLoopBackOff for a pod's restartPolicy.")
def kubernetes(
    restart_policy: str = "Always",
    initial: float = 10.0,
    max: float = 300.0,  # the kubelet calls it MaxContainerRestartPeriod
    reset_after: float = 600.0,
    restart_policy_rules: Iterable[Mapping[str, Any]] = (),
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

    - ``restart_policy_rules`` are a container's ``restartPolicyRules`` (KEP-5307), spelled as the
      API spells them: ``{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}``.
      kubernetes/kubernetes ``ContainerShouldRestart`` and ``findMatchingContainerRestartRule``
      (``pkg/api/v1/pod/util.go`` in the index read, commit not pinned): the rules are tried in
      order and a matching ``Restart`` rule restarts whatever the restart policy says; with no
      match the policy decides. ``Restart`` is the only action the API accepts without the
      ``RestartAllContainersOnContainerExits`` gate, so the rules are exit codes that force a
      restart (a death by signal is its exit code 128 + the signal); at most 20 rules, and at most
      255 values each.

    **UNHEALTHY** is a liveness (or startup) probe kill: the kubelet kills the container and restarts it
    unless the policy is ``Never``, through the same CrashLoopBackOff (``computePodActions`` in
    ``kuberuntime_manager.go``). **OOM** is exit 137 with reason OOMKilled, restarted like any crash.
    **START_FAILED** (a StartError leaves an Exited container record) backs off like a crash and never
    gives up (``Never``: nothing restarts). **LOST** restarts at once on a fresh curve, as after a reset
    (``Lost.STABLE``): the backoff lives in the kubelet's memory, so a kubelet restart forgets it, and the
    restart it then makes is the curve's immediate first step (the next crash waits ``initial``); a lost
    node's pod is replaced by a new pod with a new curve. A LOST run is restarted under ``Never`` too
    (``restart_lost_under_never``): ``ShouldContainerBeRestarted`` returns true for a container in
    the unknown (or created) state before it looks at the restart policy, so only a container seen
    to exit stays down under ``Never``.

    Deviations: the kubelet restarts at its next pod sync once the backoff has passed, so real
    delays are slightly longer. ``CreateContainerConfigError`` (no container is ever created) is
    retried at every sync without this backoff. A liveness kill is never a stable run here, while the
    kubelet would reset the curve after a liveness-killed container ran 600 s. ``restart_policy``
    stands for the container's own ``restartPolicy`` when rules are given (the rules need one).
    Under ``Never``, a pod whose sandbox must be created again (after a host reboot) is not
    started again: ``computePodActions`` makes no new sandbox for a ``Never`` pod whose containers
    have run. relaunch cannot tell that ``LOST`` from a container in an unknown state, and
    restarts both.
    """
    return _kubernetes("kubernetes", restart_policy, initial, max, reset_after, restart_policy_rules)


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


#: ``maxRestartPolicyRules`` and ``maxRestartRuleExitCodes`` in the API's validation.
_MAX_RULES, _MAX_VALUES = 20, 255


def _forced_codes(rules: object) -> frozenset[int]:
    """The exit codes ``restartPolicyRules`` restart, each rule checked as the API validates it."""
    field = "kubernetes.restart_policy_rules"
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
        raise PolicyError(f"{field}: must be a list of rules, got {rules!r}")
    forced: set[int] = set()
    rules = list(rules)
    if len(rules) > _MAX_RULES:
        raise PolicyError(f"{field}: at most {_MAX_RULES} rules, got {len(rules)}")
    for i, rule in enumerate(rules):
        where = f"{field}[{i}]"
        if not isinstance(rule, Mapping) or set(rule) - {"action", "exitCodes"}:
            raise PolicyError(f"{where}: must be a table of action and exitCodes, got {rule!r}")
        if rule.get("action") != "Restart":
            raise PolicyError(f"{where}.action: must be 'Restart', got {rule.get('action')!r}")
        exit_codes = rule.get("exitCodes")
        if not isinstance(exit_codes, Mapping) or set(exit_codes) != {"operator", "values"}:
            raise PolicyError(
                f"{where}.exitCodes: must be a table of operator and values, got {exit_codes!r}"
            )
        operator = choice(f"{where}.exitCodes.operator", exit_codes["operator"], {"In": True, "NotIn": False})
        values = codes(f"{where}.exitCodes.values", exit_codes["values"])
        if len(values) > _MAX_VALUES:
            raise PolicyError(f"{where}.exitCodes.values: at most {_MAX_VALUES} codes, got {len(values)}")
        forced |= values if operator else _ALL_CODES - values
    return frozenset(forced)


_ALL_CODES = frozenset(range(256))


def _kubernetes(
    name: str,
    restart_policy: str,
    initial: float,
    maximum: float,
    reset_after: float,
    rules: Iterable[Mapping[str, Any]] = (),
) -> Policy:
    mode = choice("kubernetes.restart_policy", restart_policy, _KUBERNETES_MODES)
    forced = _forced_codes(rules)
    initial = finite("kubernetes.initial", initial, strict=True)
    maximum = finite("kubernetes.max", maximum, strict=True)
    reset_after = finite("kubernetes.reset_after", reset_after, strict=True)
    return Policy(
        mode=mode,
        backoff=ImmediateFirst(Exponential(initial=min(initial, maximum), factor=2.0, cap=maximum)),
        budget=Unlimited(),
        exits=ExitRules(
            force_codes=forced, force_signals=frozenset(code - 128 for code in forced if 129 <= code <= 192)
        ),
        # restart_delay=None: the restart after a reset takes step 1 of the curve, which is the
        # immediate one, and the next crash waits ``initial``, as Next() re-creating the entry.
        stability=Stability(after=reset_after, strict=True, resets=Reset.DELAY, restart_delay=None),
        lost=Lost.STABLE,
        restart_lost_under_never=mode is Mode.NEVER,
        start_failed=start_failed(mode, ExitClass.EXIT_CODE),
        name=name,
    )
