"""The process adapter against real child processes (no mocks): exits, signals, stops, persistence.

Every test ends with every process group it started gone: the harness stops what still runs,
closes its supervisors and checks each group with ``os.killpg(pgid, 0)``. Delays are short
(0.05 to 0.5 s) and each test waits on real time with a deadline, never a bare sleep.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from relaunch import (
    Action,
    Cause,
    Constant,
    CountBudget,
    Mode,
    Policy,
    Rule,
    Stability,
    presets,
)
from relaunch.adapters.process import ProcessRuntime, ProcessSpec, run_foreground
from relaunch.adapters.store import StoreError, read_store
from relaunch.adapters.supervisor import DecisionEvent, Phase, Supervisor

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
DONE = (Phase.STOPPED, Phase.GIVEN_UP)


def wait_for(predicate: Callable[[], T], timeout: float = 5.0) -> T:
    """Poll ``predicate`` (real time) until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s")
        time.sleep(0.01)
    return value


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def assert_group_gone(pgid: int, timeout: float = 5.0) -> None:
    """No process of group ``pgid`` is left running.

    ``os.killpg(pgid, 0)`` raising ProcessLookupError is the proof for groups whose processes we
    reap. An orphan (a leftover of a killed leader, or a process adopted from a killed supervisor)
    is reaped by init, which this machine's init does late, so a group of zombies only also counts.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if not live_members(pgid):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"process group {pgid} still has live members {live_members(pgid)}")
        time.sleep(0.02)


def pid_of(run: str) -> int:
    """The pid in a run key ``<boot>/<pid>@<ticks>``."""
    return int(run.split("/")[1].split("@")[0])


def policy(restarts: int = 3, delay: float = 0.05, **kwargs: Any) -> Policy:
    return Policy(backoff=Constant(delay), budget=CountBudget(restarts), **kwargs)


def sh(script: str) -> ProcessSpec:
    return ProcessSpec(["sh", "-c", script])


class Harness:
    """Supervisors on one state file; on teardown, stops every workload and checks every group."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.state = str(tmp_path / "state.db")
        self.events: list[DecisionEvent] = []
        self.open: list[Supervisor] = []
        self.pgids: set[int] = set()

    def supervisor(self, stop_grace: float = 0.3) -> tuple[Supervisor, ProcessRuntime]:
        runtime = ProcessRuntime(stop_grace=stop_grace)
        sup = Supervisor(runtime, self.state, on_decision=self.record)
        self.open.append(sup)
        return sup, runtime

    def record(self, event: DecisionEvent) -> None:
        self.events.append(event)
        if event.run is not None:
            self.pgids.add(pid_of(event.run))

    def close(self, sup: Supervisor) -> None:
        """Close ``sup`` and leave its processes running (as a supervisor restart does)."""
        sup.close()
        self.open.remove(sup)

    def decisions(self, name: str) -> list[DecisionEvent]:
        return [e for e in self.events if e.name == name]

    def wait_decisions(self, name: str, count: int, timeout: float = 5.0) -> list[DecisionEvent]:
        return wait_for(lambda: len(self.decisions(name)) >= count and self.decisions(name), timeout)

    def teardown(self) -> None:
        for sup in list(self.open):
            for name in sup.names():
                if sup.status(name).phase not in DONE:
                    sup.stop(name)
                wait_for(lambda sup=sup, name=name: sup.status(name).phase in DONE)
            self.close(sup)
        for pgid in self.pgids:
            assert_group_gone(pgid)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path)
    yield made
    made.teardown()


def starts(marker: Path) -> int:
    """How many runs a command that appends a line to ``marker`` at each start has begun."""
    return len(marker.read_text().splitlines()) if marker.exists() else 0


# -- how runs end ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "action", "rule"),
    [
        ("exit 3", Action.RETRY, Rule.BACKOFF),
        ("exit 0", Action.STOP, Rule.SUCCESS),
    ],
)
def test_exit_code_gives_the_decision_the_policy_says(
    harness: Harness, script: str, action: Action, rule: Rule
) -> None:
    """Under on-failure, exit 3 is retried and exit 0 is a clean end, with the code in the Outcome."""
    sup, _ = harness.supervisor()
    sup.add("w", sh(script), policy(mode=Mode.ON_FAILURE))
    first = harness.wait_decisions("w", 1)[0]
    assert first.outcome.cause is Cause.EXITED
    assert first.outcome.exit_code == int(script.split()[1])
    assert first.outcome.signal is None
    assert (first.decision.action, first.decision.rule) == (action, rule)


