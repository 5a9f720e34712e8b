"""``relaunch supervise`` and ``relaunch status``: the Docker adapter from the shell.

Without the adapter (``relaunch.adapters.supervisor`` and ``.docker``) both commands fail with one
line saying so. With it, ``status`` reads a state file, and ``supervise`` runs a container on the
engine named by DOCKER_HOST (skipped without one; failed instead under RELAUNCH_REQUIRE_DOCKER=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from relaunch import Outcome, presets

SCRIPT = str(Path(sys.executable).parent / "relaunch")
HAS_ADAPTER = importlib.util.find_spec("relaunch.adapters.supervisor") is not None
IMAGE = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")

needs_adapter = pytest.mark.skipif(not HAS_ADAPTER, reason="the Docker adapter is not in this tree")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(HAS_ADAPTER, reason="the Docker adapter is in this tree")
@pytest.mark.parametrize(
    ("args", "module"),
    [
        (["supervise", "web", "--image", "busybox"], "relaunch.adapters.supervisor"),
        (["status", "--state", "state.json"], "relaunch.adapters.store"),
    ],
)
def test_without_the_adapter_the_commands_say_so(args: list[str], module: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr == (
        f"relaunch {args[0]}: error: needs the Docker adapter ({module}), "
        "which this version of relaunch does not include\n"
    )


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
    return path


@needs_adapter
def test_status_shows_the_persisted_workloads(tmp_path: Path) -> None:
    path = _state_file(tmp_path)
    result = run("status", "--state", str(path))
    assert result.returncode == 0
    assert result.stdout == (
        "web: given-up, 2 restarts (2 in this streak)\n"
        "  last decision: ran 2.0s (< 30.0s stable threshold), exit 3; giving up: at most 2 restarts used up\n"
    )
    data = json.loads(run("status", "--state", str(path), "--json").stdout)
    assert data["web"]["rule"] == "budget-exhausted"
    assert data["web"]["given_up"] is True


@needs_adapter
def test_status_of_a_missing_state_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    result = run("status", "--state", str(path))
    assert (result.returncode, result.stderr) == (2, f"relaunch status: error: {path}: no such state file\n")


def _engine() -> str:
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    if os.environ.get("RELAUNCH_REQUIRE_DOCKER") == "1":
        pytest.fail("RELAUNCH_REQUIRE_DOCKER=1 but DOCKER_HOST is not set", pytrace=False)
    pytest.skip("Docker tests skipped: DOCKER_HOST is not set")


@needs_adapter
@pytest.mark.docker
def test_supervise_prints_each_decision_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """A crash-looping container under toolhive(max_retries=3): two retries, a give-up, then Ctrl-C."""
    host = _engine()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    state = tmp_path / "state.json"
    args = [SCRIPT, "supervise", name, "--image", IMAGE, "--preset", "toolhive", "--set", "max_retries=3"]
    args += ["--state", str(state), "--", "sh", "-c", "sleep 1; exit 3"]
    env = {**os.environ, "DOCKER_HOST": host}
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline()]
            deadline = time.monotonic() + 60
            while "give-up" not in lines[-1] and time.monotonic() < deadline and lines[-1]:
                lines.append(process.stdout.readline())
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
            _remove(host, name)
    lines += out.splitlines(keepends=True)
    assert process.returncode == 0, err
    assert lines[0] == f"supervising {name} ({IMAGE}) with toolhive; Ctrl-C stops supervising\n"
    assert lines[1].startswith(f"{name}: retry in 5.0s: ran ")
    assert lines[1].endswith("exit 3; retry 1 of 2 in 5.0s\n")
    assert lines[2].startswith(f"{name}: retry in 10.0s: ")
    assert lines[3].startswith(f"{name}: give-up: ")
    assert lines[-1] == f"stopped supervising {name}; the container is left as it is\n"
    status = json.loads(run("status", "--state", str(state), "--json").stdout)
    assert status[name]["phase"] == "given-up"


def _remove(host: str, workload: str) -> None:
    import docker

    client = docker.DockerClient(base_url=host)
    for container in client.containers.list(all=True, filters={"label": f"io.relaunch.workload={workload}"}):
        container.remove(force=True)
