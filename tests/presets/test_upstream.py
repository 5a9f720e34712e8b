"""Upstream test cases translated: each test names the upstream file and test it comes from, and
its expected values are upstream's, not what relaunch happens to return."""

from __future__ import annotations

from typing import Any

import pytest

from relaunch import Action, Cause, Mode, Outcome, PolicyError, Rule, presets
from relaunch.runs import Run, drive


def _first(policy: Any, outcome: Outcome) -> Action:
    return policy.decide(policy.start(0.0), outcome).action


# -- moby/moby -------------------------------------------------------------------------------------


def test_moby_run_set_default_restart_policy() -> None:
    """moby integration-cli/docker_cli_run_test.go TestRunSetDefaultRestartPolicy: the default is "no"."""
    assert presets.docker() == presets.docker("no")
    assert presets.docker().mode is Mode.NEVER
    assert _first(presets.docker(), Outcome(0.0, 1.0, exit_code=1)) is Action.STOP


@pytest.mark.parametrize(
    ("policy", "max_retries", "accepted"),
    [
        # api/types/container/hostconfig_test.go TestValidateRestartPolicy, case by case.
        ("", 0, True),  # "empty"
        ("", 123, True),  # "empty with invalid MaxRestartCount (for backward compatibility)"
        ("", -123, True),  # "empty with negative MaxRestartCount"
        ("always", 0, True),
        ("always", 123, False),
        ("always", -123, False),
        ("unless-stopped", 0, True),
        ("unless-stopped", 123, False),
        ("unless-stopped", -123, False),
        ("no", 0, True),
        ("no", 123, False),
        ("no", -123, False),
        ("on-failure", 0, True),
        ("on-failure", 123, True),
        ("on-failure", -123, False),
        ("unknown", 0, False),
    ],
)
def test_moby_validate_restart_policy(policy: str, max_retries: int, accepted: bool) -> None:
    """moby api/types/container/hostconfig_test.go TestValidateRestartPolicy: what Docker accepts and rejects."""
    if accepted:
        built = presets.docker(policy, max_retries)
        if policy == "":
            assert built == presets.docker("no")  # IsNone(): the empty name is "no"
    else:
        with pytest.raises(PolicyError):
            presets.docker(policy, max_retries)


def test_moby_restart_manager_timeout() -> None:
    """moby daemon/internal/restartmanager/restartmanager_test.go TestRestartManagerTimeout: the first restart waits 100 ms."""
    policy = presets.docker("always")
    decision = policy.decide(policy.start(0.0), Outcome(0.0, 1.0, exit_code=0))
    assert decision.restarts
    assert decision.delay == 0.1


def test_moby_restart_manager_timeout_reset() -> None:
    """moby restartmanager_test.go TestRestartManagerTimeoutReset: a 10 s run puts a 5 s timeout back to 100 ms."""
    policy = presets.docker("always")
    # Crash until the delay has doubled past 5 s (0.1 ... 6.4), then run exactly 10 s.
    decisions = list(drive(policy, policy.start(0.0), [Run(0.5, exit_code=0)] * 7 + [Run(10.0, exit_code=0)]))
    assert decisions[-2].delay == 6.4
    assert decisions[-1].delay == 0.1


def test_moby_restore_keeps_the_persisted_restart_count() -> None:
    """moby daemon/daemon.go restore: ShouldRestart runs on a manager rebuilt with RestartCount, so on-failure:2 spent stays down."""
    policy = presets.docker("on-failure", max_retries=2)
    runs = [Run(0.5, exit_code=1), Run(0.5, exit_code=1), Run(30.0, cause=Cause.LOST)]
    decisions = list(drive(policy, policy.start(0.0), runs))
    assert [d.action for d in decisions] == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    # One retry left: restored at once, and the count starts over (containerStart resets it).
    runs = [Run(0.5, exit_code=1), Run(30.0, cause=Cause.LOST), Run(0.5, exit_code=1), Run(0.5, exit_code=1)]
    decisions = list(drive(policy, policy.start(0.0), runs))
    assert [d.action for d in decisions] == [Action.RETRY, Action.RESET, Action.RETRY, Action.RETRY]
    assert decisions[1].delay == 0.0


def test_moby_always_and_unless_stopped_differ_at_daemon_start() -> None:
    """moby restartmanager.go ShouldRestart: always ignores hasBeenManuallyStopped, unless-stopped honours it."""
    assert presets.docker("always").resume_stopped
    assert not presets.docker("unless-stopped").resume_stopped
    assert not presets.docker("on-failure").resume_stopped
    assert presets.docker("always").mode is presets.docker("unless-stopped").mode


# -- hashicorp/nomad -------------------------------------------------------------------------------


def test_nomad_restart_policy_validate() -> None:
    """hashicorp/nomad nomad/structs/structs_test.go TestRestartPolicy_Validate, case by case."""
    presets.nomad(attempts=0, interval=5.0, mode="fail")  # acceptable
    with pytest.raises(PolicyError, match="ambiguous"):
        presets.nomad(attempts=0, interval=5.0, mode="delay")
    with pytest.raises(PolicyError, match="mode"):
        presets.nomad(attempts=1, interval=5.0, mode="nope")
    with pytest.raises(PolicyError, match="do not fit"):
        presets.nomad(attempts=3, delay=5.0, interval=5.0, mode="delay")
    with pytest.raises(PolicyError, match="minimum"):
        presets.nomad(attempts=1, delay=1.0, interval=1.0, mode="fail")


