"""The fleet benchmark's fleet as one list, and the three files that hand it to a supervisor.

This module owns what the fleet *is*: N programs, each a name and an argv (:func:`program`),
restarted at once and forever; and how each supervisor is told so: ``fleet.toml`` for
``relaunch run``, ``supervisord.conf`` for ``supervisord -c`` and ``ecosystem.config.js`` for
``pm2 start``. All three are rendered from the same :func:`fleet` list, so they cannot drift
apart. It starts nothing and imports neither relaunch nor a peer.

"Restart at once, forever", as each supervisor's documentation has it:

- relaunch: the policy table :data:`POLICY` (``mode = "always"``, a constant backoff of 0 s, an
  unlimited budget), in the shape ``relaunch check`` reads (``relaunch.policyfile.from_data``);
  the Python-API server builds its policy from the same table.
- supervisord (Supervisor/supervisor, docs/configuration.rst): ``autorestart=true``,
  ``startsecs=0`` (an exit is never a failed start in BACKOFF, whose delay grows),
  ``startretries`` huge.
- PM2 (Unitech/pm2, lib/API/schema.json): ``autorestart``, ``restart_delay: 0``,
  ``max_restarts`` huge (runs shorter than ``min_uptime`` count against it as unstable
  restarts), ``interpreter: none``, ``vizion: false`` (no git metadata lookup per app).

Output: the programs write nothing to stdout or stderr (their stamps go to a file), and each
supervisor is told to keep none: supervisord ``NONE``, PM2 ``/dev/null``, relaunch
``"inherit"`` (the supervisor's own streams, which the harness sends to a log file: no pipe
and no log file per program, as the Python API does by default). Every supervisor gets
:data:`STOP_GRACE_S` between SIGTERM and SIGKILL.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: relaunch's "restart at once, forever" as a fleet file's (and ``relaunch check``'s) policy table.
POLICY: dict[str, Any] = {
    "mode": "always",
    "backoff": {"kind": "constant", "seconds": 0.0},
    "budget": {"kind": "unlimited"},
}

#: Seconds from SIGTERM to SIGKILL when a supervisor stops a program (supervisord's
#: ``stopwaitsecs``, PM2's ``kill_timeout``, relaunch's ``stop_grace``). bash dies at SIGTERM.
STOP_GRACE_S = 2

#: The store of ``fleet.toml``, relative to the file's folder; its control socket is beside it.
STORE = "fleet.db"

#: A program changed for the reload check stamps under its name plus this.
CHANGED_SUFFIX = "r"

_SAFE_PATH = re.compile(r"[\w./-]+")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def lifetime(i: int, n: int, run_s: float, spread: bool) -> float:
    """How long program ``i`` of ``n`` lives: ``run_s``, or with ``spread`` run_s * (1 + i / n)."""
    return run_s * (1 + i / n) if spread else run_s


def program(label: str, stamps: Path, run_s: float) -> list[str]:
    """The argv that stamps ``label``'s start, lives ``run_s``, stamps its end and exits 1."""
    if not _SAFE_PATH.fullmatch(str(stamps)) or not re.fullmatch(r"\w+", label):
        raise ValueError(f"unsafe path or name for a shell command line: {stamps!r}, {label!r}")
    script = (
        f'echo "{label} s $EPOCHREALTIME" >> {stamps}; sleep {run_s:g}; '
        f'echo "{label} e $EPOCHREALTIME" >> {stamps}; exit 1'
    )
    return [bash(), "-c", script]


def bash() -> str:
    path = shutil.which("bash")
    if path is None:
        raise RuntimeError("bash is not on PATH (the fleet's programs stamp time with $EPOCHREALTIME)")
    return path


@dataclass(frozen=True, slots=True)
class Program:
    """One program of the fleet: the name its supervisor knows it by, and how it runs."""

    name: str
    label: str  # the name its stamps carry: ``name``, unless changed for the reload check
    stamps: Path
    run_s: float

    @property
    def argv(self) -> list[str]:
        return program(self.label, self.stamps, self.run_s)

    def changed(self) -> Program:
        """The same program under a new definition (another argv), stamping as ``label + "r"``."""
        return dataclasses.replace(self, label=self.label + CHANGED_SUFFIX)


