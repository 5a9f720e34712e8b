"""Shared test configuration: Hypothesis profiles and the Docker engine fixtures.

Hypothesis: ``default`` is fast for local runs; ``ci`` (``HYPOTHESIS_PROFILE=ci``, set by
.ci/run) tries ten times as many examples per property.

Docker tests run against a real engine named by DOCKER_HOST, never a mock. Without DOCKER_HOST
they are skipped with the reason; with RELAUNCH_REQUIRE_DOCKER=1 (set by .ci/run) a missing or
unreachable engine fails them instead, so CI cannot pass by skipping. Disruption tests start a
second private engine of their own with ``scripts/docker-engine`` and signal and stop only that
daemon, by its pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    import docker

    from dockerkit import Harnesses

ROOT = Path(__file__).resolve().parent.parent
ENGINE_SCRIPT = ROOT / "scripts" / "docker-engine"
IMAGE = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")
REQUIRE_DOCKER = os.environ.get("RELAUNCH_REQUIRE_DOCKER") == "1"

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def docker_unavailable(reason: str) -> NoReturn:
    """Skip, or fail when RELAUNCH_REQUIRE_DOCKER=1 says a skip would hide a broken CI."""
    if REQUIRE_DOCKER:
        pytest.fail(f"RELAUNCH_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"Docker tests skipped: {reason}")


def _client(host: str) -> docker.DockerClient:
    try:
        import docker
    except ImportError:
        docker_unavailable("the docker SDK is not installed (pip install 'relaunch[docker]')")
    return docker.DockerClient(base_url=host, timeout=30)


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The engine under test; skips (or fails, see module docstring) when there is none."""
    host = os.environ.get("DOCKER_HOST")
    if not host:
        docker_unavailable("DOCKER_HOST is not set (start one: scripts/docker-engine start DIR)")
    import docker.errors
    import requests.exceptions

    client = _client(host)
    try:
        client.ping()
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        docker_unavailable(f"image {IMAGE} is missing at {host} (scripts/docker-engine imports it)")
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        docker_unavailable(f"no engine answers at {host}: {exc}")
    finally:
        client.close()
    return host


@pytest.fixture
def docker_client(docker_host: str) -> Iterator[docker.DockerClient]:
    client = _client(docker_host)
    yield client
    client.close()


@pytest.fixture
def supervisor_id() -> str:
    """A supervisor id of its own per test, so tests never see each other's containers."""
    return "t" + uuid.uuid4().hex[:10]


def remove_labelled(client: docker.DockerClient, supervisor_id: str) -> None:
    for container in client.containers.list(
        all=True, filters={"label": f"io.relaunch.supervisor={supervisor_id}"}
    ):
        container.remove(force=True)


@pytest.fixture
def cleanup(docker_client: docker.DockerClient, supervisor_id: str) -> Iterator[None]:
    """Remove the test's containers afterwards (they outlive supervisors by design)."""
    yield
    remove_labelled(docker_client, supervisor_id)


class Engine:
    """A private dockerd of the tests' own, controlled by its pid only."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.host = f"unix://{directory}/docker.sock"

    def start(self) -> None:
        result = subprocess.run(
            [str(ENGINE_SCRIPT), "start", str(self.dir)], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            docker_unavailable(f"scripts/docker-engine could not start a second engine: {result.stderr}")

    def stop(self) -> None:
        subprocess.run([str(ENGINE_SCRIPT), "stop", str(self.dir)], capture_output=True, timeout=60)

    @property
    def pid(self) -> int:
        return int((self.dir / "docker.pid").read_text())

    def signal(self, sig: signal.Signals) -> int:
        pid = self.pid
        os.kill(pid, sig)
        return pid

    def wait_gone(self, pid: int, timeout: float = 30.0) -> None:
        """Wait for the daemon to exit (a zombie counts as gone: init reaps it late here)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            except FileNotFoundError:
                return
            if state in ("Z", "X"):
                return
            time.sleep(0.05)
        raise AssertionError(f"dockerd {pid} did not exit within {timeout}s")


@pytest.fixture(scope="session")
def second_engine(docker_host: str) -> Iterator[Engine]:
    """A second private engine for disruption tests (needs root, as dockerd does)."""
    if os.geteuid() != 0:
        docker_unavailable("disruption tests start their own dockerd and need root")
    # Short path: unix socket paths are limited to 107 bytes.
    engine = Engine(Path(tempfile.mkdtemp(prefix="rl-eng-", dir="/tmp")))
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(engine.dir, ignore_errors=True)


@pytest.fixture
def harness(docker_host: str, supervisor_id: str, tmp_path: Path, cleanup: None) -> Iterator[Harnesses]:
    """Supervisors on the engine under test, with this test's id and state file; closed after."""
    from dockerkit import Harnesses

    made = Harnesses(docker_host, supervisor_id, tmp_path)
    yield made
    made.close()
