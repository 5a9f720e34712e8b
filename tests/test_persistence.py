"""The journal's group commit (``relaunch/adapters/persistence.py``) on a real SQLite store: urgent
marks are committed at once, lazy ones ride along with the next commit or wait their turn, and a
call waiting for durability makes what it waits for urgent."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest

from relaunch import Policy
from relaunch.adapters import persistence
from relaunch.adapters.persistence import Journal
from relaunch.adapters.phase import Phase
from relaunch.adapters.store import SqliteStore, WorkloadRecord
from runtimes import wait_for


class Workloads:
    """The records the journal snapshots, as the core keeps them, and a store to commit them to."""

    def __init__(self, path: Path) -> None:
        self.store = SqliteStore(str(path))
        self.store.open("test")
        self.store.load()
        self.phases: dict[str, Phase] = {}
        self.lock = threading.Lock()

    def set(self, name: str, phase: Phase) -> None:
        with self.lock:
            self.phases[name] = phase

    def snapshot(self, names: Collection[str]) -> tuple[list[WorkloadRecord], str | None, list[str]]:
        with self.lock:
            return [self.record(n, self.phases[n]) for n in names], None, []

    @staticmethod
    def record(name: str, phase: Phase) -> WorkloadRecord:
        return WorkloadRecord(
            name=name,
            state=Policy().start(at=0.0),
            phase=phase,
            fresh=False,
            restart_at=None,
            stop_requested=False,
            last_run=None,
            last_outcome=None,
            reason=None,
            rule=None,
            run=None,
        )

    def saved(self, name: str) -> Phase | None:
        """The phase committed for ``name`` (read on the store's own connection: the store holds
        the one-owner lock, so a second store could not open the file)."""
        record = self.store.load().get(name)
        return None if record is None else record.phase


@pytest.fixture
def workloads(tmp_path: Path) -> Iterator[Workloads]:
    made = Workloads(tmp_path / "s.db")
    yield made
    made.store.close()


@pytest.fixture
def slow_lazy(monkeypatch: pytest.MonkeyPatch) -> float:
    """A lazy mark waits 30 s on its own here, so anything committed sooner was made urgent."""
    monkeypatch.setattr(persistence, "LAZY_COMMIT_S", 30.0)
    return 30.0


def test_an_urgent_mark_is_committed_at_once(workloads: Workloads, slow_lazy: float) -> None:
    """An urgent mark is durable (and in the store) without waiting for anything else."""
    journal = Journal(workloads.store, workloads.snapshot)
    try:
        workloads.set("a", Phase.STARTING)
        seq = journal.mark("a")
        wait_for(lambda: journal.durable(seq), what="the urgent mark to be committed")
        assert workloads.saved("a") is Phase.STARTING
    finally:
        journal.close(1.0)


def test_a_lazy_mark_waits_then_rides_along_with_an_urgent_one(
    workloads: Workloads, slow_lazy: float
) -> None:
    """A lazy mark alone is not committed; the next urgent mark commits both in one transaction."""
    journal = Journal(workloads.store, workloads.snapshot)
    try:
        workloads.set("lazy", Phase.RUNNING)
        lazy = journal.mark("lazy", lazy=True)
        time.sleep(0.3)
        assert not journal.durable(lazy)
        assert workloads.saved("lazy") is None
        before = journal.health().commits
        workloads.set("urgent", Phase.STOPPED)
        urgent = journal.mark("urgent")
        wait_for(lambda: journal.durable(urgent), what="the urgent mark to be committed")
        assert journal.durable(lazy)
        assert journal.health().commits == before + 1
        assert (workloads.saved("lazy"), workloads.saved("urgent")) == (Phase.RUNNING, Phase.STOPPED)
    finally:
        journal.close(1.0)


def test_a_lazy_mark_alone_is_committed_after_its_wait(
    workloads: Workloads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing urgent to ride along with, a lazy mark is committed after LAZY_COMMIT_S."""
    monkeypatch.setattr(persistence, "LAZY_COMMIT_S", 0.2)
    journal = Journal(workloads.store, workloads.snapshot)
    try:
        workloads.set("lazy", Phase.RUNNING)
        seq = journal.mark("lazy", lazy=True)
        wait_for(lambda: journal.durable(seq), what="the lazy mark to be committed on its own")
        assert workloads.saved("lazy") is Phase.RUNNING
    finally:
        journal.close(1.0)


def test_waiting_for_a_lazy_mark_makes_it_urgent(workloads: Workloads, slow_lazy: float) -> None:
    """after() on a lazy mark (someone acts once it is durable) commits it now, not after the lazy wait."""
    journal = Journal(workloads.store, workloads.snapshot)
    try:
        workloads.set("lazy", Phase.RUNNING)
        seq = journal.mark("lazy", lazy=True)
        called = threading.Event()
        journal.after(seq, called.set)
        wait_for(called.is_set, what="the call once the lazy mark is durable")
        assert journal.durable(seq)
    finally:
        journal.close(1.0)


def test_close_commits_what_is_marked_lazily(workloads: Workloads, slow_lazy: float) -> None:
    """close() commits a lazy mark that was still waiting: nothing marked is lost at a clean close."""
    journal = Journal(workloads.store, workloads.snapshot)
    workloads.set("lazy", Phase.RUNNING)
    journal.mark("lazy", lazy=True)
    journal.close(2.0)
    assert workloads.saved("lazy") is Phase.RUNNING
