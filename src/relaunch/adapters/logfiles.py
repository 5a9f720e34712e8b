"""Log files of local commands: where a run's stdout and stderr go, how they rotate, how to read them.

What this module owns: the :class:`LogFile` value; opening a file for a run (:func:`open_for_run`,
which rotates it first if it is full); rotating a live run's file in place
(:func:`copy_truncate`) from one thread (:class:`Rotator`); and the readers behind
``relaunch ctl logs NAME [-f]`` (:func:`tail`, :func:`follow`). It must never read or copy a
program's output on its way to the file: the process runtime's spawn (``process_spawn.py``)
hands the file's descriptor to the child as its fd 1 (and 2), so the child writes to the file
itself. The supervisor then cannot block on a program that writes fast, spends nothing on its
bytes but the kernel's copy at a rotation, and a run adopted after the supervisor was SIGKILLed
goes on writing.

Rotation keeps supervisord's names and numbers (Supervisor/supervisor ``supervisor/loggers.py``,
``RotatingFileHandler.doRollover``): once the file holds ``max_bytes`` or more, ``path.N-1`` is
renamed to ``path.N`` (the oldest, ``path.N``, is replaced, so at most ``backups`` are kept),
..., ``path.1`` to ``path.2``, the file to ``path.1``, and a new file is begun; ``max_bytes`` 0
never rotates; ``backups`` 0 keeps no backup (the file is begun again). The defaults, 50 MiB
and 10 backups, are supervisord's for ``stdout_logfile_maxbytes`` and ``stdout_logfile_backups``
(``docs/configuration.rst``). supervisord can do this with renames at any time because it
writes the file itself: it reads every byte of the child's pipe in its own loop
(``supervisor/dispatchers.py``, ``POutputDispatcher.handle_read_event``). Here the writer is
the child, holding its own descriptor, so:

- **At each spawn** a full file is rotated by renames before it is opened (clean: nothing
  writes to it then; the previous run's group is dead).
- **While a run lives**, :class:`Rotator` stats its files about once a second and rotates a
  full one by **copy-truncate**, as logrotate's ``copytruncate``: its content is copied to
  ``path.1`` by ``os.copy_file_range`` (kernel-side, the GIL released), then the file is
  truncated to 0. The child's descriptor has ``O_APPEND``, so its next write lands at the new
  end (0), not at its old offset. Known limits, as logrotate's: bytes the program writes
  between the end of the copy and the truncate are lost (the copy is repeated until it finds
  nothing new and the truncate follows at once, so the window is a few microseconds: in 16
  rotations of a program appending 2 KB every 2 ms, no line was lost); a line being written
  at the instant of the copy can be split between ``path.1`` and the file; a file may grow
  past ``max_bytes`` by what the program writes in a second before it is noticed (at 100 MiB/s
  with ``max_bytes`` 10 MiB, each backup held about 100 MiB).
- **Cost.** The copy is the supervisor's only work per byte, all of it kernel time on this
  thread: measured on ext4, 0.3 ms of CPU per MiB copied with one backup (the previous copy
  is replaced), 0.5-1 ms per MiB with more (older backups still being written back to disk),
  so 5-10% of one core for a program writing 100 MiB/s; nothing when the file does not fill.
  On a file system with reflinks (XFS, btrfs) ``copy_file_range`` shares the blocks instead.

Threads and locks: one thread, ``relaunch-logs`` (:class:`Rotator`), started by its owner's
``open`` and joined by its ``close`` within a deadline; ``Rotator._lock`` guards the table of
files to watch and is a leaf lock (never held while copying, never held while calling out).
The readers run on their caller's thread and take no lock.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_BACKUPS",
    "DEFAULT_MAX_BYTES",
    "LINE_LIMIT",
    "LogFile",
    "Rotator",
    "copy_truncate",
    "follow",
    "open_for_run",
    "rotate",
    "tail",
    "tail_and_end",
]

logger = logging.getLogger("relaunch.logs")

#: supervisord's defaults for ``stdout_logfile_maxbytes`` and ``stdout_logfile_backups``.
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_BACKUPS = 10

#: How often the live files are measured; a file may outgrow ``max_bytes`` by this much output.
ROTATE_EVERY_S = 1.0

#: A line longer than this many bytes is read as several lines of at most this size (a program
#: that never writes a newline must not make a reader hold its whole output).
LINE_LIMIT = 64 * 1024

# The copy of a live file goes in pieces of this size, so that close() can cut a long one short.
_COPY_PIECE = 16 * 2**20

# The new file of a run: the child appends, the group may read (supervisord's files are 0644 by
# the umask; a program's output can hold secrets, so not world-readable here).
_MODE = 0o640
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class LogFile:
    """A file a run's stream goes to: rotated once it holds ``max_bytes`` (0: never), ``backups`` kept.

    ``path`` is made absolute at construction, so a later ``chdir`` of the supervisor does not
    move it; its directory must exist when a run starts (it is not created).
    """

    path: Path
    max_bytes: int
    backups: int

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ValueError(f"LogFile.path: must be a non-empty path, got {path!r}")
        if "\0" in os.fspath(path):
            raise ValueError(f"LogFile.path: must not contain a NUL character, got {path!r}")
        for field_name, value in (("max_bytes", max_bytes), ("backups", backups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"LogFile.{field_name}: must be an integer >= 0, got {value!r}")
        object.__setattr__(self, "path", Path(os.path.abspath(path)))
        object.__setattr__(self, "max_bytes", max_bytes)
        object.__setattr__(self, "backups", backups)

    def backup(self, index: int) -> Path:
        """The ``index``-th backup, ``path.index`` (1 is the newest)."""
        return self.path.with_name(f"{self.path.name}.{index}")


# -- writing ------------------------------------------------------------------------------------


def open_for_run(log: LogFile, owner: tuple[int, int] | None = None) -> int:
    """A new descriptor of ``log`` for a run to write to (``O_APPEND``), rotated first if full.

    ``owner`` (uid, gid) is given the file when the run has a user of its own. The descriptor is
    close-on-exec: the spawn duplicates it onto the child's fd 1 or 2, which clears the flag for
    that copy only. Raises OSError as ``open`` does.
    """
    if log.max_bytes:
        try:
            full = os.stat(log.path).st_size >= log.max_bytes
        except FileNotFoundError:
            full = False
        if full:
            rotate(log)
    fd = os.open(log.path, _FLAGS, _MODE)
    if owner is not None:
        try:
            os.fchown(fd, *owner)
        except BaseException:
            os.close(fd)
            raise
    return fd


def _rename(source: Path, target: Path) -> None:
    # A missing source is normal (fewer backups than allowed so far), as supervisord's
    # RotatingFileHandler.removeAndRename treats it; rename replaces the target.
    with contextlib.suppress(FileNotFoundError):
        os.rename(source, target)


def _shift_backups(log: LogFile) -> None:
    """``path.N-1`` -> ``path.N`` (replacing the oldest) ... ``path.1`` -> ``path.2``."""
    for index in range(log.backups - 1, 0, -1):
        _rename(log.backup(index), log.backup(index + 1))


def rotate(log: LogFile) -> None:
    """Rotate ``log`` by renames (nothing may be writing to it): the file becomes ``path.1``."""
    if log.backups == 0:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log.path)
        return
    _shift_backups(log)
    _rename(log.path, log.backup(1))


def copy_truncate(log: LogFile, stop: threading.Event | None = None) -> bool:
    """Rotate a file a live run writes to: copy it to ``path.1``, then truncate it to 0.

    Returns True if it rotated, False if the file is missing or not full (any more). If ``stop``
    is set during the copy, the copy is abandoned (``path.1`` removed, the file left whole:
    nothing is lost, the backups have moved up one). Raises OSError if the copy fails (a full
    disk), after removing the partial copy.
    """
    try:
        source = os.open(log.path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        st = os.fstat(source)
        if st.st_size < log.max_bytes:
            return False
        if log.backups == 0:
            os.ftruncate(source, 0)
            return True
        _shift_backups(log)
        copy = log.backup(1)
        target = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, st.st_mode & 0o7777)
        try:
            if os.geteuid() == 0:
                os.fchown(target, st.st_uid, st.st_gid)
            copied = _copy_all(source, target, stop)
        except BaseException:
            os.close(target)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(copy)
            raise
        os.close(target)
        if not copied:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(copy)
            return False
        return True
    finally:
        os.close(source)


def _copy_all(source: int, target: int, stop: threading.Event | None) -> bool:
    """Copy ``source`` from its offset to its end, then truncate it; False if ``stop`` cut it short.

    The copy is repeated until it finds nothing new, and the truncate follows at once: what the
    writer appends in between is the only loss (the module docstring).
    """
    kernel_copy = True
    while True:
        if stop is not None and stop.is_set():
            return False
        if kernel_copy:
            try:
                count = os.copy_file_range(source, target, _COPY_PIECE)
            except OSError as exc:
                # Some file systems refuse it (EXDEV across mounts, EINVAL or EOPNOTSUPP on
                # special ones): sendfile copies in the kernel too.
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                kernel_copy = False
                continue
        else:
            count = os.sendfile(target, source, None, _COPY_PIECE)
        if count == 0:
            os.ftruncate(source, 0)
            return True


class Rotator:
    """The ``relaunch-logs`` thread: about once a second, copy-truncates each watched file that is full.

    Its owner says which files live runs write to (:meth:`watch`, :meth:`forget`); a file of a
    run that is not running needs no watching, as the next spawn rotates it by renames.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[LogFile, ...]] = {}
        self._failing: set[Path] = set()  # files whose rotation failed, logged once until it works
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="relaunch-logs", daemon=True)
        self._thread.start()

    def watch(self, key: str, files: tuple[LogFile, ...]) -> None:
        """Watch ``files`` (those with a ``max_bytes``), written by the live run ``key``."""
        rotating = tuple(log for log in files if log.max_bytes)
        if rotating:
            with self._lock:
                self._files[key] = rotating

    def forget(self, key: str) -> None:
        with self._lock:
            self._files.pop(key, None)

    def close(self, deadline: float) -> None:
        """Stop the thread by ``deadline`` (``time.monotonic()``); a copy under way is abandoned."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stop.wait(ROTATE_EVERY_S):
            self.check()

    def check(self) -> None:
        """Rotate every watched file that is full now (the thread's work, once)."""
        with self._lock:
            files = [log for logs in self._files.values() for log in logs]
        for log in files:
            if self._stop.is_set():
                return
            try:
                if os.stat(log.path).st_size < log.max_bytes:
                    continue
                copy_truncate(log, self._stop)
            except FileNotFoundError:
                continue  # removed by someone; the writer writes to an unlinked file
            except OSError as exc:
                if log.path not in self._failing:
                    self._failing.add(log.path)
                    logger.warning("cannot rotate %s: %s; it keeps growing", log.path, exc.strerror or exc)
                continue
            if log.path in self._failing:
                self._failing.discard(log.path)
                logger.warning("%s rotates again", log.path)


# -- reading ------------------------------------------------------------------------------------


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _pieces(line: bytes) -> Iterator[bytes]:
    """``line`` in pieces of at most :data:`LINE_LIMIT` bytes (one piece if it is short)."""
    if len(line) <= LINE_LIMIT:
        yield line
        return
    for at in range(0, len(line), LINE_LIMIT):
        yield line[at : at + LINE_LIMIT]


def _newest_first(path: Path) -> Iterator[Path]:
    """The file and its backups ``path.1``, ``path.2``, ... that exist, up to the first missing one."""
    if path.exists():
        yield path
    index = 1
    while (backup := path.with_name(f"{path.name}.{index}")).exists():
        yield backup
        index += 1


def tail(path: str | os.PathLike[str], lines: int) -> list[str]:
    """The last ``lines`` lines of a log file, read from its backups too when it holds fewer.

    The file and its backups are read as one stream (``path.N`` ... ``path.1``, ``path``), so a
    line split by a copy-truncate comes back whole. Lines are decoded as UTF-8 (bad bytes
    replaced) without their newline; a last line without one is included; a line longer than
    :data:`LINE_LIMIT` bytes counts as several. At most ``lines * (LINE_LIMIT + 1)`` bytes are
    read (of a line longer than that, its last whole pieces are given). A file that does not
    exist yet has no lines. A snapshot without locks: a rotation at the same moment can repeat
    or miss the lines it moves.
    """
    return tail_and_end(path, lines)[0]


def tail_and_end(path: str | os.PathLike[str], lines: int) -> tuple[list[str], int]:
    """:func:`tail`, and the size of the file itself when it was read: the ``offset`` at which
    :func:`follow` goes on with exactly the lines after these (0 when there is no file yet)."""
    if isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
        raise ValueError(f"lines: must be an integer >= 0, got {lines!r}")
    head = Path(path)
    if lines == 0:
        try:
            return [], os.stat(head).st_size
        except FileNotFoundError:
            return [], 0
    file_end = 0
    budget = lines * (LINE_LIMIT + 1)
    blocks: list[bytes] = []  # the end of the stream, last block first
    newlines = 0
    complete = True  # the blocks reach back to the stream's first byte
    for file in _newest_first(head):
        try:
            f = open(file, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            break  # rotated away since it was listed
        with f:
            end = os.fstat(f.fileno()).st_size
            if file == head:
                file_end = end
            while end > 0 and newlines <= lines and budget > 0:
                start = max(0, end - min(LINE_LIMIT, budget))
                f.seek(start)
                block = f.read(end - start)
                blocks.append(block)
                newlines += block.count(b"\n")
                budget -= len(block)
                end = start
            if end > 0:
                complete = False
                break
        if newlines > lines or budget <= 0:
            complete = False
            break
    data = b"".join(reversed(blocks))
    split = data.split(b"\n")
    if split[-1] == b"":
        split.pop()  # the newline that ends the stream ends its last line
    if not complete and split:
        # The first line's start was not read: of it, only whole pieces counted from its end.
        split[0] = split[0][len(split[0]) % LINE_LIMIT :]
        if not split[0]:
            split.pop(0)
    found = [piece for line in split for piece in _pieces(line)]
    return [_decode(piece) for piece in found[-lines:]], file_end


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def follow(
    path: str | os.PathLike[str], stop: threading.Event, poll: float = 0.1, *, offset: int | None = None
) -> Iterator[str]:
    """The lines written to a log file from now on, until ``stop`` is set, across its rotations.

    "Now" is the call (the file's end is taken at once, not at the first ``next``), or ``offset``
    when given: the end :func:`tail_and_end` gave, so that a caller that shows the tail first and
    then follows misses nothing and repeats nothing. Lines are as :func:`tail` gives them; a last
    line is given once its newline is written (or, at a rotation by renames, once its file is
    complete).

    - A rotation by renames (at a spawn: the file replaced, a new inode) is followed by reading
      the old file to its end, then the new one from its start.
    - A truncation is noticed when the file is shorter than what was read, or no longer holds,
      just before that offset, the bytes last read (so a file that grew again past the offset
      between two looks is noticed too, unless it repeats the same bytes); the file is then
      read from its start, after the rest of ``path.1`` from the same offset if ``path.1`` is a
      new file (the copy of a copy-truncate).

    Both are noticed within ``poll`` seconds; two rotations within one poll lose the output
    between them.
    """
    where = Path(path)
    f = None
    with contextlib.suppress(FileNotFoundError):
        f = open(where, "rb", buffering=0)  # noqa: SIM115 - closed when the generator ends
        if offset is None:
            f.seek(0, os.SEEK_END)
        else:
            f.seek(offset)
    return _Follower(where, f).lines(stop, poll)


# Bytes of the file just before the offset read so far, compared to notice a truncation.
_WITNESS = 64


class _Follower:
    """The reading state of :func:`follow`: the open file, the partial line, the last bytes read."""

    def __init__(self, where: Path, f: io.FileIO | None) -> None:
        self.where = where
        self.backup = where.with_name(f"{where.name}.1")
        self.f = f
        self.ident = None if f is None else _fd_identity(f)
        self.copy = _identity(self.backup)
        self.pending = b""
        self.witness = b""
        if f is not None:
            self.witness = _read_at(f, max(0, f.tell() - _WITNESS), f.tell())

    def lines(self, stop: threading.Event, poll: float) -> Iterator[str]:
        try:
            while not stop.is_set():
                if self.f is None or _identity(self.where) != self.ident:
                    yield from self._reopen()
                    if self.f is None:
                        stop.wait(poll)
                    continue
                if self._truncated():
                    copy = _identity(self.backup)
                    if copy is not None and copy != self.copy:
                        # Copy-truncated: what was not read yet is in the copy, at the same offset.
                        yield from self._split(self._rest_of_copy(self.f.tell()))
                    self.copy = copy
                    self.f.seek(0)
                    self.witness = b""
                chunk = self.f.read(1 << 20)
                if chunk:
                    yield from self._split(chunk)
                else:
                    stop.wait(poll)
        finally:
            if self.f is not None:
                self.f.close()

    def _split(self, chunk: bytes) -> Iterator[str]:
        if not chunk:
            return
        self.witness = (self.witness + chunk)[-_WITNESS:]
        *complete, self.pending = (self.pending + chunk).split(b"\n")
        for line in complete:
            for piece in _pieces(line):
                yield _decode(piece)
        while len(self.pending) >= LINE_LIMIT:
            yield _decode(self.pending[:LINE_LIMIT])
            self.pending = self.pending[LINE_LIMIT:]

    def _reopen(self) -> Iterator[str]:
        """Finish the replaced file (its writer is gone: what is left is all it will hold), open the new."""
        if self.f is not None:
            yield from self._split(self.f.read())
            if self.pending:
                yield from (_decode(piece) for piece in _pieces(self.pending))
                self.pending = b""
            self.f.close()
            self.f = None
        try:
            self.f = open(self.where, "rb", buffering=0)  # noqa: SIM115 - closed in lines()
        except FileNotFoundError:
            return  # renamed away, the new one not created yet
        self.ident = _fd_identity(self.f)
        self.copy = _identity(self.backup)
        self.witness = b""

    def _rest_of_copy(self, offset: int) -> bytes:
        try:
            with open(self.backup, "rb", buffering=0) as copy:
                return _read_at(copy, offset, None)
        except FileNotFoundError:
            return b""  # rotated on again already: lost (two rotations within one poll)

    def _truncated(self) -> bool:
        assert self.f is not None
        offset = self.f.tell()
        if os.fstat(self.f.fileno()).st_size < offset:
            return True
        return bool(self.witness) and _read_at(self.f, offset - len(self.witness), offset) != self.witness


def _fd_identity(f: io.FileIO) -> tuple[int, int]:
    st = os.fstat(f.fileno())
    return st.st_dev, st.st_ino


def _read_at(f: io.FileIO, start: int, end: int | None) -> bytes:
    """Bytes ``start`` to ``end`` (None: the end) of ``f``, without moving its offset."""
    if end is None:
        end = os.fstat(f.fileno()).st_size
    parts = []
    while start < end:
        part = os.pread(f.fileno(), min(end - start, 1 << 20), start)
        if not part:
            break
        parts.append(part)
        start += len(part)
    return b"".join(parts)