def fleet(n: int, stamps: Path, run_s: float, spread: bool = False) -> list[Program]:
    """The N programs ``w0`` ... ``w{N-1}``, in start order, appending their stamps to ``stamps``."""
    return [Program(f"w{i}", f"w{i}", stamps, lifetime(i, n, run_s, spread)) for i in range(n)]


# -- relaunch run: fleet.toml ------------------------------------------------------------------


def relaunch_toml(programs: Sequence[Program]) -> str:
    """The fleet file ``relaunch run`` reads; checked to parse back to exactly what it says."""
    data = {
        "fleet": {"store": STORE, "stop_grace": f"{STOP_GRACE_S}s"},
        "workload": {
            p.name: {"exec": p.argv, "stdout": "inherit", "stderr": "inherit", "policy": POLICY}
            for p in programs
        },
    }
    lines = [_toml_table("fleet", data["fleet"])]
    lines += [_toml_table(f"workload.{name}", table) for name, table in data["workload"].items()]
    text = "\n".join(lines)
    if tomllib.loads(text) != data:  # a string TOML escapes differently from JSON, for one
        raise ValueError(f"the fleet file does not parse back to the fleet: {text[:300]!r}")
    return text


def _toml_table(header: str, table: dict[str, Any]) -> str:
    return f"[{header}]\n" + "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in table.items())


def _toml_key(key: str) -> str:
    if not _BARE_KEY.fullmatch(key):
        raise ValueError(f"not a bare TOML key: {key!r}")
    return key


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        # JSON's number and string syntax is TOML's for printable text (relaunch_toml checks).
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


# -- supervisord -c supervisord.conf -----------------------------------------------------------


def supervisord_conf(programs: Sequence[Program], workdir: Path, max_fds: int, max_procs: int) -> str:
    """supervisord's configuration, in the foreground, its own files in ``workdir``.

    ``max_fds`` and ``max_procs`` are the hard limits: supervisord refuses to start below its
    ``minfds``/``minprocs``, and needs three pipes per child.
    """
    n = len(programs)
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={workdir}/supervisord.log",
        f"pidfile={workdir}/supervisord.pid",
        f"childlogdir={workdir}",
        f"minfds={min(max_fds, 8 * n + 1024)}",
        f"minprocs={min(max_procs, 4 * n + 200)}",
    ]
    for p in programs:
        lines += [
            f"[program:{p.name}]",
            f"command={' '.join(_supervisord_quote(a) for a in p.argv)}",
            "autorestart=true",
            "startsecs=0",
            "startretries=1000000000",
            "stdout_logfile=NONE",
            "stderr_logfile=NONE",
            "stopasgroup=true",
            "killasgroup=true",
            f"stopwaitsecs={STOP_GRACE_S}",
        ]
    return "\n".join(lines) + "\n"


def _supervisord_quote(arg: str) -> str:
    # supervisord splits `command` with shlex; `%` starts its own %(name)s expansions.
    return "'" + arg.replace("'", "'\\''").replace("%", "%%") + "'"


# -- pm2 start ecosystem.config.js -------------------------------------------------------------


def pm2_ecosystem(programs: Sequence[Program]) -> str:
    """PM2's ecosystem file: one app per program, in fork mode, run as is (no interpreter)."""
    apps = [
        {
            "name": p.name,
            "script": p.argv[0],
            "args": p.argv[1:],
            "interpreter": "none",
            "exec_mode": "fork",
            "autorestart": True,
            "restart_delay": 0,
            "max_restarts": 1_000_000_000,
            "watch": False,
            "vizion": False,
            "out_file": "/dev/null",
            "error_file": "/dev/null",
            "kill_timeout": STOP_GRACE_S * 1000,
            "env": {"LC_ALL": "C"},
        }
        for p in programs
    ]
    return "module.exports = " + json.dumps({"apps": apps}) + ";\n"
