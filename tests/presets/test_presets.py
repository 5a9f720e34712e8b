"""Each preset against the system it reproduces: crash-loop delays, give-up point, stable runs,
exit codes and signals, and OOM / LOST / START_FAILED.

Every expectation is derived from the source cited in the preset's docstring; the comment on
each test says which line of reasoning.
"""

from __future__ import annotations

import inspect
import signal
from typing import Any

import pytest

from relaunch import Action, Cause, Decision, Outcome, Policy, PolicyError, Rule, presets
from relaunch.readme_table import Run, crash_loop, replay

SIGHUP, SIGINT, SIGKILL, SIGPIPE = (
    int(signal.SIGHUP),
    int(signal.SIGINT),
    int(signal.SIGKILL),
    int(signal.SIGPIPE),
)
SIGSEGV, SIGTERM, SIGUSR1 = int(signal.SIGSEGV), int(signal.SIGTERM), int(signal.SIGUSR1)


def crash(duration: float = 0.5, code: int = 1) -> Run:
    return Run(duration, exit_code=code)


def killed(sig: int, duration: float = 0.5) -> Run:
    return Run(duration, signal=sig)


def oom(duration: float = 0.5) -> Run:
    # Docker and the kubelet report an OOM kill as exit 137 (128 + SIGKILL).
    return Run(duration, exit_code=137, cause=Cause.OOM)


def lost(duration: float = 0.5) -> Run:
    return Run(duration, cause=Cause.LOST)


def start_failed() -> Run:
    return Run(0.0, cause=Cause.START_FAILED)


def stopped(duration: float = 0.5) -> Run:
    return Run(duration, cause=Cause.STOPPED)


def delays(decisions: tuple[Decision, ...]) -> list[float]:
    return [d.delay for d in decisions if d.restarts]


def actions(decisions: tuple[Decision, ...]) -> list[Action]:
    return [d.action for d in decisions]


def first(policy: Policy, run: Run) -> Decision:
    """The decision on a single run after the first start."""
    return replay(policy, [run])[0]


# --- Docker --------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["on-failure", "always", "unless-stopped"])
def test_docker_crash_loop_doubles_from_100ms_to_60s_and_never_gives_up(policy: str) -> None:
    # restartmanager.go: timeout 0 -> 100 ms, then x2 while < 60 s, clamped to 60 s; max 0 = no limit.
    decisions = crash_loop(presets.docker(policy))
    assert delays(decisions)[:12] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0]
    assert len(decisions) == 1000
    assert all(d.action is Action.RETRY for d in decisions)


def test_docker_max_retries_allows_that_many_restarts() -> None:
    # ShouldRestart: on-failure restarts while restartCount < MaximumRetryCount, so N restarts, N + 1 runs.
    decisions = crash_loop(presets.docker("on-failure", max_retries=3))
    assert actions(decisions) == [Action.RETRY] * 3 + [Action.GIVE_UP]
    assert decisions[-1].rule is Rule.BUDGET_EXHAUSTED


def test_docker_stable_run_resets_the_delay_but_never_the_count() -> None:
    # ShouldRestart: executionDuration >= 10 s sets the timeout back to 0 (next wait 100 ms);
    # restartCount is only ever incremented, so the stable run's restart counts too.
    decisions = replay(
        presets.docker("on-failure", max_retries=4),
        [crash(), crash(), crash(10.0), crash(), crash(), crash()],
    )
    assert actions(decisions) == [Action.RETRY, Action.RETRY, Action.RESET, Action.RETRY, Action.GIVE_UP]
    assert delays(decisions) == [0.1, 0.2, 0.1, 0.2]


def test_docker_run_just_under_ten_seconds_is_not_stable() -> None:
    decisions = replay(presets.docker("on-failure"), [crash(), crash(9.999), crash()])
    assert delays(decisions) == [0.1, 0.2, 0.4]


def test_docker_exit_codes_and_signals() -> None:
    # on-failure restarts only exitCode != 0; Docker sees a signal death as 128 + signo, never 0.
    on_failure = presets.docker("on-failure")
    assert first(on_failure, crash(code=0)).rule is Rule.SUCCESS
    assert first(on_failure, crash(code=0)).action is Action.STOP
    assert first(on_failure, killed(SIGTERM)).action is Action.RETRY
    # always restarts exit 0 too; no restarts nothing.
    assert first(presets.docker("always"), crash(code=0)).action is Action.RETRY
    assert first(presets.docker("no"), crash()).action is Action.STOP
    assert first(presets.docker("always"), stopped()).action is Action.STOP


