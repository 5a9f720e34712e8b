"""What the control plane and the metrics need of a running fleet: the :class:`FleetControl` interface.

The daemon (``relaunch run``) implements it; ``control.py`` (the socket), the commands and
``metrics.py`` only call it, so they can be tested against a small in-memory fleet. Like trio's
``Clock`` in ``trio/_abc.py`` (python-trio/trio), the interface lives apart from its
implementation and says for each method what it must do.

Every method may be called from several threads at once (one per control connection, and the
metrics scrape), so an implementation must be thread-safe. A refusal is a :class:`FleetError`
whose message is shown to the user as it is: one line, naming the workload or the file.

A status row (:meth:`FleetControl.status`) is a dict with exactly the keys of :data:`STATUS_KEYS`,
JSON-ready (no infinities, no enums, no datetimes):

==============  ============================================================================
key             value
==============  ============================================================================
``name``        the workload's name (str)
``kind``        ``"exec"`` (a local command) or ``"container"``
``group``       the group it belongs to (str), or None
``phase``       the phase's value (``relaunch.adapters.phase.Phase``): ``"running"``, ...
``pid``         the process id of the live run of an ``exec`` workload (int), else None
``container``   the container name of the live run of a ``container`` workload (str), else None
``started_at``  Unix seconds the live run started (float), or None when nothing runs
``uptime``      seconds the live run has been up (float), or None when nothing runs
``restarts``    automatic restarts in the persisted state (int; survives daemon restarts)
``attempt``     restarts in the current unstable streak (int)
``budget_left`` restarts the budget still admits now (float), None when it is unlimited, or
                ``"unknown"`` when the saved state does not fit the policy (the file's
                policy changed while relaunch was down; its next decision says so)
``restart_at``  Unix seconds of the scheduled restart (float), or None unless backing off
``reason``      the last decision's one-line reason (str), or None before any decision
``rule``        the last decision's rule code (``relaunch.Rule`` value, str), or None
``health``      the latest health verdict (str), or None without a health check or report
==============  ============================================================================

``budget_left`` is None rather than ``math.inf`` for an unlimited budget because JSON has no
infinity (``json.dumps`` would write ``Infinity``, which strict parsers refuse).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from relaunch.fleet.errors import FleetError

__all__ = ["STATUS_KEYS", "FleetControl", "FleetError"]

#: The keys of every status row, in the order the table above gives them.
STATUS_KEYS = (
    "name",
    "kind",
    "group",
    "phase",
    "pid",
    "container",
    "started_at",
    "uptime",
    "restarts",
    "attempt",
    "budget_left",
    "restart_at",
    "reason",
    "rule",
    "health",
)


class FleetControl(Protocol):
    """What ``relaunch ctl`` and the metrics may ask of a running fleet (see the module docstring)."""

    def status(self) -> list[dict[str, Any]]:
        """One status row per workload, in the order of the fleet file."""
        ...

    def start(self, name: str) -> None:
        """Start ``name`` now if it is not running (a given-up workload too); FleetError if unknown."""
        ...

    def stop(self, name: str) -> None:
        """Stop ``name`` and keep it down until started; FleetError if unknown."""
        ...

    def restart(self, name: str) -> None:
        """Stop ``name`` if it runs, then start it; FleetError if unknown."""
        ...

    def reload(self) -> dict[str, list[str]]:
        """Apply the fleet file as it is now, as ``supervisorctl update`` does.

        Returns the names under ``"added"``, ``"removed"``, ``"restarted"`` (definition changed)
        and ``"unchanged"`` (budgets kept). A file that does not validate raises FleetError with
        its one-line validation error, and nothing is applied.
        """
        ...

    def log_path(self, name: str, stream: str) -> Path:
        """The file that holds ``name``'s ``stream`` (``"stdout"`` or ``"stderr"``).

        FleetError if ``name`` is unknown or has no such log (a container, or output inherited
        from the daemon).
        """
        ...
