"""Where a fleet file's store and control socket are, read without checking the rest of the file.

``relaunch ctl`` needs only the socket, and runs often (a monitoring loop, a shell prompt): it
reads the ``[fleet] store`` key alone, with the standard library's TOML parser, instead of
importing the kernel and the presets to check every workload. ``config.py`` checks that key the
same way through :func:`store_of`, so the two never disagree.

Parsing a whole file of 1000 workloads takes about 60 ms here, most of a ``ctl`` call, so
:func:`socket_path` first parses only the ``[fleet]`` table's own lines (:func:`_fleet_table`)
and parses the whole file only where that cut could be wrong.
"""

from __future__ import annotations

import os
import re
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


# A line that opens a table or an array of tables. Outside multi-line strings, a line that starts
# with "[" is a header or the continuation of a multi-line array; cutting at the latter leaves an
# unclosed array, which fails to parse, and the whole file is parsed instead.
_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
_FLEET_HEADER = re.compile(r"^[ \t]*\[[ \t]*fleet[ \t]*\][ \t]*(#.*)?$", re.MULTILINE)
_ANY_FLEET_HEADER = re.compile(r"^[ \t]*\[+[ \t]*[\"']?fleet\b", re.MULTILINE)
_KEY_BEFORE_HEADER = re.compile(r"^[ \t]*[^\s#\[]", re.MULTILINE)


def _fleet_table(text: str) -> dict[str, Any] | None:
    """The ``[fleet]`` table of the TOML ``text``, parsed alone, or ``None`` when only parsing
    the whole text can tell: no single plain ``[fleet]`` header (or another header that adds to
    it, ``[fleet.x]``), a multi-line string (which could hold a line that looks like a header),
    or a key before the first header (``fleet.store = ...`` at the top)."""
    if '"""' in text or "'''" in text:
        return None
    headers = list(_FLEET_HEADER.finditer(text))
    if len(headers) != 1 or len(_ANY_FLEET_HEADER.findall(text)) != 1:
        return None
    first = _HEADER.search(text)
    if first is None or _KEY_BEFORE_HEADER.search(text, 0, first.start()):
        return None
    start = headers[0].end()
    after = _HEADER.search(text, start)
    try:
        table = tomllib.loads(text[start : len(text) if after is None else after.start()])
    except tomllib.TOMLDecodeError:
        return None
    return table


def socket_path(file: str | os.PathLike[str]) -> Path:
    """The control socket of the fleet file ``file``; ``ValueError`` naming the file if it has none."""
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such fleet file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the fleet file: {error}") from None
    fleet: Any = _fleet_table(text)
    if fleet is None:
        try:
            fleet = tomllib.loads(text).get("fleet", {})
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: cannot read the fleet file: {error}") from None
    if not isinstance(fleet, dict):
        raise ValueError(f"{path}: fleet: must be a table, got {fleet!r}")
    store = store_of(path, fleet)
    if isinstance(store, str):
        raise ValueError(f"{path}: [fleet] store: {store}")
    return socket_of(store)
