"""Durations as people write them (``90``, ``45s``, ``10m``, ``1h30m``) and as the CLI prints them;
reading the small text files the CLI takes."""

from __future__ import annotations

import errno
import math
import re
import stat
from pathlib import Path

from .kernel._explain import seconds

__all__ = ["parse_duration", "read_text", "span"]

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse_duration(text: object, field: str) -> float:
    """Seconds from a number or a string such as ``"90"``, ``"45s"``, ``"10m"``, ``"1h30m"``.

    Raises ValueError naming ``field`` and the value when it is not a finite duration >= 0.
    """
    if isinstance(text, bool):
        raise ValueError(f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str) and text.strip():
        compact = text.strip().replace(" ", "")
        try:
            seconds = float(compact)
        except ValueError:
            parts = _PART.findall(compact)
            if not parts or "".join(number + unit for number, unit in parts) != compact:
                raise ValueError(
                    f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}"
                ) from None
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    else:
        raise ValueError(f"{field}: must be a duration such as 90, '45s', '10m' or '2h', got {text!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{field}: must be a finite duration >= 0, got {text!r}")
    return seconds


#: The one duration format for people (``0.05s``, ``45.2s``, ``13m02s``, ``1h46m58s``), shared with
#: the kernel's decision reasons so that a table and a reason never spell one duration two ways.
span = seconds

#: Files relaunch reads (policies, scenarios) are small; a bigger one is a mistake, not input.
MAX_FILE_BYTES = 16 * 1024 * 1024


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file of at most :data:`MAX_FILE_BYTES`.

    Raises OSError (its ``strerror`` says why in plain words) or UnicodeDecodeError. A FIFO or a
    device is refused before it is opened, so that ``--policy /dev/zero`` cannot hang.
    """
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file", str(path))
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB", str(path))
    return data.decode("utf-8")