def test_nomad_default_batch_job_restart_policy() -> None:
    """hashicorp/nomad nomad/structs/structs.go DefaultBatchJobRestartPolicy: 3 attempts in 24 h, 15 s delay, fail."""
    batch = presets.nomad(job_type="batch")
    assert batch == presets.nomad(attempts=3, interval=86400.0, delay=15.0, mode="fail", job_type="batch")
    service = presets.nomad()
    assert service == presets.nomad(attempts=2, interval=1800.0, delay=15.0, mode="fail")


# -- kubernetes/kubernetes -------------------------------------------------------------------------

_RULE_42 = {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}

#: pkg/kubelet/container/helpers_test.go TestShouldContainerBeRestarted: its "succeed" (exited 0),
#: "failed" (exited 1) and "unknown" (state unknown: relaunch's LOST) containers, and upstream's
#: expected restart under Never, OnFailure and Always, in that order.
_SHOULD_BE_RESTARTED = {
    "succeed": (Outcome(0.0, 1.0, exit_code=0), (False, False, True)),
    "failed": (Outcome(0.0, 1.0, exit_code=1), (False, True, True)),
    "unknown": (Outcome(0.0, 1.0, cause=Cause.LOST), (True, True, True)),
}


@pytest.mark.parametrize(
    ("outcome", "restart_policy", "expected"),
    [
        pytest.param(outcome, policy, want, id=f"{name}-{policy}")
        for name, (outcome, wants) in _SHOULD_BE_RESTARTED.items()
        for policy, want in zip(("Never", "OnFailure", "Always"), wants, strict=True)
    ],
)
def test_kubelet_should_container_be_restarted(outcome: Outcome, restart_policy: str, expected: bool) -> None:
    """kubernetes/kubernetes pkg/kubelet/container/helpers_test.go TestShouldContainerBeRestarted: an unknown state restarts under every policy."""
    policy = presets.kubernetes(restart_policy)
    assert policy.decide(policy.start(0.0), outcome).restarts is expected


def test_kubelet_restart_rule_match_restarts_under_never() -> None:
    """kubernetes/kubernetes KEP-5307 e2e test "should restart container on rule match, container restart policy Never"."""
    policy = presets.kubernetes("Never", restart_policy_rules=[_RULE_42])
    decision = policy.decide(policy.start(0.0), Outcome(0.0, 1.0, exit_code=42))
    assert decision.restarts
    assert decision.rule is Rule.FORCED


def test_kubelet_restart_rule_mismatch_falls_back_to_never() -> None:
    """kubernetes/kubernetes KEP-5307 e2e test "should not restart container on rule mismatch, container restart policy Never"."""
    policy = presets.kubernetes("Never", restart_policy_rules=[_RULE_42])
    assert _first(policy, Outcome(0.0, 1.0, exit_code=1)) is Action.STOP


def test_kubelet_not_in_rule_restarts_every_other_code() -> None:
    """kubernetes/kubernetes findMatchingContainerRestartRule: a NotIn rule matches every code outside its values."""
    rule = {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0]}}
    policy = presets.kubernetes("Never", restart_policy_rules=[rule])
    assert _first(policy, Outcome(0.0, 1.0, exit_code=3)) is Action.RETRY
    assert _first(policy, Outcome(0.0, 1.0, exit_code=0)) is Action.STOP


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [1]}},
        {"action": "Restart", "exitCodes": {"values": [42]}},  # exitCodes.operator: required
        {"action": "Restart", "exitCodes": {"operator": "Maybe", "values": [42]}},
        {"exitCodes": {"operator": "In", "values": [42]}},  # action: required
    ],
)
def test_kubelet_restart_rules_are_validated_as_the_api_does(rule: dict[str, Any]) -> None:
    """kubernetes API validation of restartPolicyRules: only Restart, an In or NotIn operator, both fields required."""
    with pytest.raises(PolicyError, match="restart_policy_rules"):
        presets.kubernetes("Never", restart_policy_rules=[rule])


# -- systemd/systemd -------------------------------------------------------------------------------


def test_systemd_restart_defaults_to_no() -> None:
    """systemd.service(5): Restart= defaults to no."""
    assert presets.systemd().mode is Mode.NEVER


@pytest.mark.parametrize(
    ("restart", "restarted"),
    [("no", False), ("always", True), ("on-success", False), ("on-failure", True),
     ("on-abnormal", True), ("on-watchdog", True), ("on-abort", False)],
)  # fmt: skip
def test_systemd_watchdog_result_by_restart_mode(restart: str, restarted: bool) -> None:
    """systemd src/core/service.c service_shall_restart on SERVICE_FAILURE_WATCHDOG, mode by mode."""
    policy = presets.systemd(restart)
    assert (
        policy.decide(policy.start(0.0), Outcome(0.0, 5.0, signal=6, cause=Cause.UNHEALTHY)).restarts
        is restarted
    )


def test_systemd_randomized_delay_stays_within_its_width() -> None:
    """systemd.service(5) RestartRandomizedDelaySec=: the delay is RestartSec= plus at most the randomized span."""
    policy = presets.systemd("always", restart_sec=1.0, restart_randomized_delay_sec=5.0, start_limit_burst=0)
    delays = [d.delay for d in drive(policy, policy.start(0.0, seed=3), [Run(0.5, exit_code=1)] * 50)]
    assert all(1.0 <= delay < 6.0 for delay in delays)
    assert len(set(delays)) > 1
