"""The fleet's refusal, :class:`FleetError`, apart from the interface that raises it (``api.py``).

The commands raise it on the daemon's side, and ``relaunch ctl`` imports every command to build
its parser; this module imports nothing, so the client does not pay for ``api.py``'s ``typing``
and ``pathlib`` to load a class it never raises.
"""

__all__ = ["FleetError"]


class FleetError(Exception):
    """A control request the fleet refuses; the message is shown to the user as it is."""
