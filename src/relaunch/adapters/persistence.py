"""Group commit: the core's changes reach the store in shared transactions, off the core's lock.

The core calls :meth:`Journal.mark` (with its lock held; it costs a set insertion) after it
changes a workload, and gets a sequence number. One writer thread takes every name marked since
its last commit, asks the core for those workloads' records (``snapshot``, under the core's lock:
it only reads immutable values) and commits them in one transaction with the lock released. So
decisions that arrive while a commit is under way share the next one: one fsync per burst, not
one per decision. :meth:`Journal.after` runs a call once a sequence number is durable; the core
starts nothing before, so a restart is carried out only after the decision that ordered it (and
the record of the start itself) is on disk.

A mark is urgent (the writer commits at once) unless the core says it is ``lazy``: a change that
nothing waits for and that the next supervisor would find out again if it were lost (a container
confirmed running: the runtime finds it again by name; Docker's event cursor: an older one only
replays more; never a process's run, whose saved row is how a death while no supervisor watched
gets counted; a container's restart decision, whose end the engine keeps and the next supervisor
reads again: the start it orders commits it). Lazy marks ride along with the next commit, or are
committed on their own after ``LAZY_COMMIT_S``. On Docker's crash loop this took commits from 4.4
per restart to about 2, then (lazy restart decisions) to about 0.4 (measured,
``benchmarks/FINDINGS.md``).

When the store fails (a full or read-only disk), the writer keeps the marked names and retries
with a capped backoff; the failure is logged once when it begins and once when it ends, and
:meth:`Journal.wait` returns False at once while it lasts, so the supervisor keeps supervising
from memory (and says so in ``Supervisor.store_health()``) instead of stopping every workload.

Threads and locks: the writer thread (``relaunch-store``) and the callers of ``mark``/``wait``.
``self._cond`` guards the marked names and the counters; it is taken after the core's lock
(``mark``), never before it: the writer releases it before it takes the core's lock to snapshot.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

from relaunch.adapters.store import Store, WorkloadRecord

__all__ = ["Journal", "StoreHealth"]

logger = logging.getLogger("relaunch.store")

# Backoff between commits that fail (a full disk clears when someone frees space; no hurry).
RETRY_INITIAL_S = 0.1
RETRY_CAP_S = 5.0

# How long a lazy mark waits for an urgent one to ride along with (module docstring).
LAZY_COMMIT_S = 0.5

# The core's view of the marked names: their records, the cursor, and the marked names it no
# longer supervises (their rows are deleted).
Snapshot = Callable[[Collection[str]], tuple[list[WorkloadRecord], str | None, Collection[str]]]


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store takes the supervisor's changes, for ``Supervisor.store_health()``."""

    location: str
    ok: bool
    last_commit_at: float | None  # Unix seconds of the last successful commit (this process)
    error: str | None  # the current failure, while ``ok`` is False
    failing_since: float | None
    pending: int  # workloads whose latest change is not durable yet
    commits: int  # successful commits since the supervisor started


