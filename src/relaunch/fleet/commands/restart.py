"""``relaunch ctl restart NAME``: stop NAME if it runs, then start it."""

from __future__ import annotations

from relaunch.fleet.commands.base import WorkloadCommand

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    from relaunch.fleet.api import FleetControl

__all__ = ["Restart"]


class Restart(WorkloadCommand):
    name = "restart"
    help = "stop NAME if it runs, then start it"
    done = "restarted"

    def act(self, fleet: FleetControl, name: str) -> None:
        fleet.restart(name)