def test_docker_oom_start_failure_and_lost() -> None:
    # monitor.go: OOM is exit 137 like any other; a failed restart start is not retried.
    assert first(presets.docker("on-failure"), oom()).action is Action.RETRY
    assert first(presets.docker("on-failure"), start_failed()).action is Action.GIVE_UP
    # Restore at daemon start (daemon.go restore): ShouldRestart on a restart manager rebuilt with
    # the persisted RestartCount; if it says yes, containerStart(resetRestartManager=true): at
    # once, count 0, delay fresh.
    decisions = replay(
        presets.docker("on-failure", max_retries=2), [crash(), lost(), crash(), crash(), crash()]
    )
    assert actions(decisions) == [Action.RETRY, Action.RESET, Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert delays(decisions) == [0.1, 0.0, 0.1, 0.2]
    # Both retries spent: the restored container stays down (ShouldRestart: the persisted
    # RestartCount has reached MaximumRetryCount).
    spent = replay(presets.docker("on-failure", max_retries=1), [crash(), lost()])
    assert actions(spent) == [Action.RETRY, Action.GIVE_UP]
    assert spent[-1].rule is Rule.BUDGET_EXHAUSTED
    assert first(presets.docker("no"), lost()).action is Action.STOP


@pytest.mark.parametrize("policy", ["always", "unless-stopped", "no"])
def test_docker_rejects_max_retries_without_on_failure(policy: str) -> None:
    # hostconfig.go ValidateRestartPolicy: "maximum retry count can only be used with 'on-failure'".
    with pytest.raises(PolicyError, match=r"docker\.max_retries.*3"):
        presets.docker(policy, max_retries=3)


def test_docker_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"docker\.policy.*'sometimes'"):
        presets.docker("sometimes")
    with pytest.raises(PolicyError, match=r"docker\.max_retries.*-1"):
        presets.docker("on-failure", max_retries=-1)


# --- Kubernetes ----------------------------------------------------------------------------------


def test_kubernetes_crash_loop_and_never_gives_up() -> None:
    # doBackOff: no entry -> restart now; Next() then 10 s doubling, min(2 * backoff, 300 s).
    decisions = crash_loop(presets.kubernetes(), crashes=5000)
    assert delays(decisions)[:9] == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    # No counter limit anywhere in the kubelet: 5000 crashes, 5000 restarts.
    assert len(decisions) == 5000
    assert all(d.action is Action.RETRY for d in decisions)
    assert max(delays(decisions)) == 300.0


def test_kubernetes_reduced_backoff() -> None:
    # newCrashLoopBackOff with ReduceDefaultCrashLoopBackOffDecay: initial 1 s, max 60 s.
    decisions = crash_loop(presets.kubernetes_reduced(), crashes=2000)
    assert delays(decisions)[:9] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert all(d.action is Action.RETRY for d in decisions)


def test_kubernetes_reset_after_a_run_strictly_longer_than_600s() -> None:
    # HasExpiredFunc: eventTime - lastUpdate > 600 s (strict): the entry is recreated at initial
    # and the restart is immediate; a run of exactly 600 s keeps climbing the curve.
    kept = replay(presets.kubernetes(), [crash(), crash(), crash(600.0), crash()])
    assert delays(kept) == [0.0, 10.0, 20.0, 40.0]
    reset = replay(presets.kubernetes(), [crash(), crash(), crash(600.5), crash(), crash()])
    assert actions(reset)[2] is Action.RESET
    assert delays(reset) == [0.0, 10.0, 0.0, 10.0, 20.0]
    # The reduced curve keeps the kubelet's fixed 600 s, not 2 x 60 s.
    stability = presets.kubernetes_reduced().stability
    assert stability is not None
    assert stability.after == 600.0


def test_kubernetes_restart_policies() -> None:
    # ShouldContainerBeRestarted: a container in an unknown state (LOST) -> yes, whatever the
    # policy; then Never -> no; OnFailure and exit 0 -> no; otherwise yes, and doBackOff never
    # looks at the exit code, so Always backs off exit 0 like a crash.
    assert delays(replay(presets.kubernetes(), [crash(code=0)] * 3)) == [0.0, 10.0, 20.0]
    on_failure = presets.kubernetes("OnFailure")
    assert first(on_failure, crash(code=0)).action is Action.STOP
    assert first(on_failure, crash(code=1)).action is Action.RETRY
    assert first(on_failure, killed(SIGKILL)).action is Action.RETRY
    never = presets.kubernetes("Never")
    assert first(never, crash()).action is Action.STOP
    assert (first(never, lost()).action, first(never, lost()).delay) == (Action.RESET, 0.0)
    assert first(never, start_failed()).action is Action.GIVE_UP


def test_kubernetes_max_below_initial_lowers_initial() -> None:
    # newCrashLoopBackOff: with KubeletCrashLoopBackOffMax, if max < initial then initial = max.
    assert delays(crash_loop(presets.kubernetes(max=5.0), crashes=4)) == [0.0, 5.0, 5.0, 5.0]


def test_kubernetes_oom_start_failure_and_lost() -> None:
    # OOMKilled is exit 137 to the kubelet: a crash, same curve.
    assert delays(replay(presets.kubernetes(), [oom(), oom(), oom()])) == [0.0, 10.0, 20.0]
    # A StartError leaves an Exited record: backed off like a crash, and never a stable run.
    decisions = replay(
        presets.kubernetes(), [start_failed(), start_failed(), Run(700.0, cause=Cause.START_FAILED)]
    )
    assert delays(decisions) == [0.0, 10.0, 20.0]
    # A kubelet restart forgets the in-memory backoff: the restart is immediate, the next waits 10 s.
    decisions = replay(presets.kubernetes(), [crash(), crash(), crash(), lost(), crash(), crash()])
    assert delays(decisions) == [0.0, 10.0, 20.0, 0.0, 10.0, 20.0]
    assert decisions[3].rule is Rule.LOST


