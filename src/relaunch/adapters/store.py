"""Durable supervisor state: one SQLite database per supervisor, one row per workload.

What is durable when (the design, after SQLite's own "Write-Ahead Logging" and "Atomic Commit"
documents, sqlite.org/wal.html and sqlite.org/atomiccommit.html):

- The database runs in WAL mode with ``synchronous=FULL``: a transaction is durable, even
  across a power loss, once :meth:`SqliteStore.commit` returns (the WAL is fsynced at each
  commit), and a transaction interrupted at any instant (SIGKILL, power) is simply absent on the
  next open. Each commit writes only the rows it is given: one per workload whose state changed
  since the last commit, and that workload's live-run row. The caller (``persistence.py``)
  batches every change that arrives while a commit is under way into the next one, so one fsync
  (about 0.2 ms here) is shared by every decision of a burst.
- **One owner.** :meth:`SqliteStore.open` takes an exclusive ``flock`` on the database file,
  which the kernel drops when the holder dies however it dies, so a dead holder is taken over
  without any cleanup; a live one makes it raise :class:`StoreBusy` naming the holder's pid,
  host and start time (recorded in the ``meta`` table). ``flock`` locks are independent of the
  POSIX record locks SQLite takes on the same file (flock(2), "Linux notes"), so readers such as
  ``relaunch status`` (:func:`read_store`) open it at any time.
- **Strict rows.** Every row is checked field by field when loaded; a malformed one is refused
  with a :class:`StoreError` naming the store, the workload and the field. Rows of workloads
  this supervisor does not supervise now, and ``meta`` keys it does not know, are never written
  or deleted, but those the supervisor removes (``Supervisor.remove``).
- **Versions.** ``PRAGMA user_version`` is the schema version; :data:`MIGRATIONS` upgrades older
  databases in one transaction each. A JSON state file of relaunch 0.1 (schema 1) at the path is
  imported on first open and kept beside it as ``<path>.json-v1.bak``.

The store is behind the small :class:`Store` interface, so that another store (a shared
database for many hosts) can be added without touching the core. This module knows the kernel's
value types but nothing of any runtime, except in the one-time import of 0.1's JSON file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from relaunch import Cause, Outcome, OutcomeError, Rule, State, StateError
from relaunch.adapters.phase import Phase
from relaunch.adapters.runtime import LiveRun, SupervisorError

__all__ = [
    "SCHEMA_VERSION",
    "Meta",
    "SqliteStore",
    "Store",
    "StoreBusy",
    "StoreError",
    "WorkloadRecord",
    "read_store",
]

#: The current schema (``PRAGMA user_version``); relaunch 0.1's JSON file was version 1.
SCHEMA_VERSION = 2

# A scheduled restart this far after the workload's last decision is not a delay any policy
# asks for (the longest, Nomad's "delay" mode, waits out a 24 h interval): the row is corrupt.
MAX_RESTART_AHEAD_S = 366 * 86400.0

_SQLITE_HEADER = b"SQLite format 3\x00"

# How long a store whose recorded holder is dead may stay locked before we call it busy.
TAKEOVER_WAIT_S = 2.0


class StoreError(ValueError):
    """The store exists but cannot be used: unreadable, malformed, of another supervisor."""


class StoreBusy(SupervisorError):
    """Another live supervisor holds the store."""


@dataclass(frozen=True, slots=True)
class WorkloadRecord:
    """Everything the core persists about one workload (one ``workloads`` row, one ``runs`` row)."""

    name: str
    state: State
    phase: Phase
    fresh: bool  # never started nor decided on by a supervisor of this store
    restart_at: float | None  # Unix seconds of the scheduled start, while backing off
    stop_requested: bool
    last_run: str | None  # the last run whose end was decided on (handled exactly once)
    last_outcome: Outcome | None
    reason: str | None
    rule: Rule | None
    run: LiveRun | None  # the live run, as the runtime reported it


@dataclass(frozen=True, slots=True)
class Meta:
    """The store's own facts: whose it is, its identity, and the runtime's resume point."""

    supervisor: str
    store_id: str  # unique to this store; runtimes mark what they create with it
    cursor: str | None
    owner_pid: int | None
    owner_host: str | None
    owner_since: float | None
    last_commit_at: float | None


class Store(Protocol):
    """What the core needs of a store. All methods but ``open`` may raise ``OSError`` or
    ``sqlite3.Error`` on I/O failure; the core keeps going from memory and retries."""

    @property
    def location(self) -> str:
        """Where the store is, for messages."""
        ...

    def open(self, supervisor_id: str) -> Meta:
        """Take ownership (or raise ``StoreBusy``), create or upgrade the schema, return the meta."""
        ...

    def load(self) -> dict[str, WorkloadRecord]:
        """Every workload row, each checked (``StoreError`` names the first bad field)."""
        ...

    def commit(
        self, records: Iterable[WorkloadRecord], cursor: str | None, forgotten: Collection[str] = ()
    ) -> None:
        """Write ``records`` (and the cursor, unless None) and delete the rows of the workloads
        ``forgotten`` (no longer supervised: ``Supervisor.remove``), in one durable transaction."""
        ...

    def close(self) -> None:
        """Release ownership; idempotent."""
        ...


_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) STRICT;
CREATE TABLE workloads (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    phase TEXT NOT NULL,
    fresh INTEGER NOT NULL,
    restart_at REAL,
    stop_requested INTEGER NOT NULL,
    last_run TEXT,
    last_outcome TEXT,
    reason TEXT,
    rule TEXT,
    updated_at REAL NOT NULL
) STRICT;
CREATE TABLE runs (
    name TEXT PRIMARY KEY REFERENCES workloads(name),
    key TEXT NOT NULL,
    started_at REAL NOT NULL,
    data TEXT NOT NULL
) STRICT;
"""


