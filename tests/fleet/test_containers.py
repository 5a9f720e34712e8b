"""Containers and commands in one fleet file, on the real engines (Docker and Podman)."""

from __future__ import annotations

import signal
from pathlib import Path

import docker
import pytest

from conftest import IMAGE
from fleet.fleetkit import RunningFleet, exec_table, marked, toml_list, toml_string, wait_for

pytestmark = pytest.mark.docker


def body(supervisor_id: str, host: str) -> str:
    text = f'[fleet]\nid = "{supervisor_id}"\nstop_grace = "1s"\n\n'
    text += exec_table("cmd", ["sleep", "1000"])
    text += f"[workload.box]\nimage = {toml_string(IMAGE)}\ncommand = {toml_list(['sleep', '1000'])}\n"
    text += f"engine = {toml_string(host)}\n"
    return text


def test_a_container_and_a_command_in_one_file(
    tmp_path: Path,
    fleets: list[RunningFleet],
    docker_host: str,
    docker_client: docker.DockerClient,
    supervisor_id: str,
    cleanup: None,
) -> None:
    """One file runs a command and a container; ctl restarts the container; SIGTERM stops both."""
    fleet = RunningFleet(tmp_path, body(supervisor_id, docker_host)).start()
    fleets.append(fleet)
    rows = wait_for(lambda: fleet.all_running(["cmd", "box"]), 60, "both running")
    name = rows["box"]["container"]
    assert name == f"relaunch-{supervisor_id}-box"
    container = docker_client.containers.get(name)
    assert container.attrs["HostConfig"]["NetworkMode"] == "none"
    started = container.attrs["State"]["StartedAt"]

    fleet.ctl("restart", name="box")
    wait_for(
        lambda: (
            docker_client.containers.get(name).attrs["State"]["StartedAt"] != started
            and fleet.all_running(["box"])
        ),
        60,
        "the container restarted",
    )
    assert fleet.rows()["box"]["restarts"] == rows["box"]["restarts"]

    fleet.signal(signal.SIGTERM)
    assert fleet.wait(90) == 0
    assert docker_client.containers.get(name).attrs["State"]["Running"] is False
    assert marked("cmd", tmp_path) == []