def test_kubernetes_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"kubernetes\.restart_policy.*'always'"):
        presets.kubernetes("always")
    with pytest.raises(PolicyError, match=r"kubernetes\.initial.*0"):
        presets.kubernetes(initial=0)
    with pytest.raises(PolicyError, match=r"kubernetes\.max.*-1"):
        presets.kubernetes(max=-1)
    with pytest.raises(PolicyError, match=r"kubernetes\.reset_after"):
        presets.kubernetes(reset_after=float("nan"))


# --- systemd -------------------------------------------------------------------------------------


def test_systemd_crash_loop_hits_the_start_limit() -> None:
    # ratelimit_below: 5 starts in the 10 s window opened by the first start at 0: restarts at 0.6,
    # 1.2, 1.8, 2.4; the restart due at 3.0 is refused: start-limit-hit after 5 runs.
    decisions = crash_loop(presets.systemd("on-failure"))
    assert delays(decisions) == [0.1, 0.1, 0.1, 0.1]
    assert decisions[-1].action is Action.GIVE_UP
    assert decisions[-1].rule is Rule.BUDGET_EXHAUSTED
    assert len(decisions) == 5


def test_systemd_start_limit_window_reopens_strictly_after_the_interval() -> None:
    # ratelimit_below opens a new window when now - begin > interval (strictly).
    tight = presets.systemd("on-failure", restart_sec=0.0, start_limit_burst=2, start_limit_interval_sec=10.0)
    assert actions(replay(tight, [crash(5.0), crash(5.0)])) == [Action.RETRY, Action.GIVE_UP]
    assert actions(replay(tight, [crash(5.0), crash(5.001), crash(0.5)])) == [Action.RETRY] * 3
    # Runs of 3 s: starts 0, 3.1, 6.2, 9.3 in one window, 12.4 opens the next: never refused.
    assert all(
        d.action is Action.RETRY for d in crash_loop(presets.systemd("on-failure"), run=3.0, crashes=200)
    )


@pytest.mark.parametrize("params", [{"start_limit_burst": 0}, {"start_limit_interval_sec": 0.0}])
def test_systemd_zero_interval_or_burst_disables_the_start_limit(params: dict[str, Any]) -> None:
    # ratelimit_below: "not configured" (interval 0 or burst 0) always allows.
    assert all(
        d.action is Action.RETRY for d in crash_loop(presets.systemd("on-failure", **params), crashes=300)
    )


def test_systemd_restart_steps_interpolate_and_never_reset() -> None:
    # service_restart_usec_next: RestartSec * (Max/RestartSec) ** ((n-1)/Steps) for n <= Steps, then Max;
    # n_restarts is flushed only by a start after a stop, so 100 s runs do not bring it back.
    policy = presets.systemd(
        "on-failure", restart_sec=1.0, restart_steps=5, restart_max_delay_sec=32.0, start_limit_burst=0
    )
    assert delays(crash_loop(policy, crashes=7)) == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0])
    assert delays(crash_loop(policy, run=100.0, crashes=7)) == pytest.approx([1, 2, 4, 8, 16, 32, 32])


def test_systemd_restart_sec_without_interpolation() -> None:
    # RestartSteps without RestartMaxDelaySec is ignored; Max below RestartSec lowers RestartSec.
    assert (
        delays(crash_loop(presets.systemd("on-failure", restart_sec=2.0, restart_steps=3), crashes=3))
        == [2.0] * 3
    )
    lowered = presets.systemd("on-failure", restart_sec=5.0, restart_max_delay_sec=2.0, restart_steps=3)
    assert delays(crash_loop(lowered, crashes=3)) == [2.0] * 3


@pytest.mark.parametrize(
    ("restart", "restarted"),
    [
        # service_shall_restart's switch on the result (clean exits and daemon signals are success).
        ("no", set()),
        ("always", {"exit 0", "SIGTERM", "exit 1", "SIGKILL", "oom"}),
        ("on-success", {"exit 0", "SIGTERM"}),
        ("on-failure", {"exit 1", "SIGKILL", "oom"}),
        ("on-abnormal", {"SIGKILL", "oom"}),
        ("on-abort", {"SIGKILL"}),
    ],
)
def test_systemd_restart_modes(restart: str, restarted: set[str]) -> None:
    runs = {
        "exit 0": crash(code=0),
        "SIGTERM": killed(SIGTERM),
        "exit 1": crash(code=1),
        "SIGKILL": killed(SIGKILL),
        "oom": Run(0.5, signal=SIGKILL, cause=Cause.OOM),
    }
    policy = presets.systemd(restart)
    assert {name for name, run in runs.items() if first(policy, run).restarts} == restarted