class Journal:
    """The group-commit writer for one store (see the module docstring)."""

    def __init__(self, store: Store, snapshot: Snapshot) -> None:
        self._store = store
        self._snapshot = snapshot
        self._cond = threading.Condition(threading.Lock())
        self._marked: set[str] = set()
        self._cursor_marked = False
        self._seq = 0  # the number of the latest mark
        self._urgent = False  # an urgent mark, or a call waiting for durability, is pending
        self._lazy_since: float | None = None  # time.monotonic() of the oldest pending lazy mark
        self._durable = 0  # every mark up to this number is committed
        self._closing = False
        self._last_commit_at: float | None = None
        self._error: str | None = None
        self._failing_since: float | None = None
        self._commits = 0
        self._after: deque[tuple[int, Callable[[], None]]] = deque()  # (seq, call once durable)
        self._thread = threading.Thread(target=self._run, name="relaunch-store", daemon=True)
        self._thread.start()

    def mark(self, name: str | None, *, lazy: bool = False) -> int:
        """Record that ``name`` (None: the runtime's cursor) changed; its sequence number.

        ``lazy``: commit it with the next urgent mark, or within ``LAZY_COMMIT_S`` (see the
        module docstring for which changes may wait).
        """
        with self._cond:
            if name is None:
                self._cursor_marked = True
            else:
                self._marked.add(name)
            self._seq += 1
            if not lazy:
                self._urgent = True
                self._cond.notify_all()
            elif self._lazy_since is None:
                self._lazy_since = time.monotonic()
                self._cond.notify_all()  # the writer's wait gets a deadline
            return self._seq

    def after(self, seq: int, call: Callable[[], None]) -> None:
        """Call ``call`` (quick, and taking no lock of the caller's) once mark ``seq`` is durable.

        Called at once if it is, or while the store fails (the supervisor goes on from memory);
        otherwise by the writer thread right after the commit that makes it durable. Marks come
        in order, so the calls do too.
        """
        with self._cond:
            now = self._durable >= seq or self._error is not None or self._closing
            if not now:
                self._after.append((seq, call))
                self._urgent = True  # somebody waits: lazy marks up to seq are urgent now
                self._cond.notify_all()
        if now:
            call()

    def wait(self, seq: int) -> bool:
        """Block until mark ``seq`` is durable (True), or return False while the store fails."""
        with self._cond:
            if self._durable < seq:
                self._urgent = True
                self._cond.notify_all()
            while self._durable < seq and self._error is None and not self._closing:
                self._cond.wait()
            return self._durable >= seq

    def durable(self, seq: int) -> bool:
        """Whether mark ``seq`` is committed."""
        with self._cond:
            return self._durable >= seq

    def health(self) -> StoreHealth:
        with self._cond:
            return StoreHealth(
                location=self._store.location,
                ok=self._error is None,
                last_commit_at=self._last_commit_at,
                error=self._error,
                failing_since=self._failing_since,
                pending=len(self._marked),
                commits=self._commits,
            )

    def close(self, timeout: float) -> None:
        """Commit what is marked (one last try) and stop the writer within ``timeout``.

        Calls still waiting for durability are dropped: what they would start, the next
        supervisor starts (the store says STARTING).
        """
        with self._cond:
            self._closing = True
            self._after.clear()
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        delay = RETRY_INITIAL_S
        while True:
            with self._cond:
                while not self._closing and not self._urgent:
                    if self._lazy_since is None:
                        self._cond.wait()
                        continue
                    left = self._lazy_since + LAZY_COMMIT_S - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if not self._marked and not self._cursor_marked:
                    if self._closing:
                        return  # closing, nothing left
                    self._urgent = False
                    self._lazy_since = None
                    continue
                names, self._marked = self._marked, set()
                self._cursor_marked = False
                self._urgent = False
                self._lazy_since = None
                seq = self._seq
                closing = self._closing
            if self._commit(names, seq):
                delay = RETRY_INITIAL_S
                continue
            if closing:
                return  # the last try failed: what is lost is logged by _commit
            with self._cond:
                self._cond.wait_for(lambda: self._closing, delay)
            delay = min(RETRY_CAP_S, delay * 2)

    def _commit(self, names: set[str], seq: int) -> bool:
        records, cursor, forgotten = self._snapshot(names)
        try:
            self._store.commit(records, cursor, forgotten)
        except (OSError, sqlite3.Error) as exc:
            with self._cond:
                self._marked |= names  # retried with whatever changed meanwhile
                self._cursor_marked = True
                self._urgent = True
                began = self._error is None
                self._error = f"{type(exc).__name__}: {exc}"
                if began:
                    self._failing_since = time.time()
                self._cond.notify_all()  # waiters go on from memory
                waiting = [call for _, call in self._after]
                self._after.clear()
            for call in waiting:
                call()
            if began:
                logger.error(
                    "state store %s failing (%s); supervising from memory, retrying",
                    self._store.location,
                    exc,
                )
            return False
        with self._cond:
            ended = self._error is not None
            failed_for = 0.0 if self._failing_since is None else time.time() - self._failing_since
            self._error = None
            self._failing_since = None
            self._durable = max(self._durable, seq)
            self._last_commit_at = time.time()
            self._commits += 1
            self._cond.notify_all()
            durable: list[Callable[[], None]] = []
            while self._after and self._after[0][0] <= self._durable:
                durable.append(self._after.popleft()[1])
        for call in durable:
            call()
        if ended:
            logger.warning(
                "state store %s working again after %.1fs; every change is saved",
                self._store.location,
                failed_for,
            )
        return True