def _create(db: sqlite3.Connection) -> None:
    db.executescript(_TABLES)


#: ``MIGRATIONS[v]`` upgrades a database at version ``v`` to ``v + 1`` (0: an empty database).
#: Version 1 was never a database (it was 0.1's JSON file), so 0 goes straight to 2.
MIGRATIONS: dict[int, tuple[int, Callable[[sqlite3.Connection], None]]] = {0: (2, _create)}


class SqliteStore:
    """The SQLite store at ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        # Each workload's last written state and outcome, and their JSON: a restart writes its
        # row twice with the same two values (the decision with its start, then the run it
        # started), and their encoding was a third of the writer thread's Python time (yappi).
        self._encoded: dict[str, tuple[State, Outcome | None, str, str | None]] = {}

    @property
    def location(self) -> str:
        return str(self.path)

    # -- opening ----------------------------------------------------------------------------

    def open(self, supervisor_id: str) -> Meta:
        self._convert_legacy_json(supervisor_id)
        try:
            # O_CREAT so the lock and the database are one file; SQLite accepts an empty file.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except IsADirectoryError:
            raise StoreError(f"state store {self.path}: is a directory, not a store file") from None
        except FileNotFoundError:
            raise StoreError(f"state store {self.path}: folder {self.path.parent} does not exist") from None
        except OSError as exc:
            raise StoreError(f"state store {self.path}: cannot open: {exc.strerror}") from None
        if not self._lock(fd):
            os.close(fd)
            raise StoreBusy(f"state store {self.path}: {self._holder()}") from None
        self._lock_fd = fd
        try:
            self._check_header()
            self._db = _connect(self.path)
            self._upgrade(self._db)
            return self._claim(self._db, supervisor_id)
        except BaseException:
            self.close()
            raise

    def _lock(self, fd: int) -> bool:
        """Take the owner's flock; wait a moment for it if its recorded holder is dead.

        A holder killed while spawning can leave the lock for a few hundred microseconds to a
        child between its fork and its exec (the child's copy of the descriptor table closes
        the lock's descriptor only at exec), so a dead holder's lock is waited for briefly.
        """
        deadline = time.monotonic() + TAKEOVER_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline or self._holder_alive():
                    return False
                time.sleep(0.01)

    def _holder_alive(self) -> bool:
        try:
            meta = read_store(self.path)[0]
        except (StoreError, sqlite3.Error, OSError):
            return True  # cannot tell: assume the worst
        if meta.owner_pid is None or meta.owner_host != socket.gethostname():
            return True
        try:
            with open(f"/proc/{meta.owner_pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return False
        return state not in (b"Z", b"X")

    def _check_header(self) -> None:
        with open(self.path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
        if head and head != _SQLITE_HEADER:
            raise StoreError(f"state store {self.path}: not a relaunch store (not an SQLite database)")

    def _holder(self) -> str:
        try:
            meta = read_store(self.path)[0]
        except (StoreError, sqlite3.Error, OSError):
            return "held by another live supervisor"
        since = "" if meta.owner_since is None else f" since {_iso(meta.owner_since)}"
        return f"held by a live supervisor: pid {meta.owner_pid} on {meta.owner_host}{since}"

    def _upgrade(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        while version != SCHEMA_VERSION:
            if version not in MIGRATIONS:
                raise StoreError(
                    f"state store {self.path}: schema version {version} is not one this relaunch "
                    f"knows (it writes {SCHEMA_VERSION}); a newer relaunch made it?"
                )
            target, migrate = MIGRATIONS[version]
            with db:
                migrate(db)
                db.execute(f"PRAGMA user_version = {target}")
            version = target

    def _claim(self, db: sqlite3.Connection, supervisor_id: str) -> Meta:
        meta = _read_meta(db, self.path)
        if meta.get("supervisor", supervisor_id) != supervisor_id:
            raise StoreError(
                f"state store {self.path} belongs to supervisor {meta['supervisor']!r}, not {supervisor_id!r}"
            )
        claim = {
            "supervisor": supervisor_id,
            "store_id": meta.get("store_id") or uuid.uuid4().hex,
            "owner_pid": str(os.getpid()),
            "owner_host": socket.gethostname(),
            "owner_since": repr(time.time()),
        }
        with db:
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", claim.items())
        return _meta(self.path, {**meta, **claim})

    # -- the one-time import of relaunch 0.1's JSON file -------------------------------------

    def _convert_legacy_json(self, supervisor_id: str) -> None:
        """If ``path`` holds 0.1's JSON document, replace it by an equivalent store, atomically.

        Every row is checked before anything is written; the new database is built complete
        beside it and renamed over it, so at every instant ``path`` holds one or the other. The
        JSON file stays as ``<path>.json-v1.bak``.
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        if not raw.lstrip().startswith(b"{"):
            return
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"state store {self.path}: unreadable JSON state file: {exc}") from None
        if not isinstance(doc, dict) or doc.get("schema") != 1 or not isinstance(doc.get("workloads"), dict):
            raise StoreError(f"state store {self.path}: a JSON file, but not a relaunch 0.1 state file")
        owner = doc.get("supervisor")
        if owner != supervisor_id:
            raise StoreError(
                f"state store {self.path}: its JSON state belongs to supervisor {owner!r}, "
                f"not {supervisor_id!r}"
            )
        records, cursor = _legacy_records(self.location, doc)
        staging = self.path.with_name(f".{self.path.name}.import-{os.getpid()}")
        staging.unlink(missing_ok=True)
        store = SqliteStore(staging)
        try:
            store.open(supervisor_id)
            store.commit(records, cursor)
        finally:
            store.close()  # the last connection checkpoints the WAL into the file
        backup = self.path.with_name(self.path.name + ".json-v1.bak")
        linked = self.path.with_name(f".{self.path.name}.bak-{os.getpid()}")
        linked.unlink(missing_ok=True)
        os.link(self.path, linked)
        os.replace(linked, backup)
        os.replace(staging, self.path)

    # -- reading and writing ----------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"state store {self.path}: not open")
        return self._db

    def load(self) -> dict[str, WorkloadRecord]:
        return _load(self._connection(), self.location)

    def commit(
        self, records: Iterable[WorkloadRecord], cursor: str | None, forgotten: Collection[str] = ()
    ) -> None:
        db = self._connection()
        now = time.time()
        rows = []
        live = []
        gone = []
        for r in records:
            rows.append(self._row(r, now))
            if r.run is None:
                gone.append((r.name,))
            else:
                live.append((r.name, r.run.key, r.run.started_at, _dumps(dict(r.run.data))))
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_UPSERT, rows)
            # Empty batches skipped: each call costs a statement step even with nothing to do.
            if gone:
                db.executemany("DELETE FROM runs WHERE name = ?", gone)
            if live:
                db.executemany(
                    "INSERT OR REPLACE INTO runs (name, key, started_at, data) VALUES (?, ?, ?, ?)", live
                )
            if forgotten:
                for name in forgotten:
                    self._encoded.pop(name, None)
                gone_names = [(name,) for name in forgotten]
                db.executemany("DELETE FROM runs WHERE name = ?", gone_names)
                db.executemany("DELETE FROM workloads WHERE name = ?", gone_names)
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('cursor', ?)", (cursor,))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_commit_at', ?)", (repr(now),))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _row(self, r: WorkloadRecord, now: float) -> tuple[Any, ...]:
        cached = self._encoded.get(r.name)
        if cached is not None and cached[0] is r.state and cached[1] is r.last_outcome:
            state, outcome = cached[2], cached[3]
        else:
            state = _dumps(r.state.to_dict())
            outcome = None if r.last_outcome is None else _dumps(_outcome_to_dict(r.last_outcome))
            self._encoded[r.name] = (r.state, r.last_outcome, state, outcome)
        return _row(r, state, outcome, now)

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # drops the flock


