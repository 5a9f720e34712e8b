"""Who a local run is, read from ``/proc``: so that a later supervisor finds it again, and no other.

What this module owns: the marks a run carries in its environment, the identity a run is saved
with (boot id, pid, start time in clock ticks since boot) and its key, and reading ``/proc``
for them: a process's group and start ticks, every marked group leader, and a pidfd that is
known to refer to the process that was found. It must not signal, wait for or spawn a process,
nor keep any table: ``process.py`` decides what to adopt and watches it, ``process_spawn.py``
writes the marks. Standard library only; Linux only. No threads, no locks.

The facts it relies on:

- **Marked runs.** Each run's environment carries ``RELAUNCH_OWNER`` (the supervisor id and the
  store's id) and ``RELAUNCH_WORKLOAD`` (its name). At ``open`` the process runtime reads
  ``/proc/<pid>/environ`` of every process once (:func:`marked_leaders`) and finds the group
  leaders carrying its owner mark, as the Docker runtime finds its containers by label: so a
  run started just before the previous supervisor was killed, before the store recorded it, is
  adopted rather than started a second time. (``posix_spawn`` uses ``CLONE_VFORK``: the parent
  resumes only once the child has exec'd with the marked environment, so there is no instant
  at which a spawned child exists unmarked while the supervisor runs on.) The marks are
  inherited by a run's own children; only the group leader is the run.
- **Identity.** A run is saved with its pid, its start time in clock ticks since boot (as
  ``/proc/<pid>/stat`` field 22 has it) and the boot id. A new supervisor recognises a run only
  if the boot id and the start time still match, so a reused pid is never mistaken for it; after
  a reboot every saved run has ended, whatever now runs under its pid.
- **A pidfd that is the process found** (:func:`pidfd_of`): the start time is compared after the
  pidfd is opened, so if it matches then, the pidfd refers to that very process, not to a later
  one that was given its pid in between.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ENV_OWNER",
    "ENV_WORKLOAD",
    "NS_PER_TICK",
    "boot_id",
    "marked_leaders",
    "pidfd_of",
    "proc_stat",
    "run_key",
    "spawn_ticks",
    "ticks_to_unix",
]

ENV_OWNER = "RELAUNCH_OWNER"
ENV_WORKLOAD = "RELAUNCH_WORKLOAD"


def run_key(boot: str, pid: int, ticks: int) -> str:
    """The key of a run: its boot, pid and start ticks in one short string."""
    # Pid and start ticks repeat across reboots (early boot is deterministic), so the boot id is
    # part of the key; 8 hex digits of it keep log lines short.
    return f"{boot[:8]}/{pid}@{ticks}"


def boot_id() -> str:
    """The id of this boot of the machine (proc(5): ``/proc/sys/kernel/random/boot_id``)."""
    return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(process group, start ticks) from ``/proc/<pid>/stat`` (proc(5)), or None if no process."""
    try:
        # os.open and one read, not open(): no file object to build (a start reads this when
        # its spawn crosses a tick, see spawn_ticks). 4 KiB holds the whole line (52 fields).
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError):
        return None
    try:
        text = os.read(fd, 4096)
    except ProcessLookupError:
        return None
    finally:
        os.close(fd)
    if not text:
        return None  # the process was reaped between the open and the read
    # Field 2 is the command name in parentheses and may itself contain spaces and parentheses.
    fields = text[text.rindex(b")") + 2 :].split()
    return int(fields[2]), int(fields[19])


# /proc/<pid>/stat field 22 is the process's CLOCK_BOOTTIME at fork, in clock ticks (the kernel's
# fs/proc/array.c divides task->start_boottime by NSEC_PER_SEC / USER_HZ; sysconf reports USER_HZ).
NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def spawn_ticks(pid: int, before_ns: int, after_ns: int) -> int:
    """The start ticks of our child ``pid``, spawned between two CLOCK_BOOTTIME readings.

    Readings in one tick give it without opening ``/proc``: under load at 500 workloads that open
    cost more than the spawn itself (about 80 us a start, measured with cProfile on thread time).
    A spawn across a tick boundary (14% of starts at 500 workloads, where a spawn takes over
    1 ms of a 10 ms tick) reads the ticks from ``/proc``.
    """
    tick = before_ns // NS_PER_TICK
    if after_ns // NS_PER_TICK == tick:
        return tick
    stat = proc_stat(pid)
    assert stat is not None  # our unreaped child: it exists
    return stat[1]


def ticks_to_unix(ticks: int) -> float:
    """Unix seconds of a start time in clock ticks since boot (proc(5): field 22, /proc/stat btime)."""
    with open("/proc/stat", "rb") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
    return btime + ticks / os.sysconf("SC_CLK_TCK")


def marked_leaders(owner: str) -> dict[str, list[tuple[int, int]]]:
    """Every process group leader carrying ``owner``'s mark: workload name -> [(pid, ticks)]."""
    needle = f"\0{ENV_OWNER}={owner}\0".encode()
    prefix = f"\0{ENV_WORKLOAD}=".encode()
    found: dict[str, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = b"\0" + f.read() + b"\0"
        except OSError:
            continue  # gone, or a kernel thread
        if needle not in environ:
            continue
        at = environ.find(prefix)
        stat = proc_stat(pid)
        # The mark is inherited by the run's own children; only the group leader is the run.
        if at < 0 or stat is None or stat[0] != pid:
            continue
        name = environ[at + len(prefix) : environ.index(b"\0", at + 1)].decode("utf-8", "replace")
        found.setdefault(name, []).append((pid, stat[1]))
    return found


def pidfd_of(pid: int, ticks: int) -> int | None:
    """A pidfd of ``pid`` if it is still the process that started at ``ticks``, else None."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # Compare the start time after opening the pidfd: if it matches now, the pidfd
    # refers to the very process that was found, not to a later one with its pid.
    stat = proc_stat(pid)
    if stat is None or stat[1] != ticks:
        os.close(pidfd)
        return None
    return pidfd
