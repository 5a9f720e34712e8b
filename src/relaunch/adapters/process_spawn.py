"""How a :class:`~relaunch.adapters.process_spec.ProcessSpec` becomes a process: one ``posix_spawn`` call.

What this module owns: a run's environment (with the marks of ``process_identity.py``), its argv
(behind the trampolines that set its user and directory), both made once per workload as the C
arrays the spawn takes (:class:`Launch`), the checks a start makes before a trampoline would
hide a failure, the log files opened for a run and the spawn's file actions that hand them over,
and the spawn itself: libc's ``posix_spawnp`` called through ``ctypes``. It must not wait for,
signal or watch a process, nor keep any table: ``process.py`` opens the run's pidfd, reads its
identity, kills a start that fails after the spawn, and tells a command's failure from the
host's. Standard library only; Linux only. No threads, no locks (it runs on the caller's thread,
outside its locks).

The facts it relies on:

- **One process group per run.** Each run is spawned with ``POSIX_SPAWN_SETSID`` (what
  ``os.posix_spawnp(..., setsid=True)`` sets), so it leads a new session and process group
  (pgid = pid) of its own, detached from the terminal (a terminal's Ctrl-C reaches the supervisor,
  which stops the workload itself). Not ``subprocess.Popen``: a ``Popen`` dropped while its
  child runs (as the runtime's ``close()`` must leave it) warns, and is later reaped by
  ``subprocess``'s own clean-up, which would steal the exit status from a supervisor that adopts
  the process in the same program.
- **The spawn leaves the GIL to the other threads.** The parent of a ``posix_spawn`` is
  suspended until the child has called ``execve`` (glibc clones with ``CLONE_VFORK``), and
  ``os.posix_spawnp`` holds the GIL all that while: with 500 crash-looping workloads on a
  saturated 2-core machine, where the child waits for a core, 84% of the samples in which a
  thread of ``relaunch run`` held the GIL were in that call (py-spy ``--gil``, 10 s), and no
  other thread (the end of a run, the commit, another start) could go on meanwhile. ``ctypes``
  releases the GIL around every call into a ``CDLL`` (the ``ctypes`` documentation, "Loading
  shared libraries"), so the same libc call through it lets them. The C arrays of argv and of
  the environment are built once per workload (:class:`Launch`), not at each start as
  ``os.posix_spawnp`` encodes its env mapping: the parent's CPU for a spawn and wait of
  ``bash -c exit``, 500 of them, went from 113-132 us to 74-78 us. ``POSIX_SPAWN_SETSID`` (0x80)
  and ``POSIX_SPAWN_SETSIGDEF`` (0x04) are the values of glibc's and musl's ``spawn.h``.
- **Signals at their defaults.** Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays
  ignored across ``execve``; each run gets both back at their defaults (``SETSIGDEF``), as
  ``subprocess`` does with ``restore_signals=True``, or a pipeline such as ``yes | head`` in a
  workload would see EPIPE instead of dying quietly.
- **Start failures.** A command that cannot be executed (missing file, permission denied, bad
  format) makes ``posix_spawnp`` return its errno in the parent, which :func:`spawn` raises as
  ``OSError`` (glibc 2.24 and later report the child's ``execve`` error; measured with glibc
  2.36: ENOENT, EACCES, ENOEXEC): the runtime's ``START_FAILED``. A failed fork
  (:data:`FORK_ERRNOS`: EAGAIN, ENOMEM) or a lack of file descriptors (:data:`FD_ERRNOS`:
  EMFILE, ENFILE) is the host's trouble, not the command's; ``process.py`` retries it at no cost
  to the budget.
- **Working directory and user.** ``posix_spawn`` can neither ``chdir`` (but through glibc's
  ``_np`` extension) nor change credentials, so a spec with ``cwd`` or ``user`` is spawned
  through small programs that do it and then ``execvp`` the command in the same process:
  util-linux's ``setpriv --reuid --regid --groups`` (the groups resolved when the spec is made),
  then coreutils' ``env -C DIR``. The user is set first, so the directory is entered as the
  user, as supervisord's ``_spawn_as_child`` (``supervisor/process.py``) calls ``set_uid``
  before ``chdir``. The pid, the process group and the start time are those of the spawn and the
  marks are in the environment, so identity and adoption are unchanged. The supervisor's side of
  a start costs the same (``CLONE_VFORK`` returns at the first ``execve``, the trampoline's: the
  ``posix_spawn`` call took a median 0.14 ms plain, 0.14 ms through ``env -C``, 0.19 ms through
  ``setpriv``); the run reaches its command later (a spawn and exit of ``true``, median of 5 x
  200: 0.6 ms plain, 1.3 ms through ``env -C``, 1.8 ms through ``setpriv``, 2.5 ms through
  both). What the trampoline cannot do ends that run with its exit status: 125 (the directory
  cannot be entered), 126 (the command cannot be executed), 127 (not found). So that the common
  mistakes stay ``START_FAILED``, such a start first checks that the directory exists and that
  the command is found and executable on the run's ``PATH`` (as root: a command only the user
  may not execute still ends in 126). A spec with neither makes no
  extra call.
- **Output.** A spec's ``stdout``/``stderr`` log files (``logfiles.py``) are opened at each
  start (``O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC``, mode 0640, owned by the run's user if
  it has one) and handed to the child as its fd 1 and 2 by the spawn's file actions
  (``POSIX_SPAWN_DUP2``); this process's copies are closed right after the spawn. The child
  writes to the file itself: the supervisor never reads or copies its output, so a program
  writing fast cannot block it, and a run adopted after a SIGKILLed supervisor goes on writing
  to the same file. Measured with a program writing 100 MiB/s for 5 s: 1 ms of the
  supervisor's CPU for 500 MiB when the file does not rotate; with rotation, 0.5-1 ms of
  kernel time per MiB rotated on the ``relaunch-logs`` thread (the copy of copy-truncate, on
  ext4), none on the other threads; three crash loops beside it (paced by a 20 ms restart
  delay) kept 0.96x their restart rate, 0.9x with two busy loops on the two cores. A full
  file is rotated by renames at the spawn, and a live one copy-truncated about once a second
  (``logfiles.py`` says what that can lose).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relaunch.adapters.logfiles import LogFile, open_for_run
from relaunch.adapters.process_identity import ENV_OWNER, ENV_WORKLOAD
from relaunch.adapters.process_spec import ProcessSpec, tool
from relaunch.adapters.runtime import StartError

__all__ = ["FD_ERRNOS", "FORK_ERRNOS", "Launch", "check_libc", "environment", "spawn"]

# The host is short of processes or memory (a failed fork), or of descriptors: not the command's
# fault, so retried later at no cost to the budget.
FORK_ERRNOS = frozenset({errno.EAGAIN, errno.ENOMEM})
FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})

# Python sets both to SIG_IGN at start-up; a run must see them as any program started by a shell.
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)

# spawn.h (glibc and musl alike).
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSID = 0x80
# The opaque libc types are only ever made by their own init functions; these sizes are larger
# than any libc's (glibc on x86-64: posix_spawnattr_t 336 bytes, posix_spawn_file_actions_t 80,
# sigset_t 128).
_ATTR_BYTES = 1024
_ACTIONS_BYTES = 512
_SIGSET_BYTES = 256


class _Libc:
    """libc's spawn functions, with the one attribute set every run is spawned with."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        pointer = ctypes.c_void_p
        spawn_args: list[Any] = [
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p,
            pointer,
            pointer,
            pointer,
            pointer,
        ]
        self.spawnp = libc.posix_spawnp
        self.spawn = libc.posix_spawn
        for call in (self.spawnp, self.spawn):
            call.argtypes = spawn_args
            call.restype = ctypes.c_int
        self.actions_init = libc.posix_spawn_file_actions_init
        self.actions_adddup2 = libc.posix_spawn_file_actions_adddup2
        self.actions_destroy = libc.posix_spawn_file_actions_destroy
        self.actions_adddup2.argtypes = [pointer, ctypes.c_int, ctypes.c_int]
        # Made once, read by every spawn (posix_spawn only reads it, from any thread).
        self.attr = ctypes.create_string_buffer(_ATTR_BYTES)
        signals = ctypes.create_string_buffer(_SIGSET_BYTES)
        _check(libc.posix_spawnattr_init(self.attr), "posix_spawnattr_init")
        _check(libc.sigemptyset(signals), "sigemptyset")
        for signum in _DEFAULT_SIGNALS:
            _check(libc.sigaddset(signals, int(signum)), "sigaddset")
        _check(libc.posix_spawnattr_setsigdefault(self.attr, signals), "posix_spawnattr_setsigdefault")
        flags = ctypes.c_short(_POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGDEF)
        _check(libc.posix_spawnattr_setflags(self.attr, flags), "posix_spawnattr_setflags")


