"""Ready-made policies: the restart rules of real supervisors, built from the kernel's parts.

One module per system (``docker.py``, ``kubernetes.py`` ...); each preset is a plain
:class:`~relaunch.kernel.Policy` factory registered in :mod:`.registry`, the one list of presets
that ``get``, policy files, the CLI, the README table and the benchmarks read.

Each preset's docstring names the system and version it follows, the source it was read from
(repository, commit, file, function), what it does with ``OOM``, ``UNHEALTHY``, ``LOST`` and
``START_FAILED`` outcomes, and every deviation from the system. Called with no arguments a preset
is its system with no configuration. Parameters keep the system's own names (converted to
seconds) and are validated with :mod:`relaunch.kernel.validate`, so a
:class:`~relaunch.kernel.PolicyError` names the preset's parameter rather than a kernel part's.
"""

from __future__ import annotations

# Registration order is the catalog's order; names() sorts.
from .docker import docker
from .kubernetes import kubernetes, kubernetes_reduced
from .nomad import nomad
from .otp import elixir, otp
from .pm2 import pm2
from .recommended import recommended
from .registry import REGISTRY, Entry, Parameter, entry, get, names
from .supervisord import supervisord
from .systemd import systemd
from .toolhive import toolhive, toolhive_legacy

__all__ = [
    "REGISTRY",
    "Entry",
    "Parameter",
    "docker",
    "elixir",
    "entry",
    "get",
    "kubernetes",
    "kubernetes_reduced",
    "names",
    "nomad",
    "otp",
    "pm2",
    "recommended",
    "supervisord",
    "systemd",
    "toolhive",
    "toolhive_legacy",
]
