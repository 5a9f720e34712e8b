"""Shared test configuration: Hypothesis profiles and the container engine fixtures.

Hypothesis: ``default`` is fast for local runs; ``ci`` (``HYPOTHESIS_PROFILE=ci``, set by
.ci/run) tries ten times as many examples per property.

Container tests run against real engines, never a mock, once per engine kind: Docker named by
DOCKER_HOST and Podman named by PODMAN_HOST (both speak the Docker API; the test ids say which,
``[docker]`` or ``[podman]``). Without the variable, or when it names the other kind of engine,
that kind's tests are skipped with the reason; with RELAUNCH_REQUIRE_DOCKER=1 (set by .ci/run) a
missing or unreachable engine of either kind fails them instead, so CI cannot pass by skipping.
Disruption tests start a second private engine of their own per kind with
``scripts/docker-engine`` or ``scripts/podman-engine`` and signal and stop only that process,
by its pid.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    import docker

    from dockerkit import Harnesses

ROOT = Path(__file__).resolve().parent.parent
IMAGE = os.environ.get("RELAUNCH_TEST_IMAGE", "relaunch-test/busybox:latest")
REQUIRE_DOCKER = os.environ.get("RELAUNCH_REQUIRE_DOCKER") == "1"

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@dataclass(frozen=True)
class EngineKind:
    """One kind of engine the container tests run against."""

    name: str  # "docker" or "podman": the test id
    env: str  # the variable naming the engine under test
    script: Path  # starts a private one (scripts/docker-engine, scripts/podman-engine)
    socket: str  # the socket's file name under the script's DIR
    pidfile: str  # the pidfile the script writes under DIR

    @property
    def podman(self) -> bool:
        return self.name == "podman"


ENGINES = {
    "docker": EngineKind(
        "docker", "DOCKER_HOST", ROOT / "scripts" / "docker-engine", "docker.sock", "docker.pid"
    ),
    "podman": EngineKind(
        "podman", "PODMAN_HOST", ROOT / "scripts" / "podman-engine", "podman.sock", "podman.pid"
    ),
}


def docker_unavailable(reason: str) -> NoReturn:
    """Skip, or fail when RELAUNCH_REQUIRE_DOCKER=1 says a skip would hide a broken CI."""
    if REQUIRE_DOCKER:
        pytest.fail(f"RELAUNCH_REQUIRE_DOCKER=1 but {reason}", pytrace=False)
    pytest.skip(f"container tests skipped: {reason}")


def is_podman(client: docker.DockerClient) -> bool:
    """Podman names itself in the version's components (measured: "Podman Engine")."""
    return any(c.get("Name") == "Podman Engine" for c in client.version().get("Components") or [])


def _client(host: str) -> docker.DockerClient:
    try:
        import docker
    except ImportError:
        docker_unavailable("the docker SDK is not installed (pip install 'relaunch[docker]')")
    return docker.DockerClient(base_url=host, timeout=30)


@pytest.fixture(scope="session", params=sorted(ENGINES))
def engine_kind(request: pytest.FixtureRequest) -> EngineKind:
    """The kind of engine under test: every container test runs once per kind."""
    return ENGINES[request.param]


def engine_host(kind: EngineKind) -> str:
    """The engine of this kind; skips (or fails, see module docstring) when there is none."""
    host = os.environ.get(kind.env)
    if not host:
        docker_unavailable(f"{kind.env} is not set (start one: {kind.script.relative_to(ROOT)} start DIR)")
    import docker.errors
    import requests.exceptions

    client = _client(host)
    try:
        client.ping()
        if is_podman(client) is not kind.podman:
            docker_unavailable(f"{kind.env}={host} is not a {kind.name} engine")
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        docker_unavailable(f"image {IMAGE} is missing at {host} ({kind.script.name} imports it)")
    except (requests.exceptions.RequestException, docker.errors.DockerException) as exc:
        docker_unavailable(f"no engine answers at {host}: {exc}")
    finally:
        client.close()
    return host


@pytest.fixture(scope="session")
def docker_host(engine_kind: EngineKind) -> str:
    """The engine under test (Docker or Podman, see ``engine_kind``)."""
    return engine_host(engine_kind)


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
    """A private engine of the tests' own (dockerd or a Podman service), controlled by its pid only."""

    def __init__(self, kind: EngineKind, directory: Path) -> None:
        self.kind = kind
        self.dir = directory
        self.host = f"unix://{directory}/{kind.socket}"

    def start(self) -> None:
        result = subprocess.run(
            [str(self.kind.script), "start", str(self.dir)], capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            docker_unavailable(f"{self.kind.script.name} could not start a second engine: {result.stderr}")

    def stop(self) -> None:
        subprocess.run([str(self.kind.script), "stop", str(self.dir)], capture_output=True, timeout=60)

    @property
    def pid(self) -> int:
        return int((self.dir / self.kind.pidfile).read_text())

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
        raise AssertionError(f"{self.kind.name} engine {pid} did not exit within {timeout}s")


@pytest.fixture(scope="session")
def second_engine(engine_kind: EngineKind, docker_host: str) -> Iterator[Engine]:
    """A second private engine of the kind under test for disruption tests (needs root)."""
    if os.geteuid() != 0:
        docker_unavailable(f"disruption tests start their own {engine_kind.name} engine and need root")
    # Short path: unix socket paths are limited to 107 bytes.
    engine = Engine(engine_kind, Path(tempfile.mkdtemp(prefix=f"rl-{engine_kind.name[0]}eng-", dir="/tmp")))
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
