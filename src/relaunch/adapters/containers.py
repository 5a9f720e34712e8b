"""What a container of ours is: its name, its labels, and the :class:`ContainerSpec` it is made from.

What this module owns: the deterministic name of a workload's container, the rule names must
follow, the two labels that make a container ours (and the check that refuses one that lacks
them), and the spec's fields with their checks, made once, when the spec is made. It must not
talk to the engine: ``docker.py`` creates, inspects and starts containers, ``docker_events.py``
follows their events. No threads, no locks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docker.models.containers import RUN_CREATE_KWARGS, RUN_HOST_CONFIG_KWARGS

from relaunch.adapters.runtime import SupervisorError

__all__ = [
    "LABEL_SUPERVISOR",
    "LABEL_WORKLOAD",
    "NAME_RULE",
    "ContainerSpec",
    "ForeignContainerError",
    "check_ours",
    "container_name",
    "labels",
]

LABEL_SUPERVISOR = "io.relaunch.supervisor"
LABEL_WORKLOAD = "io.relaunch.workload"

# Docker's own rule for container names (daemon/names: validContainerNamePattern).
NAME_RULE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")

# What containers.create() accepts (the SDK's own lists of its keyword arguments).
_CREATE_OPTIONS = frozenset(RUN_CREATE_KWARGS) | frozenset(RUN_HOST_CONFIG_KWARGS)

# create() arguments the adapter owns: a user value would break supervision.
_RESERVED = frozenset({"name", "restart_policy", "auto_remove", "detach", "image", "command"})


class ForeignContainerError(SupervisorError):
    """A container with the workload's name exists but does not carry our supervisor label."""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """How to create a workload's container: an image, a command and other ``create()`` options.

    ``options`` are passed to ``docker.DockerClient.containers.create`` (e.g. ``network_mode``,
    ``mem_limit``, ``environment``); the name, restart policy and ``auto_remove`` are the
    adapter's (Docker's own restarts would fight ours, and a removed container loses its exit
    State), and our labels are added to any given.
    """

    image: str
    command: str | list[str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reserved = sorted(_RESERVED & set(self.options))
        if reserved:
            raise ValueError(f"ContainerSpec.options: {', '.join(reserved)} are set by the adapter")
        # Fail here, not at every restart: create() rejects unknown options with a TypeError.
        unknown = sorted(set(self.options) - _CREATE_OPTIONS)
        if unknown:
            raise ValueError(f"ContainerSpec.options: not create() options: {', '.join(unknown)}")


def container_name(supervisor_id: str, workload: str) -> str:
    """The deterministic container name of ``workload`` under ``supervisor_id``."""
    return f"relaunch-{supervisor_id}-{workload}"


def labels(spec: ContainerSpec, supervisor_id: str, workload: str) -> dict[str, str]:
    """The labels ``workload``'s container is created with: the spec's own, and ours over them."""
    return {
        **dict(spec.options.get("labels") or {}),
        LABEL_SUPERVISOR: supervisor_id,
        LABEL_WORKLOAD: workload,
    }


def check_ours(attrs: Mapping[str, Any], supervisor_id: str, workload: str) -> None:
    """ForeignContainerError unless the inspected container carries both of our labels."""
    found = attrs["Config"].get("Labels") or {}
    if found.get(LABEL_SUPERVISOR) != supervisor_id or found.get(LABEL_WORKLOAD) != workload:
        raise ForeignContainerError(
            f"container {attrs['Name'].lstrip('/')!r} exists but is not labelled "
            f"{LABEL_SUPERVISOR}={supervisor_id}, {LABEL_WORKLOAD}={workload}; refusing to adopt it"
        )
