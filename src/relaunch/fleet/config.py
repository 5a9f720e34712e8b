"""A fleet file (``relaunch.toml``): every workload ``relaunch run`` supervises, checked as a whole.

This module owns the file's format and its validation, and nothing else: it reads no store,
starts nothing and talks to no engine. :func:`load` reads the file and returns a
:class:`FleetConfig` or raises :class:`ConfigError`, whose message is one line naming the file,
the table and the key (``relaunch.toml: [workload.web] exec: must be ...``), before anything
starts. The format::

    [fleet]                      # optional; every key has a default
    store = "relaunch.db"        # the state store, relative to the file's folder
    id = "relaunch"              # the supervisor id: containers are named relaunch-<id>-<name>
    logs = "logs"                # folder of the commands' log files ("none": they inherit)
    log_max_bytes = "50MiB"      # rotate a log past this size (0: never), as supervisord's
    log_backups = 10             #   stdout_logfile_maxbytes and stdout_logfile_backups
    stop_grace = "10s"           # SIGTERM, then SIGKILL after this (commands)

    [workload.web]               # a local command
    exec = ["python3", "-m", "http.server", "8000"]
    cwd = "/srv"                 # optional
    env = { PORT = "8000" }      # optional, over the supervisor's own environment
    user = "www-data"            # optional, only when relaunch runs as root
    stdout = "file"              # "file" (the default with [fleet] logs), "inherit", or a path
    stderr = "file"              # the same, or "stdout" (supervisord's redirect_stderr)
    policy = "recommended"       # a preset name, or a policy table as `relaunch check` reads
    health = { http = "http://127.0.0.1:8000/", interval = "5s", retries = 3 }

    [workload.cache]             # a container
    image = "busybox"
    command = ["httpd", "-f"]    # optional
    engine = "unix:///run/docker.sock"   # optional; default DOCKER_HOST, else Docker's own
    network = "none"             # the default: no network unless asked

    [group.backend]              # OTP-style group (relaunch.kernel.group)
    strategy = "one_for_all"     # or "one_for_one", "rest_for_one"
    members = ["db", "api"]      # start order
    budget = { restarts = 3, within = "60s" }   # shared: more and the group is given up

A workload's :attr:`Workload.definition` is what ``reload`` compares: two definitions that are
equal run the same thing, so an unchanged workload keeps its run and its budget.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relaunch import policyfile
from relaunch.fleet.paths import DEFAULT_FILE, socket_of, socket_path, store_of
from relaunch.kernel import HealthCheck, Policy, PolicyError, SlidingWindow, Unlimited
from relaunch.kernel.group import Group
from relaunch.kernel.vocabulary import Strategy
from relaunch.units import parse_duration, read_text

__all__ = [
    "DEFAULT_FILE",
    "ConfigError",
    "ContainerWorkload",
    "ExecWorkload",
    "FleetConfig",
    "HealthSpec",
    "LogSpec",
    "Workload",
    "load",
    "socket_path",
]

#: Workload names, as ``relaunch supervise`` takes them (Docker's container-name characters, at
#: most a DNS label's 63), so a name is also a container name and a log file name.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

_SIZE = re.compile(r"\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "KiB": 2**10, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}

# tomllib's words for a table declared twice (a duplicate workload or group name).
_TWICE = re.compile(r"Cannot declare \((.*)\) twice \((at line \d+)")

_FLEET_KEYS = {"store", "id", "logs", "log_max_bytes", "log_backups", "stop_grace"}
_COMMON_KEYS = {"policy", "preset", "health"}
_EXEC_KEYS = _COMMON_KEYS | {"exec", "cwd", "env", "user", "stdout", "stderr", "log_max_bytes", "log_backups"}
_CONTAINER_KEYS = _COMMON_KEYS | {"image", "command", "engine", "network"}
_GROUP_KEYS = {"strategy", "members", "budget"}
_HEALTH_PROBES = ("exec", "cmd", "tcp", "http")
_HEALTH_TIMINGS = ("interval", "timeout", "start_period")


class ConfigError(ValueError):
    """A fleet file that cannot be used; the message is the one line to show."""


@dataclass(frozen=True, slots=True)
class LogSpec:
    """The log file a command's stream goes to (a stream without one inherits relaunch's own)."""

    path: Path
    max_bytes: int
    backups: int


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """A health check as the file spells it: one probe and the kernel's timings."""

    probe: str  # "exec", "tcp" or "http"
    target: tuple[str, ...] | int | str  # argv, port, or URL
    check: HealthCheck
    timings: Mapping[str, float]  # the timings given (seconds), for a container's healthcheck
    retries: int