def test_systemd_clean_exits() -> None:
    # is_clean_exit, EXIT_CLEAN_DAEMON: code 0, SuccessExitStatus codes, SIGHUP/SIGINT/SIGTERM/SIGPIPE
    # and SuccessExitStatus signals are clean; on-failure leaves them down.
    policy = presets.systemd("on-failure", success_exit_status=(3, "SIGUSR1"))
    for run in (
        crash(code=0),
        crash(code=3),
        *(killed(s) for s in (SIGHUP, SIGINT, SIGTERM, SIGPIPE, SIGUSR1)),
    ):
        assert first(policy, run).rule is Rule.SUCCESS, run
    for run in (crash(code=1), crash(code=2), killed(SIGKILL), killed(SIGSEGV)):
        assert first(policy, run).action is Action.RETRY, run


def test_systemd_prevent_beats_force_beats_mode() -> None:
    # service_shall_restart: RestartPreventExitStatus first, then RestartForceExitStatus, then Restart=.
    both = presets.systemd(
        "on-failure", restart_prevent_exit_status=(1, "SIGKILL"), restart_force_exit_status=(1, "SIGKILL")
    )
    assert first(both, crash(code=1)).rule is Rule.PREVENTED
    assert first(both, killed(SIGKILL)).rule is Rule.PREVENTED
    forced = presets.systemd("no", restart_force_exit_status=(3,))
    assert first(forced, crash(code=3)).rule is Rule.FORCED
    # A clean exit (SuccessExitStatus=3) that is also forced restarts even under on-failure.
    clean_forced = presets.systemd("on-failure", success_exit_status=(3,), restart_force_exit_status=(3,))
    assert first(clean_forced, crash(code=3)).action is Action.RETRY


def test_systemd_oom_start_failure_and_lost() -> None:
    # OOMPolicy=stop: result oom-kill; on-abnormal restarts it, on-abort does not.
    assert first(presets.systemd("on-abnormal"), oom()).action is Action.RETRY
    assert first(presets.systemd("on-abort"), oom()).action is Action.STOP
    # An exec failure is exit 203: on-failure retries it under the start limit, on-abnormal does not.
    decisions = replay(presets.systemd("on-failure"), [start_failed()] * 6)
    assert actions(decisions) == [Action.RETRY] * 4 + [Action.GIVE_UP]
    assert first(presets.systemd("on-abnormal"), start_failed()).action is Action.GIVE_UP
    # A reboot: fresh counters and a fresh window in which the boot start counts, so 4 more restarts.
    decisions = replay(presets.systemd("on-failure"), [crash()] * 3 + [lost()] + [crash()] * 6)
    assert actions(decisions) == [Action.RETRY] * 3 + [Action.RESET] + [Action.RETRY] * 4 + [Action.GIVE_UP]
    assert first(presets.systemd("no"), lost()).action is Action.STOP


def test_systemd_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"systemd\.restart.*'on-watchdog'"):
        presets.systemd("on-reboot")
    with pytest.raises(PolicyError, match=r"systemd\.success_exit_status.*'TERM'"):
        presets.systemd("on-failure", success_exit_status=("TERM",))
    with pytest.raises(PolicyError, match=r"systemd\.restart_force_exit_status.*256"):
        presets.systemd("on-failure", restart_force_exit_status=(256,))
    with pytest.raises(PolicyError, match=r"systemd\.restart_steps.*-1"):
        presets.systemd("on-failure", restart_steps=-1)
    with pytest.raises(PolicyError, match=r"systemd\.restart_sec"):
        presets.systemd("on-failure", restart_sec=float("inf"))


# --- supervisord ---------------------------------------------------------------------------------


def test_supervisord_crash_loop_backs_off_1_2_3_then_fatal() -> None:
    # change_state(BACKOFF): backoff += 1, wait backoff seconds; transition(): backoff > startretries
    # -> give_up() (FATAL): startretries=3 is 4 starts.
    decisions = crash_loop(presets.supervisord())
    assert delays(decisions) == [1.0, 2.0, 3.0]
    assert actions(decisions)[-1] is Action.GIVE_UP
    assert len(decisions) == 4
    assert actions(crash_loop(presets.supervisord(startretries=0))) == [Action.GIVE_UP]


def test_supervisord_failed_start_whatever_the_exit() -> None:
    # finish(): a too-quick exit goes to BACKOFF whatever its code and whatever autorestart says.
    assert first(presets.supervisord(), crash(code=0)).action is Action.RETRY
    assert first(presets.supervisord(autorestart="false"), crash(code=0)).action is Action.RETRY
    assert first(presets.supervisord(), crash(code=0)).rule is Rule.FORCED


def test_supervisord_run_of_exactly_startsecs_reached_running() -> None:
    # finish(): too_quickly = now - laststart < startsecs (strict): exactly startsecs reached RUNNING,
    # so an expected exit is left down and an unexpected one restarts at once.
    assert first(presets.supervisord(), crash(1.0, code=0)).action is Action.STOP
    reached = first(presets.supervisord(), crash(1.0, code=1))
    assert (reached.action, reached.delay) == (Action.RESET, 0.0)
    assert first(presets.supervisord(), crash(0.999, code=0)).action is Action.RETRY


