"""What a fleet file's local commands need, against real processes: cwd, env, user, log files.

No mocks: real children write to real files; rotations happen at real spawns and, for live
runs, on the runtime's ``relaunch-logs`` thread; a supervisor process is SIGKILLed and its run
adopted. The readers (``tail``, ``follow``) are checked on files rotated by the module's own
functions while a writer appends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaunch import Cause
from relaunch.adapters.logfiles import LINE_LIMIT, LogFile, copy_truncate, follow, rotate, tail, tail_and_end
from relaunch.adapters.process import ProcessRuntime, ProcessSpec
from relaunch.adapters.supervisor import Phase, Supervisor
from test_faults import kill_marked, launch, read_until
from test_process import Harness, harness, policy, sh, wait_for

__all__ = ["harness"]  # the fixture, imported for the tests below

# Prints numbered lines of 100 bytes, ``per`` lines at a time, ``pause`` seconds apart.
NUMBERED = (
    "import os, sys, time\n"
    "per, pause = int(sys.argv[1]), float(sys.argv[2])\n"
    "i = 0\n"
    "while True:\n"
    "    os.write(1, b''.join(b'%08d %090d\\n' % (i + k, 0) for k in range(per)))\n"
    "    i += per\n"
    "    time.sleep(pause)\n"
)

# Writes 1 MiB chunks paced to 100 MiB/s.
FAST = (
    "import os, time\n"
    "chunk = b'x' * 2**20\n"
    "began, n = time.monotonic(), 0\n"
    "while True:\n"
    "    os.write(1, chunk)\n"
    "    n += 1\n"
    "    ahead = began + n / 100 - time.monotonic()\n"
    "    if ahead > 0:\n"
    "        time.sleep(ahead)\n"
)


def numbered(per: int, pause: float) -> list[str]:
    return [sys.executable, "-c", NUMBERED, str(per), str(pause)]


def numbers(path: Path) -> list[int]:
    """The line numbers in a file of NUMBERED's lines, skipping a cut first or last line."""
    found = []
    for line in path.read_bytes().split(b"\n"):
        if len(line) == 99 and line[:8].isdigit():
            found.append(int(line[:8]))
    return found


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is root's alone: 0700)."""
    where = Path(tempfile.mkdtemp(prefix="relaunch-logs-"))
    where.chmod(0o755)
    yield where
    shutil.rmtree(where)


def status_field(pid: int, key: str) -> list[str]:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(f"{key}:"))
    return line.split()[1:]


# -- the spec -------------------------------------------------------------------------------------


def test_bad_fields_are_refused_naming_the_field_and_the_value(tmp_path: Path) -> None:
    """Each bad field of ProcessSpec or LogFile is a ValueError naming the field and the value."""
    log = LogFile(tmp_path / "out.log")
    cases = [
        (lambda: ProcessSpec(["true"], cwd=tmp_path / "missing"), "ProcessSpec.cwd", "missing"),
        (lambda: ProcessSpec(["A=B"], cwd=tmp_path), "ProcessSpec.argv", "A=B"),
        (lambda: ProcessSpec(["sh", "-c", "echo a\0b"]), "ProcessSpec.argv", "echo a"),
        (lambda: ProcessSpec(["true"], env={"A=B": "1"}), "ProcessSpec.env", "A=B"),
        (lambda: ProcessSpec(["true"], env={"A": 1}), "ProcessSpec.env", "A"),  # type: ignore[dict-item]
        (lambda: ProcessSpec(["true"], user="no-such-user-relaunch"), "ProcessSpec.user", "no-such-user"),
        (lambda: ProcessSpec(["true"], stderr="stdout"), "ProcessSpec.stderr", "stdout"),
        (lambda: ProcessSpec(["true"], stderr="err.log"), "ProcessSpec.stderr", "err.log"),  # type: ignore[arg-type]
        (
            lambda: ProcessSpec(["true"], stdout=log, stderr=LogFile(log.path)),
            "ProcessSpec.stderr",
            "out.log",
        ),
        (lambda: LogFile(tmp_path / "x", max_bytes=-1), "LogFile.max_bytes", "-1"),
        (lambda: LogFile(tmp_path / "x", backups=-2), "LogFile.backups", "-2"),
        (lambda: LogFile(""), "LogFile.path", "''"),
    ]
    for make, field, value in cases:
        with pytest.raises(ValueError, match=field) as info:
            make()
        assert value in str(info.value), (field, str(info.value))