@dataclass(frozen=True, slots=True)
class Workload:
    """What every workload has: a name, a policy, an optional group and health check."""

    name: str
    policy: Policy
    health: HealthSpec | None
    definition: str  # canonical JSON of everything that defines the run (see the docstring)
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ExecWorkload(Workload):
    """A local command."""

    argv: tuple[str, ...] = ()
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    stdout: LogSpec | None = None
    stderr: LogSpec | str | None = None  # "stdout": the same file as stdout


@dataclass(frozen=True, slots=True)
class ContainerWorkload(Workload):
    """A container on a Docker-API engine (Docker or Podman)."""

    image: str = ""
    command: tuple[str, ...] | None = None
    engine: str | None = None  # a base URL; None: DOCKER_HOST, else the engine's default socket
    network: str = "none"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """A checked fleet file."""

    path: Path
    store: Path
    supervisor_id: str
    logs: Path | None
    stop_grace: float
    workloads: tuple[Workload, ...]  # in file order, which is the start order
    groups: tuple[Group, ...]
    # By name, for the lookups every decision makes (made from ``workloads``; not compared).
    _by_name: Mapping[str, Workload] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {w.name: w for w in self.workloads})

    def workload(self, name: str) -> Workload | None:
        return self._by_name.get(name)

    @property
    def socket(self) -> Path:
        """The control socket: next to the store."""
        return Path(socket_of(self.store))


