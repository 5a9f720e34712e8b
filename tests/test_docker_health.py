"""Health-driven restarts of containers on a real engine (DOCKER_HOST): Docker's own HEALTHCHECK.

Docker only marks a container ``unhealthy`` (moby#28400); the runtime stops it and the core
restarts it through the policy as ``Cause.UNHEALTHY``. Probe intervals are 0.1 s so each test
takes seconds; the hour-long version of "fails later" is the probe machine's unit test
(``tests/kernel/test_health.py``), on virtual time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from conftest import IMAGE
from dockerkit import RUN_FOREVER, Harnesses, spec, wait_until
from relaunch import Action, Cause, Constant, CountBudget, Policy, Rule, Verdict
from relaunch.adapters.docker import ContainerSpec
from relaunch.adapters.supervisor import Phase

# Docker only: Podman runs health checks from systemd timers, and without systemd (this machine,
# CI) they never run (adapters/docker.py, "Podman"); there is nothing to test there.
pytestmark = [pytest.mark.docker, pytest.mark.parametrize("engine_kind", ["docker"], indirect=True)]

MS = 1_000_000  # the Engine API's durations are nanoseconds


def healthcheck(
    test: str, *, interval_ms: int = 100, retries: int = 2, start_period_ms: int = 0
) -> dict[str, Any]:
    return {
        "test": ["CMD-SHELL", test],
        "interval": interval_ms * MS,
        "timeout": 2000 * MS,
        "retries": retries,
        "start_period": start_period_ms * MS,
    }


def policy(restarts: int = 2) -> Policy:
    return Policy(backoff=Constant(0.1), budget=CountBudget(restarts))


def test_failing_healthcheck_is_restarted_as_unhealthy_until_the_budget_is_spent(harness: Harnesses) -> None:
    """A container whose HEALTHCHECK always fails is stopped as UNHEALTHY, restarted twice, then given up."""
    h = harness()
    h.supervisor.add("sick", spec(RUN_FOREVER, healthcheck=healthcheck("echo no answer; exit 1")), policy(2))
    h.wait_phase("sick", Phase.GIVEN_UP, timeout=30)
    events = h.of("sick")
    assert [e.outcome.cause for e in events] == [Cause.UNHEALTHY] * 3
    assert [e.decision.action for e in events] == [Action.RETRY, Action.RETRY, Action.GIVE_UP]
    assert events[0].decision.rule is Rule.UNHEALTHY
    assert events[-1].decision.rule is Rule.BUDGET_EXHAUSTED
    # Stopped by our `docker stop` (SIGTERM, which the trap turns into exit 0), yet not STOPPED.
    assert all(e.outcome.exit_code == 0 for e in events)
    for event in events:
        assert event.health is not None
        assert (event.health.verdict, event.health.output) == (Verdict.UNHEALTHY, "no answer")
        assert event.health.failures >= 2
    status = h.supervisor.status("sick")
    assert (status.restarts, status.rule) == (2, Rule.BUDGET_EXHAUSTED)


def test_healthy_within_its_start_period_is_never_restarted(harness: Harnesses) -> None:
    """Failures in the start period do not count: a container healthy after 0.5 s of a 3 s start period runs on."""
    h = harness()
    check = healthcheck("test -f /tmp/ready", retries=1, start_period_ms=3000)
    h.supervisor.add("slow", spec(f"sleep 0.5; touch /tmp/ready; {RUN_FOREVER}", healthcheck=check), policy())
    wait_until(
        lambda: (r := h.supervisor.status("slow").health) is not None and r.verdict is Verdict.HEALTHY,
        what="healthy",
    )
    time.sleep(3.0)  # past the start period, with a probe every 0.1 s
    status = h.supervisor.status("slow")
    assert h.of("slow") == []
    assert status.phase is Phase.RUNNING
    assert status.health is not None
    assert status.health.verdict is Verdict.HEALTHY


def test_healthcheck_that_starts_failing_later_restarts_the_container_once(
    harness: Harnesses, docker_client: docker.DockerClient
) -> None:
    """A healthy container whose check starts failing is restarted once, and the new run is healthy again."""
    h = harness()
    check = healthcheck("test -f /tmp/ok || { echo /tmp/ok is gone; exit 1; }")
    h.supervisor.add("later", spec(f"touch /tmp/ok; {RUN_FOREVER}", healthcheck=check), policy())

    def healthy() -> bool:
        report = h.supervisor.status("later").health
        return report is not None and report.verdict is Verdict.HEALTHY

    wait_until(healthy, what="healthy")
    first = h.container(docker_client, "later").attrs["State"]["StartedAt"]
    h.container(docker_client, "later").exec_run(["rm", "/tmp/ok"])
    (event,) = h.wait_decisions("later", 1)
    assert (event.outcome.cause, event.decision.action) == (Cause.UNHEALTHY, Action.RETRY)
    assert event.health is not None
    assert event.health.output == "/tmp/ok is gone"
    wait_until(healthy, what="healthy again")
    assert h.container(docker_client, "later").attrs["State"]["StartedAt"] != first
    time.sleep(1.0)
    assert len(h.of("later")) == 1


def test_operator_stop_of_a_container_with_a_healthcheck_is_stopped(harness: Harnesses) -> None:
    """An operator stop of a healthy container is STOPPED, never UNHEALTHY, and is not restarted."""
    h = harness()
    h.supervisor.add("calm", spec(RUN_FOREVER, healthcheck=healthcheck("true")), policy())
    wait_until(lambda: h.supervisor.status("calm").health is not None, what="a health report")
    h.supervisor.stop("calm")
    (event,) = h.wait_decisions("calm", 1)
    assert (event.outcome.cause, event.decision.action) == (Cause.STOPPED, Action.STOP)


@pytest.fixture
def sick_image(docker_client: docker.DockerClient) -> Iterator[str]:
    """An image of the test's own whose HEALTHCHECK always fails (built FROM the test image)."""
    import io

    tag = f"relaunch-test/sick-{uuid.uuid4().hex[:8]}:latest"
    dockerfile = (
        f"FROM {IMAGE}\nHEALTHCHECK --interval=100ms --timeout=2s --retries=2 CMD echo image check; exit 1\n"
    )
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, network_mode="none", rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


def test_the_images_own_healthcheck_is_honoured(harness: Harnesses, sick_image: str) -> None:
    """A HEALTHCHECK that comes from the image, not from the spec, stops and restarts the container too."""
    h = harness()
    container = ContainerSpec(sick_image, ["sh", "-c", RUN_FOREVER], {"network_mode": "none"})
    h.supervisor.add("image", container, policy(0))
    h.wait_phase("image", Phase.GIVEN_UP, timeout=30)
    (event,) = h.of("image")
    assert event.outcome.cause is Cause.UNHEALTHY
    assert event.health is not None
    assert event.health.output == "image check"
