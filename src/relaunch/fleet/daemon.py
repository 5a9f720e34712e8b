"""``relaunch run FILE``: one foreground process that supervises every workload of a fleet file.

A room over the supervisor core, not a second core: the file (``config.py``) becomes the same
``Supervisor.add`` calls the Python API makes, on one :class:`CompositeRuntime` (the process
runtime for commands, one Docker runtime per engine for containers) and one store. What this
module adds is what a daemon needs around the core, and nothing the core already does:

- **Groups.** Every decision reaches :meth:`Fleet._on_decision`; for a member of a group it asks
  the kernel's group rule (``relaunch.kernel.group``) which other members to restart or give up,
  and queues those actions for one worker thread (a decision hook must not block: a container's
  stop waits for the engine). A group's shared restart history lives in memory, as an OTP
  supervisor's does (``supervisor.erl`` keeps ``restarts`` in its state record): a new
  ``relaunch run`` starts it afresh, while each member's own budget is durable in the store.
- **Reload** (SIGHUP or ``relaunch ctl reload``), as ``supervisorctl update``: the new file is
  checked as a whole first (nothing is applied if it is bad); then gone workloads are removed,
  changed ones (a different :attr:`Workload.definition`) are removed and added again, new ones
  are added, and the rest keep their runs and budgets.
- **Shutdown.** SIGTERM or SIGINT stops every workload (in reverse start order; commands get
  SIGTERM, then SIGKILL after ``stop_grace``), waits for their ends, and exits 0; the next
  ``relaunch run`` starts them again with their budgets as they were (a ``ctl stop`` lasts
  until then too, as ``supervisorctl stop`` does). A SIGKILL leaves them running: the next
  ``relaunch run`` on the file adopts each (the runtimes' marks and labels say which runs are
  ours, so nothing runs twice).
- **systemd.** With ``NOTIFY_SOCKET`` set it sends ``READY=1`` once every workload is added,
  ``RELOADING=1``/``READY=1`` around a reload and ``STOPPING=1`` at shutdown, as sd_notify(3)
  describes (a datagram to that socket; ``@`` names an abstract one), so ``Type=notify`` works;
  ``WATCHDOG_USEC`` gets a ``WATCHDOG=1`` at half its period.

Threads: the caller's (the signal loop of :meth:`Fleet.serve`), the core's and runtimes' own,
``relaunch-fleet-actions`` (group actions, in order), and the control server's. ``Fleet._lock``
guards the configuration and the group states; it is never held while calling the supervisor.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from relaunch.adapters.composite import CompositeRuntime, Routed
from relaunch.adapters.runtime import Runtime, RuntimeUnavailable, SupervisorError
from relaunch.adapters.store import SqliteStore, Store
from relaunch.adapters.supervisor import DecisionEvent, Phase, Status, Supervisor
from relaunch.fleet.api import FleetError
from relaunch.fleet.config import ConfigError, ContainerWorkload, ExecWorkload, FleetConfig, Workload, load
from relaunch.kernel.group import Group, GroupState

__all__ = ["EXEC_PART", "Fleet", "notify"]

logger = logging.getLogger("relaunch.fleet")

#: The composite runtime's part for local commands; containers go to "engine:<address>".
EXEC_PART = "exec"

# Workloads still running at shutdown are waited for this long past their stop grace.
SHUTDOWN_SLACK_S = 5.0

# Stops at shutdown run on this many threads (a process's stop returns at once; a container's
# waits for the engine).
STOP_WORKERS = 16


def notify(message: str) -> bool:
    """Send ``message`` to systemd's ``NOTIFY_SOCKET`` (sd_notify(3)); False when there is none."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError as error:
            logger.warning("cannot notify systemd at %s: %s", address, error)
            return False
    return True


def _engine_part(engine: str | None) -> str:
    return f"engine:{engine or os.environ.get('DOCKER_HOST') or 'default'}"