class _Where:
    """Who an error is about: the file and the table."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table

    def fail(self, key: str, problem: str) -> ConfigError:
        table = f" [{self.table}]" if self.table else ""
        return ConfigError(f"{self.path}:{table} {key}: {problem}")


def load(path: str | os.PathLike[str]) -> FleetConfig:
    """Read and check the fleet file at ``path``; :class:`ConfigError` on the first problem."""
    path = Path(path)
    try:
        data = tomllib.loads(read_text(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such fleet file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a fleet file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a TOML file: byte {error.start} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        twice = _TWICE.match(str(error))
        if twice:
            table = ".".join(re.findall(r"'([^']*)'", twice.group(1)))
            raise ConfigError(
                f"{path}: [{table}] declared twice ({twice.group(2)}): names must be unique"
            ) from None
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return _fleet(path, data)


def _fleet(path: Path, data: dict[str, Any]) -> FleetConfig:
    top = _Where(path, "")
    for key in data:
        if key not in ("fleet", "workload", "group"):
            raise top.fail(key, "unknown table or key (expected [fleet], [workload.NAME], [group.NAME])")
    fleet = _table(top, "fleet", data.get("fleet", {}))
    where = _Where(path, "fleet")
    _known(where, fleet, _FLEET_KEYS)
    folder = path.parent
    try:
        store = Path(store_of(path, fleet))
    except ValueError as problem:
        raise where.fail("store", str(problem)) from None
    supervisor_id = _string(where, "id", fleet.get("id", "relaunch"))
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,30}", supervisor_id):
        raise where.fail(
            "id", f"must be lower-case letters, digits, '.', '-', '_' (at most 31), got {supervisor_id!r}"
        )
    logs_value = fleet.get("logs", "logs")
    logs = None if logs_value == "none" else folder / _string(where, "logs", logs_value)
    max_bytes = _size(where, "log_max_bytes", fleet.get("log_max_bytes", 50 * 2**20))
    backups = _count(where, "log_backups", fleet.get("log_backups", 10))
    stop_grace = _duration(where, "stop_grace", fleet.get("stop_grace", 10.0))

    tables = _table(top, "workload", data.get("workload", {}))
    if not tables:
        raise top.fail("workload", "the file names no workload ([workload.NAME] tables)")
    workloads: list[Workload] = []
    for name, table in tables.items():
        where = _Where(path, f"workload.{name}")
        if not NAME.fullmatch(name):
            raise where.fail(
                "name",
                "must be letters, digits, '.', '-', '_', starting with a letter or digit "
                f"(at most 63); got {name!r}",
            )
        workloads.append(
            _workload(where, name, _table(top, f"workload.{name}", table), logs, max_bytes, backups)
        )

    groups, member_of = _groups(
        path, _table(top, "group", data.get("group", {})), [w.name for w in workloads]
    )
    workloads = [_with_group(w, member_of.get(w.name)) for w in workloads]
    return FleetConfig(
        path=path,
        store=store,
        supervisor_id=supervisor_id,
        logs=logs,
        stop_grace=stop_grace,
        workloads=tuple(workloads),
        groups=tuple(groups),
    )


def _workload(
    where: _Where, name: str, table: dict[str, Any], logs: Path | None, max_bytes: int, backups: int
) -> Workload:
    kinds = [k for k in ("exec", "image") if k in table]
    if len(kinds) != 1:
        problem = "both given" if kinds else "missing"
        raise where.fail(
            "exec", f"a workload is a command (exec = [...]) or a container (image = ...): {problem}"
        )
    policy = _policy(where, name, table)
    health = _health(where, table.get("health"), container=kinds[0] == "image")
    if kinds[0] == "exec":
        _known(where, table, _EXEC_KEYS)
        argv = _argv(where, "exec", table["exec"])
        cwd = None
        if "cwd" in table:
            cwd = Path(_string(where, "cwd", table["cwd"]))
            if not cwd.is_absolute():
                cwd = where.path.parent / cwd
            if not cwd.is_dir():
                raise where.fail("cwd", f"no such folder: {str(cwd)!r}")
        env = _env(where, table.get("env", {}))
        user = None
        if "user" in table:
            user = _user(where, table["user"])
        local_max = _size(where, "log_max_bytes", table.get("log_max_bytes", max_bytes))
        local_backups = _count(where, "log_backups", table.get("log_backups", backups))
        stdout = _log(where, "stdout", table.get("stdout"), logs, name, local_max, local_backups)
        stderr: LogSpec | str | None
        if table.get("stderr") == "stdout":
            if stdout is None:
                raise where.fail("stderr", "'stdout' needs stdout to go to a file")
            stderr = "stdout"
        else:
            stderr = _log(where, "stderr", table.get("stderr"), logs, name, local_max, local_backups)
        definition = _definition(
            table, logs=None if logs is None else str(logs), max=local_max, backups=local_backups
        )
        return ExecWorkload(
            name=name,
            policy=policy,
            health=health,
            definition=definition,
            argv=argv,
            cwd=cwd,
            env=env,
            user=user,
            stdout=stdout,
            stderr=stderr,
        )
    _known(where, table, _CONTAINER_KEYS)
    image = _string(where, "image", table["image"])
    if not image:
        raise where.fail("image", "must not be empty")
    command = None if "command" not in table else _argv(where, "command", table["command"])
    engine = None if "engine" not in table else _string(where, "engine", table["engine"])
    if engine is not None and not engine.startswith(("unix://", "tcp://", "http://", "https://")):
        raise where.fail("engine", f"must be an engine address (unix:///path/docker.sock), got {engine!r}")
    network = _string(where, "network", table.get("network", "none"))
    return ContainerWorkload(
        name=name,
        policy=policy,
        health=health,
        definition=_definition(table, engine_default=os.environ.get("DOCKER_HOST")),
        image=image,
        command=command,
        engine=engine,
        network=network,
    )


def _definition(table: Mapping[str, Any], **context: Any) -> str:
    """Canonical JSON of a workload's table and the fleet defaults it uses."""
    return json.dumps({"table": table, "context": context}, sort_keys=True, default=str)