def test_user_is_refused_to_a_supervisor_that_is_not_root() -> None:
    """A user is refused unless the supervisor runs as root: checked in a process run as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process as nobody")
    code = "from relaunch.adapters.process import ProcessSpec\nProcessSpec(['true'], user='root')"
    nobody = pwd.getpwnam("nobody")
    python = [sys.executable, "-c", code]
    done = subprocess.run(
        ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--", *python],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")},
        cwd="/",
    )
    assert done.returncode == 1
    assert "ValueError: ProcessSpec.user: running as 'root' needs a supervisor running as root" in done.stderr
    assert f"runs as uid {nobody.pw_uid}" in done.stderr


# -- cwd, env, user ---------------------------------------------------------------------------------


def test_a_run_has_its_cwd_env_and_user(harness: Harness, shared_dir: Path) -> None:
    """A run starts in its cwd, with its env over the supervisor's (marks kept), as its user and groups."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as nobody")
    nobody = pwd.getpwnam("nobody")
    out = LogFile(shared_dir / "out.log")
    script = 'pwd; echo "$GREETING"; echo "$RELAUNCH_WORKLOAD"; echo "$HOME"; exec sleep 30'
    spec = ProcessSpec(
        ["sh", "-c", script],
        cwd=shared_dir,
        env={"GREETING": "hello", "RELAUNCH_WORKLOAD": "forged", "HOME": "/nonexistent"},
        user="nobody",
        stdout=out,
    )
    sup, runtime = harness.supervisor()
    sup.add("w", spec, policy())
    info = wait_for(lambda: runtime.process("w"))
    harness.pgids.add(info.pid)
    wait_for(lambda: len(tail(out.path, 10)) == 4)
    assert tail(out.path, 10) == [str(shared_dir), "hello", "w", "/nonexistent"]
    assert status_field(info.pid, "Uid") == [str(nobody.pw_uid)] * 4
    assert status_field(info.pid, "Gid") == [str(nobody.pw_gid)] * 4
    assert status_field(info.pid, "Groups") == [str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)]
    assert Path(f"/proc/{info.pid}/cwd").resolve() == shared_dir.resolve()
    st = out.path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o640)
    # The pid is the trampoline's and then the command's: adoption finds it by its marks.
    environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
    assert b"RELAUNCH_WORKLOAD=w" in environ