def _check(result: int, call: str) -> None:
    if result != 0:
        # The attribute calls return -1 and set errno; the spawn calls return the errno itself.
        code = ctypes.get_errno() if result == -1 else result
        raise OSError(code, f"{call}: {os.strerror(code)}")


@functools.cache
def _libc() -> _Libc:
    return _Libc()


def check_libc() -> None:
    """Load libc's spawn functions now (``OSError``/``AttributeError`` if this libc lacks them)."""
    _libc()


def environment(spec: ProcessSpec, owner: str, name: str) -> dict[str, str]:
    """The environment of ``name``'s runs: the supervisor's, the spec's over it, and the marks."""
    return {**os.environ, **spec.env, ENV_OWNER: owner, ENV_WORKLOAD: name}


# Each workload's environment is mostly the supervisor's: one bytes object per distinct
# variable, shared by every workload's array (1000 workloads would otherwise keep 1000 copies).
@functools.lru_cache(maxsize=4096)
def _variable(key: str, value: str) -> bytes:
    return os.fsencode(f"{key}={value}")


def _strings(items: list[bytes]) -> Any:
    """A NULL-terminated C array of the strings (it keeps them alive as long as it lives)."""
    # Filled by slice: a third of the time of passing the strings to the constructor (8 us
    # against 31 us for an environment of 38 variables), for each of 1000 workloads at start.
    array = (ctypes.c_char_p * (len(items) + 1))()
    values: list[ctypes.c_char_p | bytes | None] = [*items]
    array[: len(items)] = values
    return array


