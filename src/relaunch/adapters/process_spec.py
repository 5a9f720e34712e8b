"""What a local command is: :class:`ProcessSpec`, and the :class:`Credentials` of the user it runs as.

What this module owns: the fields of a spec and their checks, made once, when the spec is made,
each failing with an error that names the field and the value (so a bad spec never reaches a
restart); the resolution of ``user`` into a uid, a gid and supplementary groups (``pwd``,
``os.getgrouplist``); and the lookup of the two programs a spec with ``cwd`` or ``user`` is
spawned through (:func:`tool`: ``process_spawn.py`` says why they are needed). It must not
spawn, signal or watch anything, nor read ``/proc``: ``process_spawn.py`` turns a spec into a
spawn, ``process.py`` runs and watches it. No threads, no locks.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from relaunch.adapters.logfiles import LogFile
from relaunch.adapters.probes import Health

__all__ = ["Credentials", "ProcessSpec", "tool"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """Whom a run runs as, resolved from ``ProcessSpec.user`` when the spec is made."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups, as os.getgrouplist gives them (gid among them)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """The command of a workload: ``argv[0]`` is looked up on ``PATH`` (``posix_spawnp``).

    By default the process inherits the supervisor's environment (plus the two ``RELAUNCH_``
    marks), working directory, user and standard streams (so a supervised stdio server keeps
    talking to the supervisor's own stdin and stdout). ``health``, if given, is probed while it
    runs. The keyword-only fields, each checked here with an error naming it:

    - ``cwd``: the directory it runs in (an existing one; made absolute). A relative ``argv[0]``
      with a slash is relative to it.
    - ``env``: variables set over the supervisor's environment (str to str); the ``RELAUNCH_``
      marks are always the runtime's.
    - ``user``: a user name or uid (a string of digits is a uid, as supervisord's
      ``datatypes.name_to_uid`` reads it) to run as, with its primary group and supplementary
      groups (``credentials``: resolved here with ``pwd`` and ``os.getgrouplist``). Only a
      supervisor running as root can; as with supervisord's ``user``, ``HOME`` and ``USER`` are
      left as they are (set them in ``env``).
    - ``stdout``, ``stderr``: a :class:`~relaunch.adapters.logfiles.LogFile` the stream is
      written to, or None to inherit the supervisor's; ``stderr="stdout"`` writes stderr to
      stdout's file (supervisord's ``redirect_stderr``).
    """

    argv: tuple[str, ...]
    health: Health | None
    cwd: str | None
    env: Mapping[str, str]
    user: str | int | None
    credentials: Credentials | None
    stdout: LogFile | None
    stderr: LogFile | Literal["stdout"] | None

    def __init__(
        self,
        argv: Sequence[str],
        health: Health | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        user: str | int | None = None,
        stdout: LogFile | None = None,
        stderr: LogFile | Literal["stdout"] | None = None,
    ) -> None:
        args = tuple(argv)
        if not args or not all(isinstance(a, str) for a in args) or not args[0]:
            raise ValueError(f"ProcessSpec.argv: must be a non-empty list of strings, got {argv!r}")
        if any("\0" in a for a in args):
            # A C string ends at its first NUL: the spawn would cut such an argument short.
            raise ValueError(f"ProcessSpec.argv: an argument contains NUL, got {argv!r}")
        if health is not None and not isinstance(health, Health):
            raise TypeError(f"ProcessSpec.health: must be a Health, got {health!r}")
        if cwd is not None:
            cwd = _checked_cwd(cwd)
            if "=" in args[0]:
                # `env -C DIR -- NAME=VALUE` would set a variable rather than run the command.
                raise ValueError(
                    f"ProcessSpec.argv: with cwd, the command's name cannot contain '=', got {args[0]!r}"
                )
        if stderr is not None and stderr != "stdout" and not isinstance(stderr, LogFile):
            raise ValueError(f"ProcessSpec.stderr: must be a LogFile, 'stdout' or None, got {stderr!r}")
        if stdout is not None and not isinstance(stdout, LogFile):
            raise ValueError(f"ProcessSpec.stdout: must be a LogFile or None, got {stdout!r}")
        if stderr == "stdout" and stdout is None:
            raise ValueError("ProcessSpec.stderr: 'stdout' needs stdout to be a LogFile, got stdout=None")
        if isinstance(stderr, LogFile) and stdout is not None and stderr.path == stdout.path:
            raise ValueError(
                f"ProcessSpec.stderr: {str(stderr.path)!r} is stdout's file too; say stderr='stdout'"
            )
        object.__setattr__(self, "argv", args)
        object.__setattr__(self, "health", health)
        object.__setattr__(self, "cwd", cwd)
        object.__setattr__(self, "env", _checked_env(env))
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "credentials", None if user is None else _credentials(user))
        object.__setattr__(self, "stdout", stdout)
        object.__setattr__(self, "stderr", stderr)

    @property
    def log_files(self) -> tuple[LogFile, ...]:
        """The files its streams are written to (stderr's only if it is a file of its own)."""
        return tuple(log for log in (self.stdout, self.stderr) if isinstance(log, LogFile))


def _checked_cwd(cwd: str | os.PathLike[str]) -> str:
    if not isinstance(cwd, (str, os.PathLike)) or not os.fspath(cwd):
        raise ValueError(f"ProcessSpec.cwd: must be a directory path, got {cwd!r}")
    path = os.path.abspath(cwd)
    if not os.path.isdir(path):
        raise ValueError(f"ProcessSpec.cwd: no such directory: {os.fspath(cwd)!r}")
    tool("env", "cwd")
    return path


def _checked_env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    if env is None:
        return MappingProxyType({})
    if not isinstance(env, Mapping):
        raise ValueError(f"ProcessSpec.env: must be a mapping of str to str, got {env!r}")
    for key, value in env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise ValueError(f"ProcessSpec.env: not a variable name: {key!r}")
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(f"ProcessSpec.env: {key}: must be a string without NUL, got {value!r}")
    return MappingProxyType(dict(env))


def _credentials(user: str | int) -> Credentials:
    if isinstance(user, bool) or not isinstance(user, (str, int)) or user == "":
        raise ValueError(f"ProcessSpec.user: must be a user name or uid, got {user!r}")
    if os.geteuid() != 0:
        raise ValueError(
            f"ProcessSpec.user: running as {user!r} needs a supervisor running as root "
            f"(this one runs as uid {os.geteuid()})"
        )
    try:
        entry = pwd.getpwuid(int(user)) if isinstance(user, int) or user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        raise ValueError(f"ProcessSpec.user: no such user: {user!r}") from None
    tool("setpriv", "user")
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Credentials(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


# What runs a command in another directory or as another user, since os.posix_spawn (Python
# 3.11) can do neither: GNU coreutils' `env -C DIR` and util-linux's `setpriv` (``process_spawn.py``).
_TOOLS = {"env": "coreutils", "setpriv": "util-linux"}


@functools.cache
def tool(name: str, field_name: str) -> str:
    """The path of the program ``name`` on ``PATH`` (looked up once), or a ValueError naming the field."""
    found = shutil.which(name)
    if found is None:
        raise ValueError(f"ProcessSpec.{field_name}: needs `{name}` ({_TOOLS[name]}) on PATH, not found")
    return found