def test_a_directory_the_user_may_not_enter_fails_the_run(harness: Harness, tmp_path: Path) -> None:
    """The directory is entered as the user (as supervisord does): root's 0700 directory ends the run with 125."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as nobody")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    sup, _ = harness.supervisor()
    sup.add("w", ProcessSpec(["true"], cwd=private, user="nobody"), policy(0))
    event = harness.wait_decisions("w", 1)[0]
    assert (event.outcome.cause, event.outcome.exit_code) == (Cause.EXITED, 125)


@pytest.mark.parametrize("broken", ["cwd", "command", "log"])
def test_what_is_missing_at_start_is_start_failed_with_its_name(
    harness: Harness, tmp_path: Path, broken: str
) -> None:
    """A cwd removed since the spec was made, a command not found from it, or a log file whose
    directory is gone: START_FAILED, with a detail naming what is missing; nothing runs."""
    where = tmp_path / "dir"
    where.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    command = "./tool" if broken == "command" else "true"
    spec = ProcessSpec([command], cwd=where, stdout=LogFile(logs / "out.log"))
    if broken == "cwd":
        where.rmdir()
    if broken == "log":
        logs.rmdir()
    sup, runtime = harness.supervisor()
    sup.add("w", spec, policy(0))
    event = harness.wait_decisions("w", 1)[0]
    assert event.outcome.cause is Cause.START_FAILED
    expected = {
        "cwd": f"w: cannot run in {str(where)!r}: No such file or directory",
        "command": "w: cannot execute './tool': No such file or directory",
        "log": f"w: cannot open its stdout log {str(logs / 'out.log')!r}: No such file or directory",
    }[broken]
    assert event.detail == expected
    assert runtime.process("w") is None


def test_a_log_file_is_one_workloads_only(harness: Harness, tmp_path: Path) -> None:
    """A second workload naming a log file another one writes is refused; once forgotten, it is free."""
    log = LogFile(tmp_path / "shared.log")
    sup, runtime = harness.supervisor()
    sup.add("a", ProcessSpec(["sleep", "30"], stdout=log), policy())
    with pytest.raises(
        ValueError, match=re.escape(f"ProcessSpec.stderr: '{log.path}' is already the log of 'a'")
    ):
        sup.add("b", ProcessSpec(["sleep", "30"], stderr=log), policy())
    runtime.forget("a")
    runtime.watch("b", ProcessSpec(["sleep", "30"], stderr=log), None)


# -- where the output goes -------------------------------------------------------------------------


def test_stdout_and_stderr_go_to_their_files(harness: Harness, tmp_path: Path) -> None:
    """stdout and stderr each go to their own file, and the supervisor keeps no descriptor of them."""
    out, err = LogFile(tmp_path / "out.log"), LogFile(tmp_path / "err.log")
    spec = ProcessSpec(["sh", "-c", "echo to-out; echo to-err >&2; exit 3"], stdout=out, stderr=err)
    sup, _ = harness.supervisor()
    sup.add("w", spec, policy(0))
    harness.wait_decisions("w", 1)
    assert out.path.read_text() == "to-out\n"
    assert err.path.read_text() == "to-err\n"
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
    assert str(out.path) not in held
    assert str(err.path) not in held


def test_stderr_to_stdout_interleaves_in_one_file(harness: Harness, tmp_path: Path) -> None:
    """With stderr='stdout', both streams go to stdout's file in the order they were written."""
    out = LogFile(tmp_path / "out.log")
    script = "for i in 1 2 3 4 5; do echo out-$i; echo err-$i >&2; done; exit 3"
    sup, _ = harness.supervisor()
    sup.add("w", ProcessSpec(["sh", "-c", script], stdout=out, stderr="stdout"), policy(0))
    harness.wait_decisions("w", 1)
    assert out.path.read_text().split() == [f"{s}-{i}" for i in range(1, 6) for s in ("out", "err")]


# -- rotation -------------------------------------------------------------------------------------


def test_a_full_file_is_rotated_at_each_spawn_keeping_its_backups(harness: Harness, tmp_path: Path) -> None:
    """Each run writes more than max_bytes: every spawn rotates by renames, keeping exactly `backups`."""
    log = LogFile(tmp_path / "out.log", max_bytes=500, backups=2)
    counter = tmp_path / "starts"
    script = f"echo x >> {counter}; n=$(wc -l < {counter}); printf 'run-%s %0600d\\n' $n 0; exit 1"
    sup, _ = harness.supervisor()
    sup.add("w", ProcessSpec(["sh", "-c", script], stdout=log), policy(4, delay=0.02))
    harness.wait_decisions("w", 5)
    runs = {p.name: p.read_text().split()[0] for p in tmp_path.glob("out.log*")}
    assert runs == {"out.log": "run-5", "out.log.1": "run-4", "out.log.2": "run-3"}


def test_a_file_under_max_bytes_is_appended_to_across_runs(harness: Harness, tmp_path: Path) -> None:
    """Runs that write less than max_bytes in all share one file, appended to, never rotated."""
    log = LogFile(tmp_path / "out.log", max_bytes=10_000, backups=2)
    sup, _ = harness.supervisor()
    sup.add("w", ProcessSpec(["sh", "-c", "echo run; exit 1"], stdout=log), policy(3, delay=0.02))
    harness.wait_decisions("w", 4)
    assert log.path.read_text() == "run\n" * 4
    assert not log.backup(1).exists()