def test_supervisord_stable_run_resets_everything_and_restarts_without_limit() -> None:
    # finish() after RUNNING: delay = 0, backoff = 0; transition(EXITED) spawns at once, no limit.
    decisions = replay(presets.supervisord(), [crash(), crash(), crash(5.0)] + [crash()] * 4)
    assert delays(decisions) == [1.0, 2.0, 0.0, 1.0, 2.0, 3.0]
    assert actions(decisions)[-1] is Action.GIVE_UP
    decisions = crash_loop(presets.supervisord(), run=2.0, crashes=100)
    assert all(d.action is Action.RESET and d.delay == 0.0 for d in decisions)


def test_supervisord_autorestart_and_exitcodes_after_running() -> None:
    # transition(EXITED): true restarts; unexpected restarts unless exitstatus in exitcodes;
    # a signal is decoded as -1 (decode_wait_status), never expected; false restarts nothing.
    assert first(presets.supervisord(autorestart="true"), crash(5.0, code=0)).action is Action.RESET
    assert first(presets.supervisord(), crash(5.0, code=2)).action is Action.RESET
    assert first(presets.supervisord(exitcodes=(0, 2)), crash(5.0, code=2)).action is Action.STOP
    assert first(presets.supervisord(exitcodes=(0, 2)), killed(SIGTERM, 5.0)).action is Action.RESET
    assert first(presets.supervisord(autorestart="false"), crash(5.0)).action is Action.STOP


def test_supervisord_oom_start_failure_and_lost() -> None:
    assert first(presets.supervisord(), oom(5.0)).action is Action.RESET
    # spawn() errors go straight to BACKOFF: a failed start, same counter.
    decisions = replay(presets.supervisord(), [crash(), start_failed(), crash(), start_failed()])
    assert actions(decisions) == [Action.RETRY] * 3 + [Action.GIVE_UP]
    assert first(presets.supervisord(autorestart="false"), start_failed()).action is Action.RETRY
    # supervisord itself went away: autostart starts the program afresh.
    decisions = replay(presets.supervisord(), [crash(), crash(), lost()] + [crash()] * 4)
    assert delays(decisions) == [1.0, 2.0, 0.0, 1.0, 2.0, 3.0]
    assert first(presets.supervisord(autorestart="false"), lost()).action is Action.STOP


def test_supervisord_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"supervisord\.autorestart.*True"):
        presets.supervisord(autorestart=True)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=r"supervisord\.exitcodes.*256"):
        presets.supervisord(exitcodes=(0, 256))
    with pytest.raises(PolicyError, match=r"supervisord\.startsecs.*-1"):
        presets.supervisord(startsecs=-1)
    with pytest.raises(PolicyError, match=r"supervisord\.startretries.*1.5"):
        presets.supervisord(startretries=1.5)  # type: ignore[arg-type]


# --- Erlang/OTP and Elixir -----------------------------------------------------------------------


def test_otp_crash_loop_shuts_down_at_the_second_restart() -> None:
    # add_restart: intensity 1, period 5; the second restart within 5 s makes 2 > 1: shutdown.
    decisions = crash_loop(presets.otp())
    assert delays(decisions) == [0.0]
    assert actions(decisions) == [Action.RETRY, Action.GIVE_UP]


def test_elixir_crash_loop_gives_up_at_the_fourth_restart() -> None:
    # Supervisor.init/2: max_restarts 3, max_seconds 5.
    decisions = crash_loop(presets.elixir())
    assert delays(decisions) == [0.0, 0.0, 0.0]
    assert actions(decisions)[-1] is Action.GIVE_UP


def test_otp_window_is_inclusive() -> None:
    # add_restart keeps restarts with R >= Now - Period: one exactly `period` old still counts.
    assert actions(replay(presets.otp(), [crash(), crash(5.0)])) == [Action.RETRY, Action.GIVE_UP]
    assert actions(replay(presets.otp(), [crash(), crash(5.001)])) == [Action.RETRY, Action.RETRY]
    assert all(d.action is Action.RETRY for d in crash_loop(presets.otp(), run=6.0, crashes=100))
    assert actions(crash_loop(presets.otp(intensity=0))) == [Action.GIVE_UP]


def test_otp_restart_types() -> None:
    # do_restart: permanent always; transient not after normal; temporary never.
    assert first(presets.otp(), crash(code=0)).action is Action.RETRY
    transient = presets.otp(restart="transient")
    assert first(transient, crash(code=0)).action is Action.STOP
    assert first(transient, crash(code=1)).action is Action.RETRY
    assert first(transient, killed(SIGKILL)).action is Action.RETRY
    temporary = presets.elixir(restart="temporary")
    assert first(temporary, crash()).action is Action.STOP
    assert first(temporary, start_failed()).action is Action.GIVE_UP