def _policy(where: _Where, name: str, table: Mapping[str, Any]) -> Policy:
    if "policy" in table and "preset" in table:
        raise where.fail("preset", "give policy or preset, not both")
    value = table.get("policy", table.get("preset", "recommended"))
    key = "policy" if "policy" in table else "preset"
    if isinstance(value, str):
        data: dict[str, Any] = {"preset": value}
    elif isinstance(value, dict):
        data = dict(value)
    else:
        raise where.fail(key, f"must be a preset name or a policy table, got {value!r}")
    # A fleet of many workloads mostly repeats a few policy tables (1000 decoded took half of a
    # 1000-workload file's load): each distinct table is decoded once. Policies are immutable,
    # so sharing one is safe; a table that fails is not kept, so each failure names its table.
    canonical = json.dumps(data, sort_keys=True, default=repr)
    policy = _DECODED.get(canonical)
    if policy is None:
        try:
            policy = policyfile.from_data(data)
        except PolicyError as error:
            raise where.fail(key, str(error)) from None
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        _DECODED[canonical] = policy
    return policy


_DECODED: dict[str, Policy] = {}
_DECODED_MAX = 1024


def _health(where: _Where, value: object, *, container: bool) -> HealthSpec | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise where.fail("health", f"must be a table (health = {{ http = ... }}), got {value!r}")
    probes = [k for k in _HEALTH_PROBES if k in value]
    unknown = sorted(set(value) - set(_HEALTH_PROBES) - set(_HEALTH_TIMINGS) - {"retries"})
    if unknown:
        raise where.fail(
            f"health.{unknown[0]}",
            "unknown key (expected exec, tcp, http, interval, timeout, start_period, retries)",
        )
    if len(probes) != 1:
        raise where.fail("health", "needs exactly one of exec = [...], tcp = PORT, http = URL")
    kind = "exec" if probes[0] == "cmd" else probes[0]
    raw = value[probes[0]]
    target: tuple[str, ...] | int | str
    if kind == "exec":
        target = _argv(where, f"health.{probes[0]}", raw)
    elif container:
        raise where.fail(
            f"health.{kind}", "a container's health check is exec = [...] (run in the container)"
        )
    elif kind == "tcp":
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 65536:
            raise where.fail("health.tcp", f"must be a port number 1-65535, got {raw!r}")
        target = raw
    else:
        target = _string(where, "health.http", raw)
    timings = {k: _duration(where, f"health.{k}", value[k]) for k in _HEALTH_TIMINGS if k in value}
    retries = _count(where, "health.retries", value.get("retries", 0))
    try:
        check = HealthCheck.docker(retries=retries, **timings)
    except PolicyError as error:
        raise where.fail("health", str(error)) from None
    return HealthSpec(kind, target, check, timings, retries)


def _groups(path: Path, tables: dict[str, Any], names: list[str]) -> tuple[list[Group], dict[str, str]]:
    groups: list[Group] = []
    member_of: dict[str, str] = {}
    for gname, raw in tables.items():
        where = _Where(path, f"group.{gname}")
        table = _table(_Where(path, ""), f"group.{gname}", raw)
        _known(where, table, _GROUP_KEYS)
        strategy_text = table.get("strategy", "one_for_one")
        try:
            strategy = Strategy(strategy_text)
        except ValueError:
            choices = ", ".join(s.value for s in Strategy)
            raise where.fail("strategy", f"must be one of {choices}, got {strategy_text!r}") from None
        members = table.get("members")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise where.fail("members", f"must be a non-empty list of workload names, got {members!r}")
        for member in members:
            if member not in names:
                raise where.fail("members", f"no workload {member!r} in this file")
            if member in member_of:
                raise where.fail("members", f"{member!r} is already in group {member_of[member]!r}")
            member_of[member] = gname
        if len(set(members)) != len(members):
            raise where.fail("members", f"names a workload twice: {members!r}")
        budget = _group_budget(where, table.get("budget"))
        try:
            groups.append(Group(name=gname, strategy=strategy, members=tuple(members), budget=budget))
        except PolicyError as error:
            raise where.fail("members", str(error)) from None
    return groups, member_of