def test_death_by_signal_is_reported_as_the_signal(harness: Harness) -> None:
    """A process that kills itself with SIGSEGV ends with signal 11 and no exit code."""
    sup, _ = harness.supervisor()
    sup.add("w", sh("kill -SEGV $$"), policy(0))
    event = harness.wait_decisions("w", 1)[0]
    assert (event.outcome.exit_code, event.outcome.signal) == (None, signal.SIGSEGV)
    assert event.decision.action is Action.GIVE_UP


@pytest.mark.parametrize("kind", ["missing", "not-executable"])
def test_command_that_cannot_be_executed_is_start_failed(harness: Harness, tmp_path: Path, kind: str) -> None:
    """A missing executable or a file without execute permission is START_FAILED; nothing runs."""
    path = tmp_path / "tool"
    if kind == "not-executable":
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o644)  # execve refuses a file with no execute bit, even to root
    sup, runtime = harness.supervisor()
    sup.add("w", ProcessSpec([str(path)]), policy(1))
    events = harness.wait_decisions("w", 2)
    assert [e.outcome.cause for e in events] == [Cause.START_FAILED, Cause.START_FAILED]
    assert [e.decision.action for e in events] == [Action.RETRY, Action.GIVE_UP]
    assert all(e.run is None for e in events)
    assert runtime.process("w") is None


def test_leftovers_of_a_run_are_killed_with_its_leader(harness: Harness, tmp_path: Path) -> None:
    """When a run's leader exits, what it left in its process group is killed too."""
    child = tmp_path / "child.pid"
    sup, _ = harness.supervisor()
    sup.add("w", sh(f"sleep 30 & echo $! > {child}; exit 3"), policy(0))
    event = harness.wait_decisions("w", 1)[0]
    assert event.outcome.exit_code == 3
    leftover = int(child.read_text())
    wait_for(lambda: leftover not in live_members(pid_of(event.run or "")), timeout=2.0)
    assert_group_gone(pid_of(event.run or ""))


def test_a_run_leads_a_session_and_a_group_of_its_own_with_the_marks(
    harness: Harness, tmp_path: Path
) -> None:
    """Each run is spawned as the leader of a new session and process group (pgid = sid = pid),
    with the supervisor's environment, the spec's over it and the two marks."""
    seen = tmp_path / "seen"
    sup, _ = harness.supervisor()
    script = f'ps -o pid=,pgid=,sid= -p $$ > {seen}; echo "$RELAUNCH_WORKLOAD $EXTRA" >> {seen}; exit 3'
    sup.add("w", ProcessSpec(["sh", "-c", script], env={"EXTRA": "x y"}), policy(0))
    event = harness.wait_decisions("w", 1)[0]
    ids, marks = seen.read_text().splitlines()
    pid, pgid, sid = map(int, ids.split())
    assert pid == pgid == sid == pid_of(event.run or "")
    assert marks == "w x y"


