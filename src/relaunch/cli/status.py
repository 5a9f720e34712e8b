"""``relaunch status``: the workloads persisted in state files, as ``supervise`` left them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import Command, UsageError, adapter, json_flag, print_json, prog
from .state import CONTAINER_STATE, EXEC_STATE, default_state_paths, state_error


class Status(Command):
    name = "status"
    help = "show the workloads in state files"
    description = (
        "Show the persisted workloads: those of --state FILE, or by default those of every "
        f"state file supervise writes by default in the current folder ({CONTAINER_STATE} and "
        f"{EXEC_STATE.format(name='*')})."
    )
    examples = ("relaunch status", "relaunch status --state /var/lib/relaunch/web.db --json")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--state",
            metavar="FILE",
            help=f"the state file (default: {CONTAINER_STATE} and {EXEC_STATE.format(name='*')} here)",
        )
        json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        if args.state is not None:
            paths = [Path(args.state)]
        else:
            paths = default_state_paths()
            if not paths:
                raise UsageError(
                    f"{prog(args)}: error: no state file here ({CONTAINER_STATE} or "
                    f"{EXEC_STATE.format(name='NAME')}, which supervise writes by default); "
                    "give the one supervise --state wrote with --state FILE"
                )
        rows: dict[str, dict[str, Any]] = {}
        for path in paths:
            for name, row in _read_status(args, path).items():
                rows[name if name not in rows else f"{name} ({path})"] = row
        if args.json:
            print_json(rows)
            return 0
        if not rows:
            print(f"{', '.join(map(str, paths))}: no workloads")
        for name, row in rows.items():
            restart = "" if row["restart_at"] is None else f", restart at {row['restart_at']}"
            streak = f"({row['attempt']} in this streak)"
            print(f"{name}: {row['phase']}, {row['restarts']} restarts {streak}{restart}")
            if row["reason"]:
                print(f"  last decision: {row['reason']}")
        return 0


def _read_status(args: argparse.Namespace, path: Path) -> dict[str, dict[str, Any]]:
    """The status rows of one state store. The reading (and the check of every row) is the
    store's; this turns every failure into one line naming the file (and the workload)."""
    if path.is_dir():
        raise UsageError(f"{prog(args)}: error: {path}: is a folder, not a state file")
    if not path.exists():
        hint = f" (supervise --exec NAME writes {EXEC_STATE.format(name='NAME')})"
        hint = "" if args.state is None else hint
        raise UsageError(f"{prog(args)}: error: {path}: no such state file{hint}")
    store = adapter(args, "relaunch.adapters.store")
    try:
        meta, records = store.read_store(path)
    except (OSError, ValueError) as error:  # StoreError names the workload and field of a bad row
        raise state_error(args, path, error) from None
    rows = {name: _workload_status(record) for name, record in sorted(records.items())}
    for row in rows.values():
        row["saved_at"] = None if meta.last_commit_at is None else _iso(meta.last_commit_at)
        if args.state is None:
            row["state_file"] = str(path)
    return rows


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _workload_status(record: Any) -> dict[str, Any]:
    """One persisted workload (a ``store.WorkloadRecord``, checked when read) as a status row."""
    return {
        "phase": record.phase.value,
        "restarts": record.state.restarts,
        "attempt": record.state.attempt,
        "given_up": record.state.given_up,
        "restart_at": None if record.restart_at is None else _iso(record.restart_at),
        "rule": None if record.rule is None else record.rule.value,
        "reason": record.reason,
    }
