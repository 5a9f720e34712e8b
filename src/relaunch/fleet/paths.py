"""Where a fleet file's store and control socket are, read without checking the rest of the file.

``relaunch ctl`` needs only the socket, and runs often (a monitoring loop, a shell prompt): it
reads the ``[fleet] store`` key alone, with the standard library's TOML parser, instead of
importing the kernel and the presets to check every workload. ``config.py`` checks that key the
same way through :func:`store_of`, so the two never disagree.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_FILE", "DEFAULT_STORE", "socket_of", "socket_path", "store_of"]

#: The fleet file ``relaunch run`` and ``relaunch ctl`` read when none is named.
DEFAULT_FILE = "relaunch.toml"
#: The store's file name when ``[fleet] store`` is absent, in the fleet file's folder.
DEFAULT_STORE = "relaunch.db"


def store_of(file: Path, fleet: dict[str, Any]) -> Path | str:
    """The store of the fleet file ``file`` whose ``[fleet]`` table is ``fleet``, or a problem
    (a string) with its ``store`` key."""
    value = fleet.get("store", DEFAULT_STORE)
    if not isinstance(value, str) or not value:
        return f"must be a file name, got {value!r}"
    return file.parent / value


def socket_of(store: Path) -> Path:
    """The control socket of the fleet whose store is ``store``: next to it."""
    return store.with_name(store.name + ".sock")


def socket_path(file: str | os.PathLike[str]) -> Path:
    """The control socket of the fleet file ``file``; ``ValueError`` naming the file if it has none."""
    path = Path(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such fleet file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot read the fleet file: {error}") from None
    fleet = data.get("fleet", {})
    if not isinstance(fleet, dict):
        raise ValueError(f"{path}: fleet: must be a table, got {fleet!r}")
    store = store_of(path, fleet)
    if isinstance(store, str):
        raise ValueError(f"{path}: [fleet] store: {store}")
    return socket_of(store)