def test_otp_oom_start_failure_and_lost() -> None:
    assert first(presets.otp(), oom()).action is Action.RETRY
    # try_again_restart: a failed restart is retried at once and counts against the intensity.
    assert actions(replay(presets.otp(), [start_failed()] * 3)) == [Action.RETRY, Action.GIVE_UP]
    # The node went down: the tree comes back with no restart history.
    decisions = replay(presets.otp(), [crash(), lost(), crash(), crash()])
    assert actions(decisions) == [Action.RETRY, Action.RESET, Action.RETRY, Action.GIVE_UP]


def test_otp_and_elixir_reject_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"otp\.period.*0"):
        presets.otp(period=0)
    with pytest.raises(PolicyError, match=r"otp\.intensity.*-1"):
        presets.otp(intensity=-1)
    with pytest.raises(PolicyError, match=r"otp\.restart.*'always'"):
        presets.otp(restart="always")
    with pytest.raises(PolicyError, match=r"elixir\.max_seconds.*-5"):
        presets.elixir(max_seconds=-5)
    with pytest.raises(PolicyError, match=r"elixir\.max_restarts"):
        presets.elixir(max_restarts="3")  # type: ignore[arg-type]


# --- PM2 -----------------------------------------------------------------------------------------


def test_pm2_crash_loop_errors_at_the_16th_unstable_exit() -> None:
    # handleExit: each exit < min_uptime within min_uptime * max_restarts = 16 s of creation counts;
    # unstable_restarts >= max_restarts -> errored. 16 runs, 15 restarts, no delay.
    decisions = crash_loop(presets.pm2())
    assert delays(decisions) == [0.0] * 15
    assert actions(decisions)[-1] is Action.GIVE_UP
    assert decisions[-1].outcome.ended_at == 8.0


def test_pm2_counts_unstable_restarts_only_within_the_horizon() -> None:
    # 1.5 s per cycle: exits at 0.5, 2.0 ... only those before 16 s (11) are counted: never errored.
    assert all(d.restarts for d in crash_loop(presets.pm2(restart_delay=1.0), crashes=300))


def test_pm2_min_uptime_is_strict() -> None:
    # now - pm_uptime < min_uptime: a run of exactly min_uptime is not unstable.
    assert all(d.restarts for d in crash_loop(presets.pm2(max_restarts=2), run=1.0, crashes=50))
    assert actions(crash_loop(presets.pm2(max_restarts=2), run=0.999)) == [Action.RETRY, Action.GIVE_UP]


def test_pm2_a_long_run_resets_nothing() -> None:
    # Nothing but overlimit or a manual restart clears unstable_restarts.
    policy = presets.pm2(min_uptime=10.0, max_restarts=3)
    decisions = replay(policy, [crash(), crash(20.0), crash(), crash()])
    assert actions(decisions) == [Action.RETRY, Action.RETRY, Action.RETRY, Action.GIVE_UP]


def test_pm2_exponential_backoff_on_the_millisecond_grid_never_errors() -> None:
    # handleExit: base, then Math.floor(Math.min(15000, prev * 1.5)) ms. The growing waits carry
    # the 11th exit past the 16 s horizon, so only 10 exits are unstable: never errored.
    decisions = crash_loop(presets.pm2(exp_backoff_restart_delay=0.1))
    assert delays(decisions)[:15] == [
        0.1, 0.15, 0.225, 0.337, 0.505, 0.757, 1.135, 1.702, 2.553, 3.829, 5.743, 8.614, 12.921, 15.0, 15.0,
    ]  # fmt: skip
    assert all(d.restarts for d in decisions)


def test_pm2_exponential_backoff_resets_after_more_than_30s() -> None:
    # Worker.js: now - pm_uptime > 30000 ms resets prev_restart_delay (modelled at the exit).
    policy = presets.pm2(exp_backoff_restart_delay=0.1)
    assert delays(replay(policy, [crash(), crash(), crash(30.0)])) == [0.1, 0.15, 0.225]
    decisions = replay(policy, [crash(), crash(), crash(30.5), crash()])
    assert delays(decisions) == [0.1, 0.15, 0.1, 0.15]
    assert decisions[2].action is Action.RESET


def test_pm2_exit_codes_and_signals() -> None:
    # Exit 0 is not special; stop_exit_codes stop; handleExit(code || 0) makes a signal death exit 0.
    assert first(presets.pm2(), crash(code=0)).action is Action.RETRY
    stop_zero = presets.pm2(stop_exit_codes=(0,))
    assert first(stop_zero, crash(code=0)).rule is Rule.PREVENTED
    assert first(stop_zero, killed(SIGKILL)).rule is Rule.PREVENTED
    assert first(stop_zero, crash(code=1)).action is Action.RETRY
    stop_three = presets.pm2(stop_exit_codes=(3,))
    assert first(stop_three, crash(code=3)).action is Action.STOP
    assert first(stop_three, killed(SIGKILL)).action is Action.RETRY
    off = presets.pm2(autorestart=False)
    assert first(off, crash()).action is Action.STOP
    assert first(off, start_failed()).action is Action.GIVE_UP
    assert first(off, lost()).action is Action.STOP


