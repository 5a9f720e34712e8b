"""The ``relaunch run`` command: check the file, take the store, serve control and metrics, supervise.

Everything that can be wrong with the input is found before anything starts, and reported as
one line naming the file, table and key (exit 2): the whole file is checked by ``config.load``;
a bad ``--metrics`` address names itself; a store held by another live ``relaunch run`` is
refused by the store's own lock (the holder's pid in the message). The control socket is bound
only once the store is ours, so a refused second daemon never touches the first one's socket.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from relaunch.fleet.paths import DEFAULT_FILE

__all__ = ["add_arguments", "run", "run_main"]

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def _fail(message: str) -> int:
    print(f"relaunch run: error: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", default=DEFAULT_FILE, help=f"the fleet file (default ./{DEFAULT_FILE})"
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics there (e.g. 127.0.0.1:9100); none by default",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="log warnings and errors only, not every decision"
    )


def run_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="relaunch run", description="Supervise every workload of a fleet file."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args.file, metrics_address=args.metrics, quiet=args.quiet)


def run(file: str, *, metrics_address: str | None = None, quiet: bool = False) -> int:
    """Supervise the fleet in ``file`` until SIGTERM or SIGINT; the exit code."""
    from relaunch.adapters.runtime import SupervisorError
    from relaunch.adapters.store import SqliteStore, Store
    from relaunch.fleet.api import FleetError
    from relaunch.fleet.commands import get_commands
    from relaunch.fleet.config import ConfigError, load
    from relaunch.fleet.control import ControlServer
    from relaunch.fleet.daemon import Fleet

    try:
        config = load(file)
    except ConfigError as error:
        return _fail(str(error))
    if metrics_address is not None:
        try:
            from relaunch.fleet.metrics import FleetMetrics, TimedStore, parse_address
        except ModuleNotFoundError:
            return _fail("--metrics needs prometheus_client: pip install 'relaunch[metrics]'")
        try:
            parse_address(metrics_address)
        except ValueError as error:
            return _fail(str(error))
    if not config.store.parent.is_dir():
        return _fail(f"{config.path}: [fleet] store: the folder {str(config.store.parent)!r} does not exist")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The format names no source line, thread or process: every record would look them up for
    # nothing (the Logging HOWTO, "Optimization"): a decision's record cost 11.1 us of CPU with
    # them, 8.9 us without, and every restart logs its decision and its start.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    store: Store = SqliteStore(config.store)
    metrics = None
    if metrics_address is not None:
        metrics = FleetMetrics()
        store = TimedStore(store, metrics.observe_commit)
    try:
        fleet = Fleet(config, on_decision=None if metrics is None else metrics.on_decision, store=store)
    except (SupervisorError, OSError, ValueError) as error:  # StoreBusy names the live holder
        return _fail(str(error))
    closers: list[Callable[[], None]] = []
    try:
        if config.logs is not None:
            config.logs.mkdir(parents=True, exist_ok=True)
        try:
            closers.append(ControlServer(config.socket, fleet, get_commands()).close)
        except (OSError, ValueError) as error:
            return _fail(f"control socket {config.socket}: {error}")
        if metrics is not None and metrics_address is not None:
            metrics.bind(fleet, lambda: fleet.supervisor.store_health().ok)
            try:
                closers.append(metrics.serve(metrics_address).close)
            except (OSError, ValueError) as error:
                return _fail(str(error))
        try:
            return fleet.serve()
        except FleetError as error:
            return _fail(str(error))
    finally:
        for close in reversed(closers):
            close()
        fleet.close()