_UPSERT = """
INSERT INTO workloads (name, state, phase, fresh, restart_at, stop_requested, last_run,
                       last_outcome, reason, rule, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(name) DO UPDATE SET
    state = excluded.state, phase = excluded.phase, fresh = excluded.fresh,
    restart_at = excluded.restart_at, stop_requested = excluded.stop_requested,
    last_run = excluded.last_run, last_outcome = excluded.last_outcome,
    reason = excluded.reason, rule = excluded.rule, updated_at = excluded.updated_at
"""


def _legacy_records(where: str, doc: Mapping[str, Any]) -> tuple[list[WorkloadRecord], str | None]:
    """0.1's workloads (and the live runs its process runtime kept in the cursor), checked."""
    cursor = doc.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise StoreError(f"state store {where}: cursor: must be null or a string, got {cursor!r}")
    runs: dict[str, Any] = {}
    if isinstance(cursor, str) and cursor.startswith("{"):
        try:
            runs = json.loads(cursor)["runs"]
            if not isinstance(runs, dict):
                raise TypeError("'runs' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"state store {where}: cursor: unreadable saved runs: {exc}") from None
        cursor = None
    records = []
    for name, saved in doc["workloads"].items():
        if not isinstance(saved, dict):
            raise StoreError(f"state store {where}: workload {name!r}: must be an object")
        try:
            state, outcome = _dumps(saved.get("state")), saved.get("last_outcome")
        except (TypeError, ValueError) as exc:
            raise StoreError(f"state store {where}: workload {name!r}: state: {exc}") from None
        row = {
            "state": state,
            "phase": saved.get("phase"),
            "fresh": 0,
            "restart_at": saved.get("restart_at"),
            "stop_requested": _legacy_flag(saved.get("stop_requested", False)),
            "last_run": saved.get("last_run"),
            "last_outcome": None if outcome is None else _dumps(outcome),
            "reason": saved.get("reason"),
            "rule": saved.get("rule"),
        }
        run = runs.get(name)
        run_row = None
        if run is not None:
            if not isinstance(run, dict):
                raise StoreError(
                    f"state store {where}: workload {name!r}: run: must be an object, got {run!r}"
                )
            run_row = {"key": "", "started_at": run.get("started_at"), "data": _dumps(run)}
        records.append(_record(where, str(name), row, run_row))
    return records, cursor


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=5.0)
        else:
            db = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: the WAL is fsynced at every commit, so a committed decision survives power loss.
            db.execute("PRAGMA synchronous = FULL")
            # A supervisor's rows are small: checkpoint every 256 pages (1 MiB) and truncate the
            # WAL back to 1 MiB, so it never holds more than a few MiB of a small disk.
            db.execute("PRAGMA wal_autocheckpoint = 256")
            db.execute("PRAGMA journal_size_limit = 1048576")
        db.execute("PRAGMA foreign_keys = ON")
        return db
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"state store {path}: not a usable SQLite database: {exc}") from None