class Fleet:
    """The supervised fleet of one file (implements ``relaunch.fleet.api.FleetControl``)."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        on_decision: Callable[[DecisionEvent], None] | None = None,
        store: Store | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._groups: dict[str, Group] = {g.name: g for g in config.groups}
        self._group_states: dict[str, GroupState] = {}
        self._listener = on_decision
        self._actions: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._runtime = self._make_runtime(config)
        try:
            self._sup = Supervisor(
                self._runtime,
                str(config.store),
                on_decision=self._on_decision,
                store=store or SqliteStore(config.store),
            )
        except BaseException:
            self._runtime.close()
            raise
        self._worker = threading.Thread(target=self._work, name="relaunch-fleet-actions", daemon=True)
        self._worker.start()

    # -- building ---------------------------------------------------------------------------

    @staticmethod
    def _make_runtime(config: FleetConfig) -> CompositeRuntime:
        from relaunch.adapters.process import ProcessRuntime

        parts: dict[str, Runtime] = {
            EXEC_PART: ProcessRuntime(config.supervisor_id, stop_grace=config.stop_grace)
        }
        for w in config.workloads:
            if isinstance(w, ContainerWorkload):
                key = _engine_part(w.engine)
                if key not in parts:
                    from relaunch.adapters.docker import DockerRuntime

                    # A container gets the same grace as a command: SIGTERM, then SIGKILL after it.
                    grace = max(1, math.ceil(config.stop_grace))
                    parts[key] = DockerRuntime(config.supervisor_id, base_url=w.engine, stop_timeout=grace)
        return CompositeRuntime(config.supervisor_id, parts)

    def _spec(self, w: Workload) -> Routed:
        if isinstance(w, ExecWorkload):
            from relaunch.adapters import probes
            from relaunch.adapters.logfiles import LogFile
            from relaunch.adapters.process import ProcessSpec

            health = None
            if w.health is not None:
                probe: probes.Probe
                if w.health.probe == "exec":
                    probe = probes.ExecProbe(list(w.health.target))  # type: ignore[arg-type]
                elif w.health.probe == "tcp":
                    probe = probes.TcpProbe(int(w.health.target))  # type: ignore[arg-type]
                else:
                    probe = probes.HttpProbe(str(w.health.target))
                health = probes.Health(probe, w.health.check)
            stdout = (
                None if w.stdout is None else LogFile(w.stdout.path, w.stdout.max_bytes, w.stdout.backups)
            )
            stderr: Any = w.stderr
            if not isinstance(w.stderr, str) and w.stderr is not None:
                stderr = LogFile(w.stderr.path, w.stderr.max_bytes, w.stderr.backups)
            spec = ProcessSpec(
                w.argv,
                health,
                cwd=None if w.cwd is None else str(w.cwd),
                env=w.env or None,
                user=w.user,
                stdout=stdout,
                stderr=stderr,
            )
            return Routed(EXEC_PART, spec)
        assert isinstance(w, ContainerWorkload)
        from relaunch.adapters.docker import ContainerSpec

        options: dict[str, Any] = {"network_mode": w.network}
        if w.health is not None:
            check: dict[str, Any] = {k: int(v * 1e9) for k, v in w.health.timings.items()}
            if w.health.retries:
                check["retries"] = w.health.retries
            check["test"] = ["CMD", *w.health.target]  # type: ignore[misc]
            options["healthcheck"] = check
        command = None if w.command is None else list(w.command)
        return Routed(_engine_part(w.engine), ContainerSpec(w.image, command, options))

    def _add(self, w: Workload) -> None:
        try:
            # A workload left stopped (by the last run's SIGTERM, or by `ctl stop` before it) is
            # started: the file says what should run, and a new `relaunch run` (`systemctl
            # restart`) must bring it all back, as supervisord does with `autostart` programs.
            # A given-up one stays given up: its budget is spent, and that is durable.
            self._sup.add(w.name, self._spec(w), w.policy, start_stopped=True)
        except (TypeError, ValueError) as error:
            raise FleetError(f"{w.name}: {error}") from None

    def _start_order(self, config: FleetConfig) -> list[Workload]:
        """File order, but each group's members in the group's order, where its first one is."""
        order: list[Workload] = []
        placed: set[str] = set()
        by_name = {w.name: w for w in config.workloads}
        for w in config.workloads:
            if w.name in placed:
                continue
            members = [w.name]
            if w.group is not None:
                members = list(self._group_of(config, w.group).members)
            for name in members:
                if name not in placed:
                    placed.add(name)
                    order.append(by_name[name])
        return order

    @staticmethod
    def _group_of(config: FleetConfig, name: str) -> Group:
        return next(g for g in config.groups if g.name == name)

    def open(self) -> None:
        """Add every workload of the file, in start order (adopting what still runs)."""
        now = time.time()
        with self._lock:
            self._group_states = {g.name: g.start(now) for g in self._config.groups}
        for w in self._start_order(self._config):
            self._add(w)

    # -- FleetControl -----------------------------------------------------------------------

    @property
    def config(self) -> FleetConfig:
        with self._lock:
            return self._config

    @property
    def supervisor(self) -> Supervisor:
        return self._sup

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            config = self._config
        statuses = {s.name: s for s in self._sup.statuses()}
        rows = []
        now = time.time()
        for w in self._start_order(config):
            s = statuses.get(w.name)
            if s is not None:
                rows.append(self._row(w, s, now))
        return rows

    def _row(self, w: Workload, s: Status, now: float) -> dict[str, Any]:
        pid = container = None
        if isinstance(w, ExecWorkload):
            info = self._runtime.part(EXEC_PART).process(w.name)  # type: ignore[attr-defined]
            pid = None if info is None else info.pid
        else:
            container = self._runtime.part(_engine_part(w.engine)).name_of(w.name)  # type: ignore[attr-defined]
        return {
            "name": w.name,
            "kind": "exec" if isinstance(w, ExecWorkload) else "container",
            "group": w.group,
            "phase": s.phase.value,
            "pid": pid,
            "container": container,
            "started_at": s.running_since,
            "uptime": None if s.running_since is None else max(0.0, now - s.running_since),
            "restarts": s.restarts,
            "attempt": s.attempt,
            "budget_left": None
            if math.isinf(s.budget_left)
            else "unknown"
            if math.isnan(s.budget_left)
            else s.budget_left,
            "restart_at": s.restart_at,
            "reason": s.reason,
            "rule": None if s.rule is None else s.rule.value,
            "health": None if s.health is None else s.health.verdict.value,
        }

    def _known(self, name: str) -> None:
        if self.config.workload(name) is None:
            raise FleetError(f"no workload {name!r} in {self.config.path}")

    def start(self, name: str) -> None:
        self._known(name)
        with self._lock:
            # Starting a member of a group that gave up is the operator's start of the group.
            w = self._config.workload(name)
            group = None if w is None or w.group is None else self._groups.get(w.group)
            if group is not None and self._group_states[group.name].given_up:
                self._group_states[group.name] = group.start(time.time())
        self._sup.start(name)

    def stop(self, name: str) -> None:
        self._known(name)
        try:
            self._sup.stop(name)
        except RuntimeUnavailable as error:
            raise FleetError(f"{name}: the runtime cannot stop it now ({error}); the stop is kept") from None

    def restart(self, name: str) -> None:
        self._known(name)
        try:
            self._sup.restart(name)
        except RuntimeUnavailable as error:
            raise FleetError(f"{name}: the runtime cannot restart it now ({error})") from None

    def log_path(self, name: str, stream: str) -> Path:
        w = self.config.workload(name)
        if w is None:
            raise FleetError(f"no workload {name!r} in {self.config.path}")
        if not isinstance(w, ExecWorkload):
            raise FleetError(f"{name} is a container: its output is the engine's (docker logs)")
        spec = w.stdout if stream == "stdout" or w.stderr == "stdout" else w.stderr
        if spec is None or isinstance(spec, str):
            raise FleetError(f"{name}: its {stream} is not written to a file (it inherits relaunch's)")
        return spec.path

    def reload(self) -> dict[str, list[str]]:
        """Apply the file as it is now (see the module docstring); nothing if it is bad."""
        old = self.config
        try:
            new = load(old.path)
        except ConfigError as error:
            raise FleetError(str(error)) from None
        for attribute, key in (("store", "store"), ("supervisor_id", "id"), ("stop_grace", "stop_grace")):
            if getattr(new, attribute) != getattr(old, attribute):
                raise FleetError(f"{old.path}: [fleet] {key}: cannot change on reload; restart relaunch run")
        added = [w.name for w in new.workloads if old.workload(w.name) is None]
        removed = [w.name for w in old.workloads if new.workload(w.name) is None]
        changed: list[str] = []
        unchanged: list[str] = []
        for w in new.workloads:
            before = old.workload(w.name)
            if before is None:
                continue
            (unchanged if before.definition == w.definition else changed).append(w.name)
        for w in new.workloads:
            if isinstance(w, ContainerWorkload) and _engine_part(w.engine) not in self._runtime_parts():
                raise FleetError(
                    f"{old.path}: [workload.{w.name}] engine: a new engine needs a restart of relaunch run"
                )
        now = time.time()
        with self._lock:
            self._config = new
            groups = {g.name: g for g in new.groups}
            # A group whose definition stays keeps its restart history; a changed one starts afresh.
            self._group_states = {
                name: self._group_states[name]
                if self._groups.get(name) == g and name in self._group_states
                else g.start(now)
                for name, g in groups.items()
            }
            self._groups = groups
        for name in reversed(removed + changed):
            self._sup.remove(name, timeout=old.stop_grace + SHUTDOWN_SLACK_S)
        for w in self._start_order(new):
            if w.name in added or w.name in changed:
                self._add(w)
        logger.info("reloaded %s: added %s, removed %s, restarted %s", new.path, added, removed, changed)
        return {"added": added, "removed": removed, "restarted": changed, "unchanged": unchanged}

    def _runtime_parts(self) -> set[str]:
        return set(self._runtime._parts)

    # -- groups -----------------------------------------------------------------------------

    def _on_decision(self, event: DecisionEvent) -> None:
        if self._listener is not None:
            try:
                self._listener(event)
            except Exception:
                logger.exception("decision listener failed")
        if not self._groups:
            return  # every decision comes here: a fleet without groups asks nothing more
        with self._lock:
            w = self._config.workload(event.name)
            if w is None or w.group is None or w.group not in self._groups:
                return
            group = self._groups[w.group]
            state = self._group_states.get(group.name) or group.start(event.outcome.ended_at)
            # The group's time never goes back (a window budget could be cheated otherwise), but
            # two members' ends can reach this hook out of order by a few milliseconds.
            at = max(event.outcome.ended_at, state.last_at)
            decision = group.decide(state, event.name, event.decision.action, at)
            self._group_states[group.name] = decision.state
        if not decision.restart and not decision.give_up:
            return
        logger.info("group %s: %s", group.name, decision.reason)
        for name in decision.give_up:
            self._actions.put(lambda name=name: self._sup.give_up(name, decision.reason))  # type: ignore[misc]
        for name in decision.restart:
            self._actions.put(lambda name=name: self._sup.restart(name))  # type: ignore[misc]

    def _work(self) -> None:
        while True:
            action = self._actions.get()
            if action is None:
                return
            try:
                action()
            except (SupervisorError, RuntimeUnavailable) as error:
                logger.warning("group action failed: %s", error)
            except Exception:
                logger.exception("group action failed")

    # -- shutdown ---------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Stop every workload (reverse start order) and wait for their ends (SIGTERM's path).

        The stops run side by side: a container's stop blocks until the engine has stopped it
        (up to ``stop_grace``), and one after another a pending restart elsewhere would fire
        meanwhile and start a workload that is about to be stopped.
        """
        order = [w.name for w in self._start_order(self.config)]

        def stop(name: str) -> None:
            with contextlib.suppress(SupervisorError, RuntimeUnavailable):
                self._sup.stop(name)

        with ThreadPoolExecutor(max_workers=STOP_WORKERS, thread_name_prefix="relaunch-fleet-stop") as pool:
            list(pool.map(stop, reversed(order)))
        deadline = time.monotonic() + self.config.stop_grace + SHUTDOWN_SLACK_S
        live = {Phase.RUNNING, Phase.STARTING, Phase.PENDING}
        while time.monotonic() < deadline:
            if not any(s.phase in live for s in self._sup.statuses()):
                return
            time.sleep(0.05)
        logger.warning("some workloads did not stop within %.0fs", self.config.stop_grace + SHUTDOWN_SLACK_S)

    def close(self) -> None:
        """Stop the threads and release the store; the workloads are left as they are."""
        self._actions.put(None)
        self._worker.join(1.0)
        self._sup.close()

    def serve(self, on_ready: Callable[[], None] | None = None) -> int:
        """Run until SIGTERM/SIGINT (stop everything, exit 0); SIGHUP reloads."""
        pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        previous = {
            signum: signal.signal(signum, lambda signum, frame: pending.put(signum))
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        watchdog = _watchdog_interval()
        try:
            self.open()
            if on_ready is not None:
                on_ready()
            notify("READY=1\nSTATUS=supervising")
            while True:
                try:
                    signum = pending.get(timeout=watchdog or 1.0)
                except queue.Empty:
                    if watchdog:
                        notify("WATCHDOG=1")
                    continue
                if signum == signal.SIGHUP:
                    notify(
                        f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
                    )
                    try:
                        self.reload()
                    except FleetError as error:
                        logger.error("reload refused: %s", error)
                    notify("READY=1")
                    continue
                notify("STOPPING=1")
                logger.info("stopping every workload (%s)", signal.Signals(signum).name)
                self.stop_all()
                return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _watchdog_interval() -> float | None:
    """Half of systemd's ``WATCHDOG_USEC`` (if it is meant for this process), in seconds."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6