def test_a_run_starts_with_sigpipe_and_sigxfsz_at_their_defaults(harness: Harness, tmp_path: Path) -> None:
    """Python ignores SIGPIPE (and SIGXFSZ) and a spawned child inherits ignored signals: a run
    must not (``yes | head`` would spin on EPIPE), so the runtime resets both, as ``subprocess``
    does with ``restore_signals``."""
    status = tmp_path / "status"
    sup, _ = harness.supervisor()
    sup.add("w", sh(f"cat /proc/self/status > {status}; exit 3"), policy(0))
    harness.wait_decisions("w", 1)
    ignored = int(
        next(line for line in status.read_text().splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # as Python set it up, for this test too
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


# -- the kernel's decisions carried out ----------------------------------------------------------


def test_tight_crash_loop_gives_up_after_exactly_n_restarts(harness: Harness, tmp_path: Path) -> None:
    """With a budget of 3 restarts, a command that always fails runs 4 times, then is given up."""
    marker = tmp_path / "starts"
    sup, runtime = harness.supervisor()
    sup.add("w", sh(f"echo run >> {marker}; exit 3"), policy(3))
    events = harness.wait_decisions("w", 4)
    assert [e.decision.action for e in events] == [Action.RETRY] * 3 + [Action.GIVE_UP]
    assert len({e.run for e in events}) == 4  # four distinct runs, each decided once
    status = sup.status("w")
    assert (status.phase, status.rule, status.restarts) == (Phase.GIVEN_UP, Rule.BUDGET_EXHAUSTED, 3)
    time.sleep(0.2)  # four backoff delays: nothing else may start
    assert starts(marker) == 4
    assert len(harness.decisions("w")) == 4
    assert runtime.process("w") is None


def test_stable_runs_reset_and_are_never_given_up(harness: Harness) -> None:
    """Runs longer than the stability threshold reset the budget: a budget of 1 is never spent."""
    stable = policy(1, stability=Stability(after=0.2, restart_delay=0.05))
    sup, _ = harness.supervisor()
    sup.add("w", sh("sleep 0.3; exit 1"), stable)
    events = harness.wait_decisions("w", 3)
    assert [e.decision.action for e in events[:3]] == [Action.RESET] * 3
    assert [e.decision.rule for e in events[:3]] == [Rule.STABLE_RESET] * 3
    assert all(e.outcome.duration >= 0.2 for e in events[:3])
    assert sup.status("w").phase is not Phase.GIVEN_UP


def test_stop_of_a_running_process_sends_sigterm_to_its_group(harness: Harness) -> None:
    """A stop through the supervisor ends the group with SIGTERM; the run is STOPPED, not restarted."""
    sup, runtime = harness.supervisor(stop_grace=5.0)
    sup.add("w", sh("sleep 30 & wait"), policy())
    info = wait_for(lambda: runtime.process("w"))
    began = time.monotonic()
    sup.stop("w")
    event = harness.wait_decisions("w", 1)[0]
    assert time.monotonic() - began < 2.0  # SIGTERM, not the 5 s grace
    assert (event.outcome.cause, event.outcome.signal) == (Cause.STOPPED, signal.SIGTERM)
    assert (event.decision.action, event.decision.rule) == (Action.STOP, Rule.OPERATOR_STOP)
    assert sup.status("w").phase is Phase.STOPPED
    assert_group_gone(info.pid)


def test_stop_escalates_to_sigkill_after_the_grace(harness: Harness) -> None:
    """A group that ignores SIGTERM gets SIGKILL once the stop grace has passed."""
    sup, runtime = harness.supervisor(stop_grace=0.3)
    sup.add("w", sh("trap '' TERM; sleep 30 & wait"), policy())
    info = wait_for(lambda: runtime.process("w"))
    time.sleep(0.1)  # let the shell install its trap before the stop
    began = time.monotonic()
    sup.stop("w")
    event = harness.wait_decisions("w", 1)[0]
    assert 0.3 <= time.monotonic() - began < 2.0
    assert (event.outcome.cause, event.outcome.signal) == (Cause.STOPPED, signal.SIGKILL)
    assert_group_gone(info.pid)


def test_stop_during_backoff_cancels_the_pending_start(harness: Harness, tmp_path: Path) -> None:
    """An operator stop while a restart is scheduled cancels it: no further run starts."""
    marker = tmp_path / "starts"
    sup, _ = harness.supervisor()
    sup.add("w", sh(f"echo run >> {marker}; exit 1"), policy(5, delay=0.5))
    wait_for(lambda: sup.status("w").phase is Phase.BACKING_OFF)
    sup.stop("w")
    status = sup.status("w")
    assert (status.phase, status.rule) == (Phase.STOPPED, Rule.OPERATOR_STOP)
    time.sleep(0.7)  # past the cancelled start's time
    assert starts(marker) == 1
    assert [e.decision.action for e in harness.decisions("w")] == [Action.RETRY, Action.STOP]


def test_stop_before_the_first_start_is_recorded(harness: Harness, tmp_path: Path) -> None:
    """A stop that finds nothing running yet still ends in STOPPED, never in a start."""
    marker = tmp_path / "starts"
    sup, _ = harness.supervisor()
    sup.add("w", sh(f"echo run >> {marker}; sleep 30"), policy())
    sup.stop("w")
    wait_for(lambda: sup.status("w").phase is Phase.STOPPED)
    time.sleep(0.1)
    assert starts(marker) <= 1  # the first start may have won the race; then it was stopped
    assert sup.status("w").phase is Phase.STOPPED


def test_signal_classification_under_systemd(harness: Harness) -> None:
    """Under ``presets.systemd()`` (on-failure), death by SIGTERM is clean and SIGSEGV a failure."""
    systemd = presets.systemd("on-failure", restart_sec=0.05)
    sup, _ = harness.supervisor()
    sup.add("term", sh("kill -TERM $$"), systemd)
    sup.add("segv", sh("kill -SEGV $$"), systemd)
    term = harness.wait_decisions("term", 1)[0]
    segv = harness.wait_decisions("segv", 1)[0]
    assert (term.outcome.signal, term.decision.action, term.decision.rule) == (
        signal.SIGTERM,
        Action.STOP,
        Rule.SUCCESS,
    )
    assert (segv.outcome.signal, segv.decision.action) == (signal.SIGSEGV, Action.RETRY)


# -- surviving the supervisor --------------------------------------------------------------------


def test_restart_of_the_supervisor_keeps_the_budget(harness: Harness, tmp_path: Path) -> None:
    """A supervisor closed mid-backoff and replaced continues the same budget; no run decided twice."""
    marker = tmp_path / "starts"
    spec = sh(f"echo run >> {marker}; exit 1")
    first, _ = harness.supervisor()
    first.add("w", spec, policy(2, delay=0.3))
    wait_for(lambda: first.status("w").phase is Phase.BACKING_OFF)
    harness.close(first)
    assert starts(marker) == 1

    second, _ = harness.supervisor()
    second.add("w", spec, policy(2, delay=0.3))
    assert second.status("w").restarts == 1  # not reset
    events = harness.wait_decisions("w", 3)
    assert [e.decision.action for e in events] == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert len({e.run for e in events}) == 3
    assert starts(marker) == 3


def test_running_process_is_adopted_by_the_next_supervisor(harness: Harness) -> None:
    """A process left running by a closed supervisor is reported running by the next, and stoppable."""
    first, runtime = harness.supervisor()
    first.add("w", sh("sleep 30"), policy())
    info = wait_for(lambda: runtime.process("w"))
    harness.close(first)
    os.killpg(info.pid, 0)  # closing a supervisor leaves its processes running

    second, adopter = harness.supervisor()
    second.add("w", sh("sleep 30"), policy())
    adopted = adopter.process("w")
    assert adopted is not None
    assert (adopted.pid, adopted.adopted) == (info.pid, True)
    assert second.status("w").phase is Phase.RUNNING
    assert harness.events == []
    second.stop("w")
    event = harness.wait_decisions("w", 1)[0]
    assert (event.outcome.cause, event.decision.rule) == (Cause.STOPPED, Rule.OPERATOR_STOP)
    assert_group_gone(info.pid)


def test_process_that_died_while_no_supervisor_watched_spends_the_budget(harness: Harness) -> None:
    """A saved run that is gone when the next supervisor starts is decided once, as a failure."""
    first, runtime = harness.supervisor()
    first.add("w", sh("sleep 30"), policy(0))
    info = wait_for(lambda: runtime.process("w"))
    harness.close(first)
    os.killpg(info.pid, signal.SIGKILL)
    os.waitpid(info.pid, 0)  # this test process is its parent; reap it as init would

    second, adopter = harness.supervisor()
    second.add("w", sh("sleep 30"), policy(0))
    event = harness.wait_decisions("w", 1)[0]
    assert pid_of(event.run or "") == info.pid
    assert (event.outcome.cause, event.outcome.exit_code) == (Cause.EXITED, 255)
    # Its exit status is unknown, but it is never LOST: a budget of 0 is spent.
    assert (event.decision.action, event.decision.rule) == (Action.GIVE_UP, Rule.BUDGET_EXHAUSTED)
    assert adopter.process("w") is None


def set_saved_run(state: str, **data: object) -> None:
    """Overwrite the saved run row of ``w`` in the store, as a stale or edited row would be."""
    with contextlib.closing(sqlite3.connect(state)) as db, db:
        (old,) = db.execute("SELECT data FROM runs WHERE name = 'w'").fetchone()
        db.execute("UPDATE runs SET data = ? WHERE name = 'w'", (json.dumps({**json.loads(old), **data}),))


@pytest.mark.parametrize("field", ["ticks", "boot"])
def test_a_reused_pid_is_never_adopted(harness: Harness, field: str) -> None:
    """A live process whose start time or boot id differs from the saved run is not that run.

    The saved run is edited to name an unrelated process (no relaunch mark) with another start
    time, or one from before a reboot (another boot id): the next supervisor decides the saved
    run as ended unseen, starts a new one, and leaves the stranger alone.
    """
    first, runtime = harness.supervisor()
    first.add("w", sh("sleep 30"), policy(1))
    ours = wait_for(lambda: runtime.process("w"))
    harness.close(first)
    os.killpg(ours.pid, signal.SIGKILL)
    os.waitpid(ours.pid, 0)
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        stat = Path(f"/proc/{stranger.pid}/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        if field == "ticks":
            set_saved_run(harness.state, pid=stranger.pid, ticks=ticks - 1)
        else:
            set_saved_run(harness.state, pid=stranger.pid, ticks=ticks, boot="00000000-0000-0000-0000-0000")
        second, adopter = harness.supervisor()
        second.add("w", sh("sleep 30"), policy(1))
        event = harness.wait_decisions("w", 1)[0]
        assert (event.outcome.cause, event.outcome.exit_code, event.decision.action) == (
            Cause.EXITED,
            255,
            Action.RETRY,
        )
        new = wait_for(lambda: adopter.process("w"))
        assert (new.pid != stranger.pid, new.adopted) == (True, False)
        os.killpg(stranger.pid, 0)  # untouched
    finally:
        stranger.kill()
        stranger.wait()
    assert_group_gone(stranger.pid)


FOREGROUND = textwrap.dedent(
    """
    import logging, sys
    from relaunch import Constant, CountBudget, Policy
    from relaunch.adapters.process import run_foreground
    logging.basicConfig(level=logging.INFO)
    policy = Policy(backoff=Constant(0.05), budget=CountBudget(int(sys.argv[3])))
    sys.exit(run_foreground("w", sys.argv[4:], policy, sys.argv[1], stop_grace=float(sys.argv[2])))
    """
)


def foreground(state: str, argv: list[str], log: Path, restarts: int = 3) -> subprocess.Popen[bytes]:
    """``run_foreground`` in a supervisor process of its own, as the CLI runs it."""
    cmd = [sys.executable, "-c", FOREGROUND, state, "0.3", str(restarts), *argv]
    with log.open("ab") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)


def saved_run(state: str) -> dict[str, Any] | None:
    """The live run of ``w`` as the store holds it (read as ``relaunch status`` reads it)."""
    try:
        record = read_store(state)[1].get("w")
    except StoreError:
        return None  # not created yet
    if record is None or record.phase is not Phase.RUNNING or record.run is None:
        return None
    return dict(record.run.data)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_foreground_stops_its_workload_when_signalled(
    harness: Harness, tmp_path: Path, signum: signal.Signals
) -> None:
    """run_foreground turns SIGTERM, SIGINT (Ctrl-C) or SIGHUP into a stop of the group; returns 0."""
    log = tmp_path / "log"
    sup = foreground(harness.state, ["sleep", "30"], log)
    run = wait_for(lambda: saved_run(harness.state))
    sup.send_signal(signum)
    assert sup.wait(timeout=5) == 0, log.read_text()
    assert_group_gone(run["pid"])
    assert "stopped by an operator" in log.read_text()


def test_foreground_returns_1_when_the_policy_gives_up_and_starts_again(
    harness: Harness, tmp_path: Path
) -> None:
    """A give-up returns 1; running it again is the operator's start: a fresh budget."""
    log = tmp_path / "log"
    marker = tmp_path / "starts"
    argv = ["sh", "-c", f"echo run >> {marker}; exit 3"]
    assert foreground(harness.state, argv, log, restarts=1).wait(timeout=10) == 1, log.read_text()
    assert starts(marker) == 2
    assert foreground(harness.state, argv, log, restarts=1).wait(timeout=10) == 1, log.read_text()
    assert starts(marker) == 4


def test_start_ticks_from_the_clock_are_those_proc_reports() -> None:
    """The start ticks a run's identity takes from CLOCK_BOOTTIME around its spawn are the ticks /proc/<pid>/stat reports, within a tick and across a tick boundary."""
    from relaunch.adapters.process_identity import NS_PER_TICK, proc_stat, spawn_ticks

    from_the_clock = 0
    for _ in range(200):
        before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 0"], {})
        after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        try:
            stat = proc_stat(pid)
            assert stat is not None
            from_the_clock += before // NS_PER_TICK == after // NS_PER_TICK
            assert spawn_ticks(pid, before, after) == stat[1]
            # Readings that straddle a tick: read from /proc, never guessed.
            boundary = (after // NS_PER_TICK) * NS_PER_TICK
            assert spawn_ticks(pid, boundary - 1, boundary) == stat[1]
        finally:
            os.waitpid(pid, 0)
    assert from_the_clock > 100  # the clock's answer was the one checked, most of the time


def open_pidfds() -> int:
    """How many pidfds this process holds (proc(5): their link reads ``anon_inode:[pidfd]``)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
    return count


def test_a_start_cut_by_close_leaves_its_run_to_the_next_supervisor(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A runtime closed during a spawn ends that start quietly, keeps no descriptor, and the next supervisor adopts its one run."""
    import relaunch.adapters.process as process_module

    first, runtime = harness.supervisor()
    real_ticks, cut = process_module.spawn_ticks, []

    def close_during_the_start(pid: int, before_ns: int, after_ns: int) -> int:
        if not cut:
            cut.append(pid)
            harness.pgids.add(pid)
            runtime.close()  # what Supervisor.close does first, while this start is under way
        return real_ticks(pid, before_ns, after_ns)

    monkeypatch.setattr(process_module, "spawn_ticks", close_during_the_start)
    held = open_pidfds()
    marker = tmp_path / "starts"
    spec = sh(f"echo x >> {marker}; exec sleep 30")
    with caplog.at_level(logging.INFO):
        first.add("w", spec, policy())
        wait_for(lambda: cut)
        wait_for(lambda: open_pidfds() == held)  # the cut start's pidfd is closed, not kept
        harness.close(first)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    second, adopter = harness.supervisor()
    second.add("w", spec, policy())
    adopted = adopter.process("w")
    assert adopted is not None
    assert (adopted.pid, adopted.adopted) == (cut[0], True)
    assert second.status("w").phase is Phase.RUNNING
    assert starts(marker) == 1


def test_killed_supervisor_leaves_a_process_the_next_one_adopts(harness: Harness, tmp_path: Path) -> None:
    """After a supervisor is SIGKILLed, the next adopts its orphan; the orphan's death is a failure."""
    supervisor = foreground(harness.state, ["sleep", "30"], tmp_path / "log")
    run = wait_for(lambda: saved_run(harness.state))
    supervisor.kill()
    supervisor.wait()
    harness.pgids.add(run["pid"])

    sup, runtime = harness.supervisor()
    sup.add("w", ProcessSpec(["sleep", "30"]), policy())
    adopted = runtime.process("w")
    assert adopted is not None
    assert (adopted.pid, adopted.adopted) == (run["pid"], True)
    assert sup.status("w").phase is Phase.RUNNING
    os.killpg(run["pid"], signal.SIGKILL)  # the orphan crashes; not our child: status unknown
    event = harness.wait_decisions("w", 1)[0]
    assert (event.outcome.cause, event.outcome.exit_code, event.decision.action) == (
        Cause.EXITED,
        255,
        Action.RETRY,
    )
    new = wait_for(lambda: runtime.process("w"))
    assert new.adopted is False
    assert_group_gone(run["pid"])


def test_decision_hook_may_ask_the_runtime_about_the_process(harness: Harness) -> None:
    """A hook that reads ``process()`` while other workloads restart never deadlocks the adapter."""
    runtime = ProcessRuntime(stop_grace=0.3)

    def hook(event: DecisionEvent) -> None:
        harness.record(event)
        time.sleep(0.002)  # hold the core's lock a while, as a slow hook does
        runtime.process(event.name)

    sup = Supervisor(runtime, harness.state, on_decision=hook)
    harness.open.append(sup)
    for name in ("a", "b", "c"):
        sup.add(name, sh("exit 1"), policy(30, delay=0.0))
    for name in ("a", "b", "c"):
        harness.wait_decisions(name, 31, timeout=10.0)
        assert sup.status(name).phase is Phase.GIVEN_UP


def test_readme_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's process example runs as written and ends given up after 3 restarts."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Process adapter") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("\n```\n")]
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    exec(compile(code, "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed[-1] == "given-up 3"
    assert len(printed) == 5


def test_foreground_refuses_a_state_file_of_another_supervisor(tmp_path: Path) -> None:
    """A state file written by another supervisor id is an error; nothing is started or converted."""
    state = tmp_path / "state.json"
    text = json.dumps({"schema": 1, "supervisor": "relaunch", "workloads": {}})
    state.write_text(text)
    marker = tmp_path / "starts"
    with pytest.raises(StoreError, match="'relaunch'"):
        run_foreground("w", ["sh", "-c", f"echo run >> {marker}"], policy(), str(state))
    assert starts(marker) == 0
    assert state.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