def test_a_live_writer_is_copy_truncated_and_goes_on(harness: Harness, tmp_path: Path) -> None:
    """A run that keeps writing past max_bytes is copy-truncated while it runs: it is not
    restarted, writes on at the file's new start (no hole), `backups` files are kept, and the
    numbers run on from file to file (the lines the copy-truncate window loses are counted)."""
    log = LogFile(tmp_path / "out.log", max_bytes=256 * 1024, backups=2)
    sup, runtime = harness.supervisor()
    sup.add("w", ProcessSpec(numbered(20, 0.002), stdout=log), policy())
    info = wait_for(lambda: runtime.process("w"))
    harness.pgids.add(info.pid)
    backup = log.backup(2)
    wait_for(lambda: backup.exists(), timeout=10)
    first = backup.stat().st_ino
    wait_for(lambda: backup.exists() and backup.stat().st_ino != first, timeout=10)  # rotated on again
    wait_for(lambda: len(numbers(log.path)) >= 20)  # written to since
    assert runtime.process("w") == info  # the same run, never restarted
    sup.stop("w")
    wait_for(lambda: sup.status("w").phase is Phase.STOPPED)
    assert not log.backup(3).exists()
    assert log.path.read_bytes()[:1] != b"\0"  # O_APPEND: it went on at 0, not at its old offset
    chain = [numbers(log.backup(2)), numbers(log.backup(1)), numbers(log.path)]
    for found in chain:
        assert found == list(range(found[0], found[0] + len(found)))  # nothing lost inside a file
    lost = [later[0] - earlier[-1] - 1 for earlier, later in itertools.pairwise(chain)]
    # The copy-truncate window: a write cut by the copy (its line counted lost), or one lost whole.
    assert all(0 <= n <= 40 for n in lost), lost


def test_a_run_adopted_after_a_sigkill_keeps_logging_and_rotating(tmp_path: Path) -> None:
    """A supervisor SIGKILLed while its run writes a log: the run writes on unsupervised, the
    next supervisor adopts that same process, and its relaunch-logs thread rotates the file."""
    name = f"log-{uuid.uuid4().hex[:6]}"
    log = LogFile(tmp_path / "out.log", max_bytes=128 * 1024, backups=1)
    argv = numbered(10, 0.005)
    stdout = {"path": str(log.path), "max_bytes": log.max_bytes, "backups": log.backups}
    config = {"store": str(tmp_path / "s.db"), "workloads": [{"name": name, "argv": argv, "stdout": stdout}]}
    try:
        proc = launch(tmp_path, config)
        assert proc.stdout is not None
        pid = int(read_until(proc.stdout, lambda line: line.startswith("spawned ")).split()[2])
        wait_for(lambda: log.path.exists() and log.path.stat().st_size > 0)
        proc.kill()
        proc.wait()
        size = log.path.stat().st_size
        wait_for(lambda: log.path.stat().st_size > size + 10_000)  # no supervisor: it writes on
        last = numbers(log.path)[-1]

        runtime = ProcessRuntime(stop_grace=0.5)
        with Supervisor(runtime, str(tmp_path / "s.db")) as sup:
            sup.add(name, ProcessSpec(argv, stdout=log), policy())
            info = runtime.process(name)
            assert info is not None
            assert (info.pid, info.adopted) == (pid, True)
            copy = log.backup(1)
            seen = copy.stat().st_ino if copy.exists() else None
            # The adopter's rotation: a new copy, holding what was written after the kill.
            wait_for(
                lambda: copy.exists() and copy.stat().st_ino != seen and numbers(copy)[-1] > last, timeout=10
            )
            wait_for(lambda: numbers(log.path) and numbers(log.path)[0] > last)
            assert runtime.process(name) == info
            sup.stop(name)
            wait_for(lambda: sup.status(name).phase is Phase.STOPPED)
    finally:
        kill_marked([name])


# -- a fast writer ----------------------------------------------------------------------------------


