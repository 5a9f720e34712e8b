"""Every bad input is one line and exit 2, and the command line's conventions hold.

The tests come in twelve numbered groups, one per kind of input or convention (the section
comments name them), then a Hypothesis test that feeds random bytes and random TOML and JSON
documents to every command that reads a file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from relaunch import presets
from relaunch.adapters.phase import Phase
from relaunch.adapters.store import SqliteStore, WorkloadRecord
from relaunch.cli import default_state_path, default_state_paths, main
from relaunch.policyfile import dumps_toml
from test_cli import SCRIPT, fails, run, write

BUSYBOX = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")

# -- 1. files that are not UTF-8 ----------------------------------------------------------------------

BINARY = bytes(range(128, 256)) * 8


def _file_commands(path: str) -> dict[str, list[str]]:
    """Every command that reads a file, reading ``path`` (a policy, scenario or state file)."""
    return {
        "check": ["check", f"{path}.toml"],
        "simulate --policy": ["simulate", "--policy", f"{path}.toml"],
        "compare --policy": ["compare", "--policy", f"{path}.toml"],
        "--scenario .toml": ["simulate", "--preset", "docker", "--scenario", f"{path}.toml"],
        "--scenario .jsonl": ["compare", "--scenario", f"{path}.jsonl"],
        "status --state": ["status", "--state", f"{path}.json"],
        "supervise --state": ["supervise", "job", "--exec", "--state", f"{path}.json", "--", "true"],
    }


@pytest.mark.parametrize("command", list(_file_commands("x")))
def test_1_a_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path, command: str) -> None:
    """Binary input to every file-reading command: exit 2, one line naming the file."""
    base = tmp_path / "b"
    for suffix in (".toml", ".jsonl", ".json"):
        base.with_suffix(suffix).write_bytes(BINARY)
    args = _file_commands(str(base))[command]
    message = fails(*args, cwd=tmp_path)
    assert str(base) in message
    # A state store is SQLite, not text: binary there is refused as not a store, never overwritten.
    assert ("not a relaunch store" if "--state" in command else "UTF-8") in message


# -- 2. a zero disruption interval ------------------------------------------------------------------


@pytest.mark.parametrize("every", ['"0s"', '["1e-9", "1e-9"]', "0"])
def test_2_a_zero_disruption_interval_is_refused_not_a_hang(tmp_path: Path, every: str) -> None:
    """A disruption interval of zero is bad input (exit 2 at once), not an endless loop."""
    path = write(tmp_path, "z.toml", f'[[phase]]\nrun = "forever"\n[disruptions]\nevery = {every}\n')
    started = time.monotonic()
    message = fails("compare", "--scenario", str(path), "--until", "1s")
    assert time.monotonic() - started < 30
    assert message.startswith(f"relaunch compare: error: {path}: disruptions.every: must average at least")


# -- 3. --set without --preset ----------------------------------------------------------------------


def test_3_set_applies_to_the_default_policy_of_supervise(tmp_path: Path) -> None:
    """Without --preset, --set is checked against the default preset, not silently dropped."""
    message = fails("supervise", "job", "--exec", "--set", "bogus=1", "--", "true", cwd=tmp_path)
    assert message == (
        "relaunch supervise: error: --set bogus: unknown keyword of preset recommended, expected one of none"
    )
    assert list(tmp_path.iterdir()) == []


# -- 4. workload names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../tmp/escape", "a/b", "", ".hidden", "a b", "x" * 64, "x" * 300])
def test_4_a_bad_workload_name_is_refused_before_anything_happens(tmp_path: Path, name: str) -> None:
    """A name outside [A-Za-z0-9][A-Za-z0-9_.-]{0,62} fails at once: nothing printed or written."""
    message = fails("supervise", name, "--exec", "--", "true", cwd=tmp_path)
    assert message.startswith("relaunch supervise: error: NAME: must be ")
    assert list(tmp_path.iterdir()) == []


def test_4_the_longest_allowed_name_is_accepted(tmp_path: Path) -> None:
    name = "a" * 63
    result = run("supervise", name, "--exec", "--preset", "docker", "--", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"relaunch-{name}.db").exists()


# -- 5. missing folders ---------------------------------------------------------------------------------


def test_5_a_state_file_in_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "nonexistent" / "dir" / "x"
    message = fails("supervise", "job", "--exec", "--state", str(state), "--", "true")
    assert message == (
        f"relaunch supervise: error: --state {state}: the folder '{state.parent}' does not exist"
    )
    assert not (tmp_path / "nonexistent").exists()


def test_5_a_plot_in_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    plot = tmp_path / "nonexistent2" / "x.png"
    message = fails("compare", "--plot", str(plot))
    assert message == f"relaunch compare: error: --plot {plot}: the folder '{plot.parent}' does not exist"
    assert not plot.parent.exists()


def test_5_status_of_a_folder_is_one_line(tmp_path: Path) -> None:
    assert fails("status", "--state", str(tmp_path)) == (
        f"relaunch status: error: {tmp_path}: is a folder, not a state file"
    )


# -- 6. the real cause of a failed start -------------------------------------------------------------


def test_6_a_command_that_cannot_run_says_why(tmp_path: Path) -> None:
    """The OS's reason (ENOENT) is on the decision's line, not only "failed to start"."""
    result = run(
        "supervise", "job", "--exec", "--preset", "docker", "--", "/nonexistent/binary", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    decision = result.stdout.splitlines()[1]
    assert "failed to start" in decision
    assert decision.endswith("(job: cannot execute '/nonexistent/binary': No such file or directory)")


def _docker_host() -> str:
    from conftest import docker_unavailable

    host = os.environ.get("DOCKER_HOST")
    if not host:
        docker_unavailable("DOCKER_HOST is not set")
    return host


def _remove(host: str, workload: str) -> None:
    import docker

    client = docker.DockerClient(base_url=host)
    try:
        for container in client.containers.list(
            all=True, filters={"label": f"io.relaunch.workload={workload}"}
        ):
            container.remove(force=True)
    finally:
        client.close()


@pytest.mark.docker
def test_6_a_missing_network_is_a_failed_start_with_dockers_reason(tmp_path: Path) -> None:
    """--network bogusnet: a failed start naming the network (it was "stopped by an operator")."""
    host = _docker_host()
    name = f"net-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [SCRIPT, "supervise", name, "--image", BUSYBOX, "--network", "bogusnet", "--preset", "docker"],
            capture_output=True, text=True, cwd=tmp_path, timeout=60, env={**os.environ, "DOCKER_HOST": host},
        )  # fmt: skip
    finally:
        _remove(host, name)
    assert result.returncode == 1, result.stderr
    decision = result.stdout.splitlines()[1]
    assert "failed to start" in decision
    assert "network bogusnet not found" in decision


# -- 7. exit codes and Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.docker
def test_7_a_container_given_up_exits_1(tmp_path: Path) -> None:
    """A given-up container ends the command with exit 1, as --exec does (it used to wait forever)."""
    host = _docker_host()
    name = f"gu-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(
            [SCRIPT, "supervise", name, "--image", BUSYBOX, "--preset", "docker", "--set", "policy=on-failure",
             "--set", "max_retries=1", "--", "sh", "-c", "exit 3"],
            capture_output=True, text=True, cwd=tmp_path, timeout=60, env={**os.environ, "DOCKER_HOST": host},
        )  # fmt: skip
    finally:
        _remove(host, name)
    assert result.returncode == 1, result.stderr
    assert "give-up" in result.stdout.splitlines()[-1]


def test_7_ctrl_c_says_what_it_waits_for_and_a_second_one_kills(tmp_path: Path) -> None:
    """A child ignoring SIGTERM: the first Ctrl-C says it waits, the second kills at once, exit 130."""
    args = [SCRIPT, "supervise", "stub", "--exec", "--", "sh", "-c", "trap '' TERM; echo up; sleep 60"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path) as p:
        try:
            assert p.stdout is not None
            assert p.stdout.readline().startswith("supervising stub")
            assert p.stdout.readline() == "up\n"  # the child shares stdout; its trap is set
            p.send_signal(signal.SIGINT)
            assert p.stdout.readline() == "\n"
            assert p.stdout.readline() == (
                "stopping stub: sent SIGTERM, waiting up to 10.0s for it to exit (Ctrl-C again kills it now)\n"
            )
            started = time.monotonic()
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            p.kill()
    assert time.monotonic() - started < 5
    assert p.returncode == 130, err
    assert out.splitlines()[0] == "killing stub now (SIGKILL)"
    assert "stopped by an operator" in out.splitlines()[1]


def test_7_exit_codes_are_in_every_help() -> None:
    for command in (["check"], ["simulate"], ["compare"], ["presets"], ["supervise"], ["status"]):
        out = run(*command, "--help").stdout
        assert "exit codes:" in out
        assert "130  interrupted" in out


# -- 8. status finds what supervise wrote ------------------------------------------------------------


def test_8_status_reads_the_default_state_files(tmp_path: Path) -> None:
    """supervise --exec NAME and status, both without --state, agree on where the state is."""
    assert run("supervise", "job", "--exec", "--preset", "docker", "--", "true", cwd=tmp_path).returncode == 0
    assert default_state_paths(tmp_path) == [tmp_path / "relaunch-job.db"]
    status = json.loads(run("status", "--json", cwd=tmp_path).stdout)
    assert status["job"]["phase"] == "stopped"
    assert status["job"]["state_file"] == "relaunch-job.db"


def test_8_the_default_state_paths() -> None:
    assert default_state_path("web", exec_=False) == Path("relaunch-state.db")
    assert default_state_path("job", exec_=True) == Path("relaunch-job.db")


def test_8_status_without_state_files_says_where_it_looked(tmp_path: Path) -> None:
    message = fails("status", cwd=tmp_path)
    assert "relaunch-state.db" in message
    assert "--state FILE" in message


# -- 9. compare names policy files ---------------------------------------------------------------------


def test_9_two_files_of_one_preset_are_told_apart(tmp_path: Path) -> None:
    three = write(tmp_path, "three.toml", 'preset = "toolhive"\nmax_retries = 3\n')
    five = write(tmp_path, "five.toml", 'preset = "toolhive"\nmax_retries = 5\n')
    data = json.loads(run("compare", "--policy", str(three), "--policy", str(five), "--json").stdout)
    assert [row["policy"] for row in data["policies"]] == ["three", "five"]
    text = run("compare", "--policy", str(three), "--policy", str(five)).stdout
    assert "three " in text
    assert "five " in text


# -- 10. conventions ------------------------------------------------------------------------------------


def test_10_json_before_the_subcommand_counts() -> None:
    assert json.loads(run("presets", "--json", "show", "systemd").stdout)["name"] == "systemd"


def test_10_supervise_json_prints_one_object_per_decision(tmp_path: Path) -> None:
    result = run(
        "supervise", "job", "--exec", "--json", "--preset", "docker", "--set", "policy=on-failure",
        "--set", "max_retries=1", "--", "sh", "-c", "exit 3", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["action"] for record in records] == ["retry", "give-up"]
    assert records[0]["exit_code"] == 3
    assert result.stderr.startswith("supervising job")


def test_10_usage_and_options_agree_on_network() -> None:
    out = run("supervise", "--help").stdout
    assert "--network MODE" in out.split("options:")[1]


@pytest.mark.parametrize(
    "args", [["simulate", "--bogus"], ["simulate", "--preset", "toolhive", "--bogus"]], ids=" ".join
)
def test_10_an_unknown_option_is_named_by_its_subcommand(args: list[str]) -> None:
    assert fails(*args) == (
        "relaunch simulate: error: unrecognized option: --bogus (see relaunch simulate --help)"
    )


def test_10_every_help_has_examples() -> None:
    for command in ([], ["check"], ["simulate"], ["compare"], ["presets"], ["presets", "show"]):
        assert "examples:\n  relaunch " in run(*command, "--help").stdout
    assert "examples:\n  relaunch supervise" in run("supervise", "--help").stdout
    assert "examples:\n  relaunch status" in run("status", "--help").stdout


# -- 11. no Python internals in messages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["presets", "show", "toolhive", "--set", "initial_delay=-1"],
            "--set initial_delay: must be > 0, got -1",
        ),
        (["presets", "show", "otp", "--set", "intensity=x"], "--set intensity: must be an integer, got 'x'"),
    ],
)
def test_11_preset_keywords_are_named_not_kernel_parts(args: list[str], expected: str) -> None:
    assert fails(*args) == f"relaunch presets: error: {expected}"


def test_11_a_bad_set_value_blames_set_not_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.toml", 'mode = "always"\n[backoff]\nkind = "exponential"\ninitial = 1\n')
    assert fails("simulate", "--policy", str(path), "--set", "backoff.factor=x") == (
        "relaunch simulate: error: --set backoff.factor: must be a number, got 'x'"
    )


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("state", "'1'", "workload 'w': state: state: must be a dict, got int"),
        ("phase", "'sideways'", "workload 'w': phase: must be one of pending, starting, running"),
        ("restart_at", "1e300", "workload 'w': restart_at: is more than a year after the last decision"),
        ("stop_requested", "2", "workload 'w': stop_requested: must be 0 or 1, got 2"),
    ],
)
def test_11_status_errors_name_the_file_and_the_workload(
    tmp_path: Path, column: str, value: str, expected: str
) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.open("relaunch")
    policy = presets.recommended()
    record = WorkloadRecord(
        "w", policy.start(at=0.0), Phase.BACKING_OFF, False, 5.0, False, None, None, None, None, None
    )
    store.commit([record], None)
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE workloads SET {column} = {value}")
    message = fails("status", "--state", str(path))
    assert message.startswith(f"relaunch status: error: {path}: {expected}")
    assert "<class" not in message


def test_11_scenario_errors_do_not_say_none(tmp_path: Path) -> None:
    path = write(tmp_path, "r.jsonl", '{"duration": 1, "exit_code": "x"}\n')
    assert fails("simulate", "--preset", "docker", "--scenario", str(path)) == (
        f"relaunch simulate: error: {path}:1: exit_code: must be an integer in 0..255, got 'x'"
    )


# -- 12. consistent values ------------------------------------------------------------------------------


def test_12_policy_files_take_durations_with_units(tmp_path: Path) -> None:
    path = write(tmp_path, "p.toml", 'preset = "toolhive"\ninitial_delay = "1m"\nmax_backoff = "1h"\n')
    data = json.loads(run("presets", "show", "toolhive", "--set", "initial_delay=1m", "--json").stdout)
    assert data["crash_loop"]["delays"][0] == 60.0
    assert json.loads(run("check", str(path), "--json").stdout)["backoff"]["cap"] == 3600.0


def test_12_an_empty_policy_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "e.toml", "")
    assert fails("check", str(path)).startswith(f"relaunch check: error: {path}: empty")


def test_12_network_is_only_for_containers(tmp_path: Path) -> None:
    assert fails("supervise", "job", "--exec", "--network", "host", "--", "true", cwd=tmp_path) == (
        "relaunch supervise: error: --network host: only for --image, not --exec"
    )


def test_12_one_duration_format_in_a_table(tmp_path: Path) -> None:
    """The comparison writes every duration as 13m02s, none as a clock (0:13:02.3)."""
    row = run("compare", "--presets", "toolhive_legacy").stdout.splitlines()[4]
    assert row.split()[1:] == ["5.7%", "9", "13m02s", "1h46m58s"]
    path = write(tmp_path, "one.jsonl", '{"duration": 1}\n')
    assert (
        "1 run replayed from one.jsonl"
        in run("simulate", "--preset", "docker", "--scenario", str(path)).stdout
    )


# -- every file-reading command, fed random input -------------------------------------------------

_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)
_SCALARS = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
)
_DOCUMENTS = st.dictionaries(
    _KEYS, st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3), max_leaves=8), max_size=5
)  # fmt: skip


def _main(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@given(
    command=st.sampled_from(sorted(_file_commands("x"))),
    content=st.binary(max_size=200).map(lambda data: b"\xff" + data)
    | _DOCUMENTS.map(lambda document: dumps_toml(document).encode())
    | _DOCUMENTS.map(lambda document: json.dumps(document).encode())
    | st.lists(_DOCUMENTS, max_size=3).map(lambda lines: "\n".join(map(json.dumps, lines)).encode()),
)
def test_random_files_are_one_line_errors(command: str, content: bytes) -> None:
    """Every file-reading command given random bytes or a random TOML or JSON document exits 2 with one line on stderr and no traceback."""
    # An empty file at a state path is a new, empty store (SQLite's own rule), not bad input.
    assume(content or "--state" not in command)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "f"
        for suffix in (".toml", ".jsonl", ".json"):
            base.with_suffix(suffix).write_bytes(content)
        code, out, err = _main(_file_commands(str(base))[command])
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1
    assert "Traceback" not in err