def read_store(path: str | os.PathLike[str]) -> tuple[Meta, dict[str, WorkloadRecord]]:
    """Read a store without taking ownership (for ``relaunch status``); a live owner may hold it."""
    where = Path(path)
    if where.is_dir():
        raise StoreError(f"state store {where}: is a directory, not a store file")
    if not where.exists():
        raise StoreError(f"state store {where}: no such file")
    with open(where, "rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    if head != _SQLITE_HEADER:
        raise StoreError(f"state store {where}: not a relaunch store (not an SQLite database)")
    db = _connect(where, readonly=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreError(f"state store {where}: schema version {version}, expected {SCHEMA_VERSION}")
        meta = _meta(where, _read_meta(db, where))
        return meta, _load(db, str(where))
    except sqlite3.Error as exc:
        raise StoreError(f"state store {where}: unreadable: {exc}") from None
    finally:
        db.close()


def _read_meta(db: sqlite3.Connection, path: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key, value in db.execute("SELECT key, value FROM meta"):
        if not isinstance(value, str):
            raise StoreError(f"state store {path}: meta {key!r}: must be text, got {value!r}")
        meta[key] = value
    return meta


def _meta(path: Path, meta: Mapping[str, str]) -> Meta:
    def number(key: str, kind: Callable[[str], Any]) -> Any:
        value = meta.get(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            raise StoreError(f"state store {path}: meta {key!r}: must be a number, got {value!r}") from None

    if "supervisor" not in meta or "store_id" not in meta:
        raise StoreError(f"state store {path}: meta: missing the supervisor or store id")
    return Meta(
        supervisor=meta["supervisor"],
        store_id=meta["store_id"],
        cursor=meta.get("cursor"),
        owner_pid=number("owner_pid", int),
        owner_host=meta.get("owner_host"),
        owner_since=number("owner_since", float),
        last_commit_at=number("last_commit_at", float),
    )


def _load(db: sqlite3.Connection, where: str) -> dict[str, WorkloadRecord]:
    columns = "name, state, phase, fresh, restart_at, stop_requested, last_run, last_outcome, reason, rule"
    runs = {
        name: {"key": key, "started_at": started, "data": data}
        for name, key, started, data in db.execute("SELECT name, key, started_at, data FROM runs")
    }
    records = {}
    for values in db.execute(f"SELECT {columns} FROM workloads"):
        row = dict(zip(columns.split(", "), values, strict=True))
        name = row.pop("name")
        records[name] = _record(where, name, row, runs.get(name))
    return records


# -- rows <-> records: every field checked ----------------------------------------------------


class _Bad(Exception):
    def __init__(self, field: str, problem: str, value: object) -> None:
        super().__init__(f"{field}: {problem}, got {value!r}")


def _record(where: str, name: str, row: Mapping[str, Any], run: Mapping[str, Any] | None) -> WorkloadRecord:
    try:
        if not isinstance(name, str) or not name:
            raise _Bad("name", "must be a non-empty string", name)
        try:
            state = State.from_dict(_loads("state", row["state"]))
        except StateError as exc:
            raise _Bad("state", str(exc), row["state"]) from None
        phase = _enum("phase", Phase, row["phase"])
        restart_at = _optional_time("restart_at", row["restart_at"])
        if restart_at is not None and restart_at > state.last_at + MAX_RESTART_AHEAD_S:
            raise _Bad("restart_at", "is more than a year after the last decision", restart_at)
        if phase is Phase.BACKING_OFF and restart_at is None:
            raise _Bad("restart_at", "must be set while backing off", restart_at)
        rule = row["rule"]
        return WorkloadRecord(
            name=name,
            state=state,
            phase=phase,
            fresh=_flag("fresh", row["fresh"]),
            restart_at=restart_at,
            stop_requested=_flag("stop_requested", row["stop_requested"]),
            last_run=_optional_text("last_run", row["last_run"]),
            last_outcome=_outcome(row["last_outcome"]),
            reason=_optional_text("reason", row["reason"]),
            rule=None if rule is None else _enum("rule", Rule, rule),
            run=None if run is None else _live_run(run),
        )
    except _Bad as exc:
        raise StoreError(f"state store {where}: workload {name!r}: {exc}") from None


def _row(r: WorkloadRecord, state: str, outcome: str | None, now: float) -> tuple[Any, ...]:
    """The ``workloads`` row of ``r``, its state and last outcome already encoded."""
    return (
        r.name,
        state,
        r.phase.value,
        int(r.fresh),
        r.restart_at,
        int(r.stop_requested),
        r.last_run,
        outcome,
        r.reason,
        None if r.rule is None else r.rule.value,
        now,
    )


def _outcome_to_dict(o: Outcome) -> dict[str, Any]:
    return {
        "started_at": o.started_at,
        "ended_at": o.ended_at,
        "exit_code": o.exit_code,
        "signal": o.signal,
        "cause": o.cause.name,
    }


def _outcome(text: object) -> Outcome | None:
    if text is None:
        return None
    data = _loads("last_outcome", text)
    keys = {"started_at", "ended_at", "exit_code", "signal", "cause"}
    if not isinstance(data, dict) or set(data) != keys:
        raise _Bad("last_outcome", f"must be an object with keys {', '.join(sorted(keys))}", data)
    cause = data["cause"]
    if not isinstance(cause, str) or cause not in Cause.__members__:
        raise _Bad("last_outcome.cause", f"must be one of {', '.join(Cause.__members__)}", cause)
    try:
        return Outcome(
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            exit_code=data["exit_code"],
            signal=data["signal"],
            cause=Cause[cause],
        )
    except OutcomeError as exc:
        raise _Bad("last_outcome", str(exc), data) from None


def _live_run(run: Mapping[str, Any]) -> LiveRun:
    key, started_at = run["key"], run["started_at"]
    if not isinstance(key, str):
        raise _Bad("run.key", "must be a string", key)
    if (
        isinstance(started_at, bool)
        or not isinstance(started_at, int | float)
        or not math.isfinite(started_at)
    ):
        raise _Bad("run.started_at", "must be a finite number", started_at)
    data = _loads("run.data", run["data"])
    if not isinstance(data, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in data.values()
    ):
        raise _Bad("run.data", "must be an object of strings and numbers", data)
    return LiveRun(key=key, started_at=float(started_at), data=data)


def _loads(field: str, text: object) -> Any:
    if not isinstance(text, str):
        raise _Bad(field, "must be JSON text", text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(field, f"invalid JSON ({exc.msg})", text) from None


# One encoder for every row: json.dumps with options builds a new JSONEncoder per call, which
# was a fifth of the writer thread's CPU at a few hundred commits a second (cProfile).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _dumps(value: object) -> str:
    return _ENCODER.encode(value)


def _enum(field: str, kind: Any, value: object) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise _Bad(field, f"must be one of {allowed}", value) from None


def _flag(field: str, value: object) -> bool:
    if value not in (0, 1) or isinstance(value, float):
        raise _Bad(field, "must be 0 or 1", value)
    return bool(value)


def _legacy_flag(value: object) -> object:
    # JSON's true/false become the column's 1/0; anything else is refused by _flag, by name.
    return int(value) if isinstance(value, bool) else value


def _optional_time(field: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Bad(field, "must be null or a finite number", value)
    return float(value)


def _optional_text(field: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _Bad(field, "must be null or text", value)
    return value


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