def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds (user and system) of one thread of this process, from /proc (proc(5): 14, 15)."""
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def written(pid: int) -> int:
    """Bytes written so far by process ``pid`` (proc(5): /proc/PID/io, wchar)."""
    line = next(x for x in Path(f"/proc/{pid}/io").read_text().splitlines() if x.startswith("wchar:"))
    return int(line.split()[1])


def test_a_program_writing_100_mb_a_second_neither_slows_restarts_nor_costs_the_supervisor(
    harness: Harness, tmp_path: Path
) -> None:
    """A program writing about 100 MiB/s to a rotating log leaves three crash loops at >= 0.6x the
    restarts they make without it (same supervisor, same run), and costs the supervisor's own
    threads no CPU for its bytes: only the relaunch-logs thread's kernel-side copies, a few ms per
    MiB at most."""
    sup, runtime = harness.supervisor()
    loops = ["a", "b", "c"]
    for name in loops:
        # Paced by a short delay, not by the CPU: the restarts count what blocks the supervisor,
        # not how the two cores are shared with the writer and the kernel's writeback.
        sup.add(name, sh("exit 1"), policy(10**9, delay=0.02))

    def restarts() -> int:
        return sum(len(harness.decisions(name)) for name in loops)

    window = 3.0
    wait_for(lambda: restarts() > 30)
    before = restarts()
    time.sleep(window)
    alone = restarts() - before

    log = LogFile(tmp_path / "fast.log", max_bytes=32 * 2**20, backups=1)
    sup.add("fast", ProcessSpec([sys.executable, "-c", FAST], stdout=log), policy())
    info = wait_for(lambda: runtime.process("fast"))
    harness.pgids.add(info.pid)
    wait_for(lambda: log.path.exists() and log.path.stat().st_size > 10 * 2**20)
    before = restarts()
    time.sleep(window)
    beside = restarts() - before
    assert beside >= 0.6 * alone, (alone, beside)

    for name in loops:
        sup.stop(name)
    wait_for(lambda: all(sup.status(name).phase is Phase.STOPPED for name in loops))
    logs_thread = next(t for t in threading.enumerate() if t.name == "relaunch-logs")
    bytes0, cpu0, logs0 = written(info.pid), process_cpu(), thread_cpu(logs_thread)
    time.sleep(window)
    mib = (written(info.pid) - bytes0) / 2**20
    copying = thread_cpu(logs_thread) - logs0
    rest = process_cpu() - cpu0 - copying
    assert mib > 100, mib  # it did write fast (at least a third of its pace)
    assert log.backup(1).exists()  # and its file rotated meanwhile
    # Measured: 0.005 s for 300 MiB; a supervisor that read them (a pipe pumped by a thread into
    # the file, os.read and os.write) spent 0.14 s, so this fails it.
    assert rest < 0.02 + mib * 0.0001, (rest, mib)
    assert copying < mib * 0.003, (copying, mib)


# -- reading: tail and follow ----------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def test_tail_reads_the_last_lines_across_backups(tmp_path: Path) -> None:
    """tail gives the last N lines of the file and, when it holds fewer, of its backups, as one stream."""
    log = LogFile(tmp_path / "out.log", max_bytes=1, backups=3)
    write(log.backup(2), "one\ntwo\n")
    write(log.backup(1), "three\nfo")  # a line cut by a copy-truncate
    write(log.path, "ur\nfive\nsix")  # a last line without its newline
    assert tail(log.path, 2) == ["five", "six"]
    assert tail(log.path, 4) == ["three", "four", "five", "six"]
    assert tail(log.path, 100) == ["one", "two", "three", "four", "five", "six"]
    assert tail(log.path, 0) == []
    assert tail(tmp_path / "none.log", 5) == []
    with pytest.raises(ValueError, match="lines"):
        tail(log.path, -1)


def test_tail_cuts_long_lines_and_reads_only_what_it_needs(tmp_path: Path) -> None:
    """A line longer than LINE_LIMIT is given in pieces; a huge file with no newline is not read whole."""
    path = tmp_path / "out.log"
    write(path, "a" * (LINE_LIMIT * 2 + 5) + "\nend\n")
    assert [len(x) for x in tail(path, 4)] == [LINE_LIMIT, LINE_LIMIT, 5, 3]
    huge = tmp_path / "huge.log"
    with open(huge, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB of NUL bytes and no newline (sparse: costs no disk)
    began = time.process_time()
    assert [len(x) for x in tail(huge, 2)] == [LINE_LIMIT, LINE_LIMIT]
    assert time.process_time() - began < 0.5  # read about 128 KiB, not 1 GiB


class Follower:
    """``follow`` on a thread of its own, collecting its lines."""

    def __init__(self, path: Path, poll: float = 0.02, offset: int | None = None) -> None:
        self.stop = threading.Event()
        self.lines: list[str] = []
        lines = follow(path, self.stop, poll, offset=offset)  # the position is taken now
        self.thread = threading.Thread(target=lambda: self.lines.extend(lines), daemon=True)
        self.thread.start()

    def wait(self, count: int) -> list[str]:
        wait_for(lambda: len(self.lines) >= count)
        return self.lines

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        assert not self.thread.is_alive()


def test_follow_from_the_tails_end_misses_and_repeats_nothing(tmp_path: Path) -> None:
    """Lines written between tail_and_end and follow(offset=end) come once, in the follow only."""
    path = tmp_path / "out.log"
    assert tail_and_end(path, 5) == ([], 0)
    write(path, "one\ntwo\n")
    lines, end = tail_and_end(path, 1)
    assert (lines, end) == (["two"], 8)
    write(path, "three, written before the follow began\n")
    follower = Follower(path, offset=end)
    try:
        write(path, "four\n")
        assert follower.wait(2) == ["three, written before the follow began", "four"]
    finally:
        follower.close()


def test_follow_goes_on_across_rotation_by_renames_and_copy_truncate(tmp_path: Path) -> None:
    """follow gives every line written after it began, once, in order: across a rotation by
    renames, a copy-truncate, and a truncation without a copy."""
    log = LogFile(tmp_path / "out.log", max_bytes=1, backups=2)
    write(log.path, "before\n")
    follower = Follower(log.path)
    try:
        write(log.path, "a1\na2\npart")
        assert follower.wait(2) == ["a1", "a2"]
        write(log.path, "ial\n")
        follower.wait(3)
        write(log.path, "a4 unread when rotated\n")
        rotate(log)  # at a spawn: the file becomes out.log.1
        write(log.path, "b1\n")
        follower.wait(5)
        write(log.path, "b2\nb3 copied before it is read\n")
        assert copy_truncate(log)
        write(log.path, "c1\n")
        follower.wait(8)
        os.truncate(log.path, 0)  # truncated with no copy (backups 0 does this)
        write(log.path, "d1\n")
        assert follower.wait(9) == [
            "a1",
            "a2",
            "partial",
            "a4 unread when rotated",
            "b1",
            "b2",
            "b3 copied before it is read",
            "c1",
            "d1",
        ]
    finally:
        follower.close()


def test_follow_notices_a_truncated_file_that_grew_back_past_its_offset(tmp_path: Path) -> None:
    """A file copy-truncated and written past the follower's offset between two of its looks is
    still read from its start (the bytes before the offset changed), after the copy's rest."""
    log = LogFile(tmp_path / "out.log", max_bytes=1, backups=1)
    write(log.path, "old\n")
    follower = Follower(log.path, poll=0.5)
    try:
        write(log.path, "x1\n")
        follower.wait(1)
        time.sleep(0.1)  # the follower is in its long wait now
        write(log.path, "x2\n")
        copy_truncate(log)
        write(log.path, "".join(f"y{i}\n" for i in range(10)))  # longer than what was read
        assert follower.wait(12) == ["x1", "x2", *[f"y{i}" for i in range(10)]]
    finally:
        follower.close()


def test_follow_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    """Following a file not created yet gives its lines from its start once it appears."""
    path = tmp_path / "later.log"
    follower = Follower(path)
    try:
        time.sleep(0.1)
        write(path, "first\nsecond\n")
        assert follower.wait(2) == ["first", "second"]
    finally:
        follower.close()