def test_pm2_oom_start_failure_and_lost() -> None:
    assert first(presets.pm2(), Run(0.5, signal=SIGKILL, cause=Cause.OOM)).action is Action.RETRY
    # A spawn error reaches handleExit as exit 1 at once: an unstable restart.
    assert actions(replay(presets.pm2(max_restarts=2), [start_failed()] * 3)) == [
        Action.RETRY,
        Action.GIVE_UP,
    ]
    # pm2 resurrect re-creates the app: counters at 0, a new creation time.
    decisions = replay(presets.pm2(max_restarts=3), [crash(), crash(), lost(), crash(), crash(), crash()])
    assert actions(decisions) == [
        Action.RETRY,
        Action.RETRY,
        Action.RESET,
        Action.RETRY,
        Action.RETRY,
        Action.GIVE_UP,
    ]


def test_pm2_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"pm2\.autorestart.*'yes'"):
        presets.pm2(autorestart="yes")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=r"pm2\.stop_exit_codes.*300"):
        presets.pm2(stop_exit_codes=(300,))
    with pytest.raises(PolicyError, match=r"pm2\.exp_backoff_restart_delay.*-1"):
        presets.pm2(exp_backoff_restart_delay=-1)
    with pytest.raises(PolicyError, match=r"pm2\.max_restarts"):
        presets.pm2(max_restarts=-2)


# --- Nomad ---------------------------------------------------------------------------------------


def test_nomad_service_crash_loop_fails_at_the_third_failure() -> None:
    # GetState: count++ per failure; count > attempts (2) with mode fail -> TaskNotRestarting;
    # otherwise restart after jitter(): delay + [0, 25 %) of delay.
    decisions = crash_loop(presets.nomad())
    assert actions(decisions) == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert all(15.0 <= d < 18.75 for d in delays(decisions))


def test_nomad_batch_does_not_restart_success_and_service_counts_it() -> None:
    # NewRestartTracker: onSuccess false for batch: a successful exit is TaskTerminated.
    batch = presets.nomad(attempts=3, job_type="batch")
    assert first(batch, crash(code=0)).rule is Rule.SUCCESS
    assert actions(crash_loop(batch)) == [Action.RETRY] * 3 + [Action.GIVE_UP]
    assert first(batch, killed(SIGTERM)).action is Action.RETRY
    # Service: restarted, and counted like a failure (count++ comes before the success check).
    assert actions(replay(presets.nomad(), [crash(code=0)] * 3)) == [
        Action.RETRY,
        Action.RETRY,
        Action.GIVE_UP,
    ]


def test_nomad_window_tumbles_at_the_first_failure_after_it_expired() -> None:
    # GetState: now.After(startTime + Interval) -> count = 0, startTime = now (this failure).
    policy = presets.nomad(attempts=1, interval=100.0, delay=1.0)
    state = policy.start(at=0.0)
    d1 = policy.decide(state, _outcome(0.0, 0.5))
    assert d1.action is Action.RETRY
    restart = 0.5 + d1.delay
    # Exactly at the window's end is not after it: the second failure in the window fails the task.
    assert policy.decide(d1.state, _outcome(restart, 100.0)).action is Action.GIVE_UP
    later = policy.decide(d1.state, _outcome(restart, 100.001))
    assert later.action is Action.RETRY
    # The window reopened at 100.001, so a quick third failure is the second in it.
    assert (
        policy.decide(later.state, _outcome(101.5 + later.delay, 102.0 + later.delay)).action
        is Action.GIVE_UP
    )


def test_nomad_delay_mode_waits_for_the_window_end_without_jitter() -> None:
    # GetState: mode delay -> TaskRestarting after getDelay() = end - now; the next failure after
    # the end reopens the window with a fresh count.
    decisions = crash_loop(presets.nomad(mode="delay"), crashes=6)
    assert [d.rule for d in decisions] == [Rule.BACKOFF, Rule.BACKOFF, Rule.BUDGET_WAIT] * 2
    waited = decisions[2]
    assert waited.outcome.ended_at + waited.delay == 1800.0
    assert all(d.action is Action.RETRY for d in decisions)
    # attempts = 0: no restarts at all (mode "delay" with 0 attempts is rejected, see below).
    assert actions(crash_loop(presets.nomad(attempts=0, mode="fail"))) == [Action.GIVE_UP]


def test_nomad_jitter_is_reproducible_from_the_seed() -> None:
    policy = presets.nomad(attempts=100)
    one = delays(crash_loop(policy, crashes=50, seed=1))
    assert one == delays(crash_loop(policy, crashes=50, seed=1))
    assert one != delays(crash_loop(policy, crashes=50, seed=2))
    assert all(15.0 <= d < 18.75 for d in one)


def test_nomad_oom_start_failure_and_lost() -> None:
    # OOM is an unsuccessful exit; a recoverable start error counts like a failure.
    assert actions(replay(presets.nomad(), [oom(), start_failed(), crash()])) == [
        Action.RETRY,
        Action.RETRY,
        Action.GIVE_UP,
    ]
    # LOST: restarted after the usual delay without being counted.
    decisions = replay(presets.nomad(), [crash(), lost(), lost(), crash(), crash()])
    assert actions(decisions) == [Action.RETRY] * 4 + [Action.GIVE_UP]
    assert all(15.0 <= d < 18.75 for d in delays(decisions))


