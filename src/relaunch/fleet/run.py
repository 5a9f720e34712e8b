"""The ``relaunch run`` command: check the file, take the store, serve control and metrics, supervise.

Everything that can be wrong with the input is found before anything starts, and reported as
one line naming the file, table and key (exit 2): the whole file is checked by ``config.load``;
a store held by another live ``relaunch run`` is refused by the store's own lock (the holder's
pid in the message); a bad ``--metrics`` address names itself. The control socket is bound
only once the store is ours, so a refused second daemon never touches the first one's socket.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from relaunch.adapters.runtime import SupervisorError
from relaunch.fleet.api import FleetError
from relaunch.fleet.config import ConfigError, load

__all__ = ["run"]

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _fail(message: str) -> int:
    print(f"relaunch run: error: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def run(file: str, *, metrics_address: str | None = None, quiet: bool = False) -> int:
    """Supervise the fleet in ``file`` until SIGTERM or SIGINT; the exit code."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load(file)
    except ConfigError as error:
        return _fail(str(error))
    if not config.store.parent.is_dir():
        return _fail(f"{config.path}: [fleet] store: the folder {str(config.store.parent)!r} does not exist")
    from relaunch.adapters.store import SqliteStore
    from relaunch.fleet.control import ControlServer
    from relaunch.fleet.daemon import Fleet
    from relaunch.fleet.metrics import FleetMetrics, TimedStore, serve

    metrics = None if metrics_address is None else FleetMetrics()
    store = SqliteStore(config.store)
    try:
        fleet = Fleet(
            config,
            on_decision=None if metrics is None else metrics.on_decision,
            store=store if metrics is None else TimedStore(store, metrics.observe_commit),
        )
    except (SupervisorError, OSError, ValueError) as error:  # StoreBusy names the live holder
        return _fail(f"{config.store}: {error}")
    closers = []
    try:
        if config.logs is not None:
            config.logs.mkdir(parents=True, exist_ok=True)
        try:
            control = ControlServer(config.socket, fleet)
        except (OSError, ValueError) as error:
            return _fail(f"control socket {config.socket}: {error}")
        closers.append(control.close)
        if metrics is not None:
            metrics.bind(fleet, fleet.supervisor.store_health)
            try:
                closers.append(serve(metrics_address or "", metrics.registry).close)
            except (OSError, ValueError) as error:
                return _fail(f"--metrics {metrics_address}: {error}")
        try:
            return fleet.serve()
        except FleetError as error:
            return _fail(str(error))
    finally:
        for close in reversed(closers):
            close()
        fleet.close()


def default_file() -> Path:
    from relaunch.fleet.config import DEFAULT_FILE

    return Path(DEFAULT_FILE)
