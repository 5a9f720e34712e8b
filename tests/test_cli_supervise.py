"""``relaunch supervise`` and ``relaunch status``: the adapters from the shell.

``status`` reads a state file; ``supervise --exec`` runs a local command through the process
adapter; ``supervise --image`` runs a container on each engine under test (the ``docker_host`` fixture:
Docker, then Podman, given to the command as DOCKER_HOST; skipped without one, failed instead
under RELAUNCH_REQUIRE_DOCKER=1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from relaunch import Outcome, presets
from relaunch.adapters.store import SqliteStore

SCRIPT = str(Path(sys.executable).parent / "relaunch")
IMAGE = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_only_supervise_takes_a_command_after_dashes() -> None:
    result = run("presets", "--", "sh")
    assert (result.returncode, result.stderr) == (
        2,
        "relaunch presets: error: takes nothing after -- (see relaunch presets --help)\n",
    )


def _state_file(tmp_path: Path) -> Path:
    """A state file as the supervisor core persists it: one workload given up after two restarts."""
    policy = presets.toolhive(max_retries=3)
    state = policy.start(at=1000.0, seed=1)
    decision = None
    for start in (1000.0, 1010.0, 1030.0):
        decision = policy.decide(state, Outcome(start, start + 2.0, exit_code=3))
        state = decision.state
    assert decision is not None
    path = tmp_path / "state.json"
    workload = {
        "state": state.to_dict(),
        "last_run": "abc/2026-11-29T15:00:00Z",
        "phase": "given-up",
        "restart_at": None,
        "reason": decision.reason,
        "rule": decision.rule.value,
        "last_outcome": None,
    }
    document = {"schema": 1, "supervisor": "relaunch", "cursor": None, "workloads": {"web": workload}}
    path.write_text(json.dumps(document))
    # Opening converts 0.1's JSON file into the store, as the first supervisor on it would.
    store = SqliteStore(path)
    store.open("relaunch")
    store.close()
    return path


def test_status_shows_the_persisted_workloads(tmp_path: Path) -> None:
    path = _state_file(tmp_path)
    result = run("status", "--state", str(path))
    assert result.returncode == 0
    assert result.stdout.startswith(
        "web: given-up, 2 restarts (2 in this streak)\n"
        "  last decision: ran 2.0s (< 30.0s stable threshold), exit 3; giving up: its budget (at most 2 restarts) is used up\n"
    )
    data = json.loads(run("status", "--state", str(path), "--json").stdout)
    assert data["web"]["rule"] == "budget-exhausted"
    assert data["web"]["given_up"] is True


def test_status_of_a_missing_state_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    result = run("status", "--state", str(path))
    assert (result.returncode, result.stderr) == (
        2,
        f"relaunch status: error: {path}: no such state file (supervise --exec NAME writes relaunch-NAME.db)\n",
    )


@pytest.mark.docker
def test_supervise_prints_each_decision_and_exits_1_on_a_give_up(docker_host: str, tmp_path: Path) -> None:
    """A crash-looping container under toolhive(max_retries=3): two retries, a give-up, exit 1."""
    host = docker_host
    name = f"cli-{uuid.uuid4().hex[:8]}"
    state = tmp_path / "state.json"
    args = [SCRIPT, "supervise", name, "--image", IMAGE, "--preset", "toolhive", "--set", "max_retries=3"]
    args += ["--state", str(state), "--", "sh", "-c", "sleep 1; exit 3"]
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=90)
    finally:
        _remove(host, name)
    lines = result.stdout.splitlines(keepends=True)
    assert result.returncode == 1, result.stderr
    assert lines[0] == f"supervising {name} ({IMAGE}) with toolhive; Ctrl-C stops supervising\n"
    assert lines[1].startswith(f"{name}: retry in 5.0s: ran ")
    assert lines[1].endswith("exit 3; retry 1 of 2 in 5.0s\n")
    assert lines[2].startswith(f"{name}: retry in 10.0s: ")
    assert lines[3].startswith(f"{name}: give-up: ")
    status = json.loads(run("status", "--state", str(state), "--json").stdout)
    assert status[name]["phase"] == "given-up"


@pytest.mark.docker
def test_supervise_ctrl_c_leaves_the_container_and_exits_130(docker_host: str, tmp_path: Path) -> None:
    host = docker_host
    name = f"cli-{uuid.uuid4().hex[:8]}"
    args = [
        SCRIPT,
        "supervise",
        name,
        "--image",
        IMAGE,
        "--state",
        str(tmp_path / "s.db"),
        "--",
        "sleep",
        "60",
    ]
    env = {**os.environ, "DOCKER_HOST": host}
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(f"supervising {name}")
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
            _remove(host, name)
    assert process.returncode == 130, err
    assert out.splitlines()[-1] == f"stopped supervising {name}; the container is left as it is"


def _remove(host: str, workload: str) -> None:
    import docker

    client = docker.DockerClient(base_url=host)
    for container in client.containers.list(all=True, filters={"label": f"io.relaunch.workload={workload}"}):
        container.remove(force=True)


def test_supervise_exec_runs_a_crash_loop_to_its_give_up(tmp_path: Path) -> None:
    """--exec under toolhive(max_retries=3) with short delays: two retries, a give-up, exit code 1."""
    state = tmp_path / "state.json"
    result = run(
        "supervise", "loop", "--exec", "--preset", "toolhive", "--set", "max_retries=3",
        "--set", "initial_delay=0.05", "--state", str(state), "--", "sh", "-c", "exit 3",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[0] == "supervising loop (sh -c 'exit 3') with toolhive; Ctrl-C stops it"
    assert [line.split(":")[1].strip() for line in lines[1:]] == [
        "retry in 0.05s",
        "retry in 0.1s",
        "give-up",
    ]
    assert lines[-1].endswith("giving up: its budget (at most 2 restarts) is used up")
    status = json.loads(run("status", "--state", str(state), "--json").stdout)
    assert status["loop"]["phase"] == "given-up"


def test_supervise_exec_needs_a_command(tmp_path: Path) -> None:
    result = run("supervise", "loop", "--exec", "--state", str(tmp_path / "s.json"))
    assert (result.returncode, result.stderr) == (
        2,
        "relaunch supervise: error: --exec needs a command after -- (see relaunch supervise --help)\n",
    )


def test_supervise_needs_an_image_or_exec() -> None:
    result = run("supervise", "loop")
    assert result.returncode == 2
    assert "one of the arguments --image --exec is required" in result.stderr