def test_nomad_rejects_bad_parameters() -> None:
    with pytest.raises(PolicyError, match=r"nomad\.mode.*'restart'"):
        presets.nomad(mode="restart")
    with pytest.raises(PolicyError, match=r"nomad\.job_type.*'web'"):
        presets.nomad(job_type="web")
    with pytest.raises(PolicyError, match=r"nomad\.interval.*0"):
        presets.nomad(interval=0)
    with pytest.raises(PolicyError, match=r"nomad\.attempts.*-1"):
        presets.nomad(attempts=-1)


def _outcome(started: float, ended: float, code: int = 1) -> Outcome:
    return Outcome(started_at=started, ended_at=ended, exit_code=code)


# --- names() and get() ---------------------------------------------------------------------------

SYSTEM_PRESETS = (
    "docker",
    "elixir",
    "kubernetes",
    "kubernetes_reduced",
    "nomad",
    "otp",
    "pm2",
    "supervisord",
    "systemd",
)


def test_names_lists_every_preset_sorted() -> None:
    assert set(SYSTEM_PRESETS) | {"toolhive", "toolhive_legacy", "recommended"} == set(presets.names())
    assert list(presets.names()) == sorted(presets.names())


@pytest.mark.parametrize("name", presets.names())
def test_get_builds_the_preset_by_name(name: str) -> None:
    policy = presets.get(name)
    assert policy == getattr(presets, name)()
    assert policy.name == name


def test_get_passes_parameters() -> None:
    assert presets.get("docker", policy="on-failure", max_retries=2) == presets.docker(
        "on-failure", max_retries=2
    )
    assert presets.get("nomad", mode="delay", job_type="batch") == presets.nomad(
        mode="delay", job_type="batch"
    )


def test_get_rejects_unknown_names_and_parameters() -> None:
    with pytest.raises(PolicyError, match=r"unknown preset 'dockr'.*docker, elixir, kubernetes"):
        presets.get("dockr")
    with pytest.raises(
        PolicyError, match=r"docker\.retries: no such parameter \(allowed: policy, max_retries\)"
    ):
        presets.get("docker", retries=2)
    with pytest.raises(
        PolicyError, match=r"kubernetes_reduced\.initial: no such parameter \(allowed: none\)"
    ):
        presets.get("kubernetes_reduced", initial=1.0)
    # Parameters are still validated by the preset itself.
    with pytest.raises(PolicyError, match=r"docker\.max_retries"):
        presets.get("docker", policy="always", max_retries=1)


@pytest.mark.parametrize("name", SYSTEM_PRESETS)
def test_every_system_preset_documents_its_source_deviations_and_causes(name: str) -> None:
    doc = getattr(presets, name).__doc__
    assert doc is not None
    assert "Source" in doc
    if name not in ("elixir", "kubernetes_reduced"):  # these two point at otp() and kubernetes()
        assert "Deviation" in doc
        for cause in ("OOM", "LOST", "START_FAILED"):
            assert f"**{cause}**" in doc, cause


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_restarts_nothing_after_an_operator_stop(name: str) -> None:
    assert first(presets.get(name), stopped()).rule is Rule.OPERATOR_STOP


#: Every preset's keywords: names, order and defaults. Policy files and `--set` name them, so a
#: change here is a change for their users. The defaults are each system's own: Docker and
#: systemd restart nothing unconfigured, Nomad's depend on the job type.
SIGNATURES = {
    "docker": "(policy='no', max_retries=0)",
    "kubernetes": (
        "(restart_policy='Always', initial=10.0, max=300.0, reset_after=600.0, restart_policy_rules=())"
    ),
    "kubernetes_reduced": "()",
    "systemd": (
        "(restart='no', restart_sec=0.1, restart_steps=0, restart_max_delay_sec=None, "
        "restart_randomized_delay_sec=0.0, start_limit_interval_sec=10.0, start_limit_burst=5, success_exit_status=(), "
        "restart_prevent_exit_status=(), restart_force_exit_status=())"
    ),
    "supervisord": "(startsecs=1.0, startretries=3, autorestart='unexpected', exitcodes=(0,))",
    "otp": "(intensity=1, period=5.0, restart='permanent')",
    "elixir": "(max_restarts=3, max_seconds=5.0, restart='permanent')",
    "pm2": (
        "(autorestart=True, min_uptime=1.0, max_restarts=16, restart_delay=0.0, "
        "exp_backoff_restart_delay=None, stop_exit_codes=())"
    ),
    "nomad": "(attempts=None, interval=None, delay=None, mode='fail', job_type='service')",
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signatures_keep_their_names_order_and_defaults(name: str) -> None:
    parameters = inspect.signature(getattr(presets, name)).parameters.values()
    shown = ", ".join(f"{p.name}={p.default!r}" for p in parameters)
    assert f"({shown})" == SIGNATURES[name]