@dataclass(frozen=True, slots=True, eq=False)
class Launch:
    """How every run of one workload is spawned, made once (at ``watch``): the command (behind
    setpriv and env -C if it has a user or a cwd), its environment, and both as C arrays."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    trampoline: bool  # argv[0] is setpriv or env (an absolute path), not the command
    c_path: bytes  # argv[0], encoded
    c_argv: Any
    c_envp: Any

    @classmethod
    def of(cls, spec: ProcessSpec, env: Mapping[str, str]) -> Launch:
        """The launch of ``spec``, whose runs get ``env`` (:func:`environment`)."""
        prefix: list[str] = []
        if spec.credentials is not None:
            # First, so that the directory is entered as the user, as supervisord's
            # _spawn_as_child changes uid before chdir: a directory the user may not enter fails.
            ids = spec.credentials
            groups = f"--groups={','.join(map(str, ids.groups))}" if ids.groups else "--clear-groups"
            prefix += [tool("setpriv", "user"), f"--reuid={ids.uid}", f"--regid={ids.gid}", groups, "--"]
        if spec.cwd is not None:
            prefix += [tool("env", "cwd"), "-C", spec.cwd, "--"]
        argv = (*prefix, *spec.argv)
        encoded = [os.fsencode(arg) for arg in argv]
        c_envp = _strings([_variable(key, value) for key, value in env.items()])
        return cls(argv, env, bool(prefix), encoded[0], _strings(encoded), c_envp)


def _check_runnable(name: str, spec: ProcessSpec, env: Mapping[str, str]) -> None:
    """StartError unless the cwd exists and the command is found, executable, where it will run.

    Behind a trampoline, a failure to enter the directory or to execute the command happens
    after the spawn, as the trampoline's exit status (125, 126, 127); checking first keeps the
    common failures START_FAILED. Root passes any execute bit, so a command only the user
    cannot execute still ends in 126.
    """
    if spec.cwd is not None and not os.path.isdir(spec.cwd):
        raise StartError(f"{name}: cannot run in {spec.cwd!r}: {os.strerror(errno.ENOENT)}")
    command = spec.argv[0]
    if "/" in command:
        where = os.path.join(spec.cwd or "", command)
        if shutil.which(where) is None:
            problem = errno.EACCES if os.path.exists(where) else errno.ENOENT
            raise StartError(f"{name}: cannot execute {command!r}: {os.strerror(problem)}")
    elif shutil.which(command, path=env.get("PATH", os.defpath)) is None:
        raise StartError(f"{name}: cannot execute {command!r}: not found on its PATH")


def _open_log(name: str, stream: str, log: LogFile, owner: tuple[int, int] | None) -> int:
    try:
        return open_for_run(log, owner)
    except OSError as exc:
        if exc.errno in FD_ERRNOS:
            raise  # a shortage of descriptors: handled as a failed spawn's
        raise StartError(f"{name}: cannot open its {stream} log {str(log.path)!r}: {exc.strerror}") from exc


def spawn(name: str, spec: ProcessSpec, launch: Launch) -> tuple[int, int]:
    """Spawn a run of ``name``: its pid, and CLOCK_BOOTTIME read just before the spawn.

    Raises ``OSError`` if the spawn fails (the caller tells the command's failure from the
    host's by its errno), ``StartError`` if a check before it does. The spec's log files are
    opened here and duplicated onto the child's fds 1 and 2 by the spawn itself; this process's
    copies are closed right after, so only the child writes them.
    """
    libc = _libc()
    if launch.trampoline:
        _check_runnable(name, spec, launch.env)
    ids = spec.credentials
    owner = None if ids is None else (ids.uid, ids.gid)
    opened: list[int] = []
    actions = None
    try:
        dups: list[tuple[int, int]] = []
        if spec.stdout is not None:
            opened.append(_open_log(name, "stdout", spec.stdout, owner))
            dups.append((opened[-1], 1))
        if spec.stderr == "stdout":
            dups.append((opened[0], 2))
        elif spec.stderr is not None:
            opened.append(_open_log(name, "stderr", spec.stderr, owner))
            dups.append((opened[-1], 2))
        if dups:
            actions = ctypes.create_string_buffer(_ACTIONS_BYTES)
            _check(libc.actions_init(actions), "posix_spawn_file_actions_init")
            for fd, target in dups:
                _check(libc.actions_adddup2(actions, fd, target), "posix_spawn_file_actions_adddup2")
        # A trampoline is an absolute path; a command is looked up on PATH, as execvp does.
        call = libc.spawn if launch.trampoline else libc.spawnp
        pid = ctypes.c_int()
        before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        code = call(ctypes.byref(pid), launch.c_path, actions, libc.attr, launch.c_argv, launch.c_envp)
        if code != 0:
            raise OSError(code, os.strerror(code), launch.argv[0])
        return pid.value, before
    finally:
        if actions is not None:
            libc.actions_destroy(actions)
        for fd in opened:
            os.close(fd)