def _group_budget(where: _Where, value: object) -> Any:
    """OTP's intensity and period (``restarts`` within ``within``) as a sliding window."""
    if value is None:
        return Unlimited()
    if not isinstance(value, dict) or set(value) - {"restarts", "within"} or "restarts" not in value:
        raise where.fail("budget", f"must be {{ restarts = N, within = DURATION }}, got {value!r}")
    restarts = _count(where, "budget.restarts", value["restarts"])
    within = _duration(where, "budget.within", value.get("within", 5.0))
    if within <= 0:
        raise where.fail("budget.within", f"must be a duration > 0, got {value.get('within')!r}")
    try:
        return SlidingWindow(max_restarts=restarts, period=within)
    except PolicyError as error:
        raise where.fail("budget", str(error)) from None


def _with_group(w: Workload, group: str | None) -> Workload:
    if group is None:
        return w
    import dataclasses

    return dataclasses.replace(w, group=group)


def _log(
    where: _Where, key: str, value: object, logs: Path | None, name: str, max_bytes: int, backups: int
) -> LogSpec | None:
    if value is None:
        value = "inherit" if logs is None else "file"
    text = _string(where, key, value)
    if text == "inherit":
        return None
    if text == "file":
        if logs is None:
            raise where.fail(key, "'file' needs [fleet] logs = FOLDER")
        return LogSpec(logs / f"{name}.{key}.log", max_bytes, backups)
    if text == "stdout":
        raise where.fail(key, "'stdout' is for stderr only")
    target = Path(text)
    return LogSpec(target if target.is_absolute() else where.path.parent / target, max_bytes, backups)


def _known(where: _Where, table: Mapping[str, Any], keys: set[str]) -> None:
    for key in table:
        if key not in keys:
            raise where.fail(key, f"unknown key (expected one of {', '.join(sorted(keys))})")


def _table(where: _Where, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.fail(key, f"must be a table, got {value!r}")
    return value


def _string(where: _Where, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise where.fail(key, f"must be a string, got {value!r}")
    return value


def _argv(where: _Where, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value) or not value[0]:
        raise where.fail(key, f"must be a non-empty list of strings, got {value!r}")
    return tuple(value)


def _env(where: _Where, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise where.fail("env", f"must be a table of strings, got {value!r}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise where.fail(f"env.{k}", f"must be a string, got {v!r}")
        if "=" in k or not k:
            raise where.fail(f"env.{k}", "not a variable name")
    return dict(value)


def _user(where: _Where, value: object) -> str:
    import pwd

    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _string(where, "user", value)
    try:
        pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except KeyError:
        raise where.fail("user", f"no such user: {text!r}") from None
    if os.geteuid() != 0:
        raise where.fail("user", f"only when relaunch runs as root (it runs as uid {os.geteuid()})")
    return text


def _duration(where: _Where, key: str, value: object) -> float:
    try:
        seconds = parse_duration(value, key)
    except ValueError as error:
        raise where.fail(key, str(error).removeprefix(f"{key}: ")) from None
    if seconds < 0:
        raise where.fail(key, f"must be a duration >= 0, got {value!r}")
    return seconds


def _count(where: _Where, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise where.fail(key, f"must be a whole number >= 0, got {value!r}")
    return value


def _size(where: _Where, key: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        return int(match.group(1)) * _UNITS[match.group(2)]
    raise where.fail(key, f'must be a size in bytes (10485760, "10MiB", "512KB"), got {value!r}')
