"""Where a fleet file's store and control socket are, read without checking the rest of the file.

``relaunch ctl`` needs only the socket, and runs often (a monitoring loop, a shell prompt): it
reads the ``[fleet] store`` key alone instead of importing the kernel and the presets to check
every workload. ``config.py`` reads that key through :func:`store_of` too, so the two never
disagree.

Parsing a whole file of 1000 workloads with ``tomllib`` takes about 60 ms here, and importing
``tomllib`` (with the ``typing`` it imports) another 14 ms, most of a ``ctl`` call. So
:func:`socket_path` reads the ``[fleet]`` table's own lines when they are plain ``key = value``
lines, as a fleet table's are (:func:`_fleet_table`), and parses the whole file only when they
are not or when that reading could be wrong. Paths are strings here (``os.path``): ``pathlib``
is one more import the client does not need.
"""

from __future__ import annotations

import os
import re

TYPE_CHECKING = False  # wire.py says why the client's imports stay this small
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["DEFAULT_FILE", "DEFAULT_STORE", "socket_of", "socket_path", "store_of"]

#: The fleet file ``relaunch run`` and ``relaunch ctl`` read when none is named.
DEFAULT_FILE = "relaunch.toml"
#: The store's file name when ``[fleet] store`` is absent, in the fleet file's folder.
DEFAULT_STORE = "relaunch.db"


def store_of(file: str | os.PathLike[str], fleet: Mapping[str, Any]) -> str:
    """The store of the fleet file ``file`` whose ``[fleet]`` table is ``fleet``; ValueError saying
    what is wrong with its ``store`` key."""
    value = fleet.get("store", DEFAULT_STORE)
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a file name, got {value!r}")
    return os.path.join(os.path.dirname(os.fspath(file)), value)


def socket_of(store: str | os.PathLike[str]) -> str:
    """The control socket of the fleet whose store is ``store``: next to it."""
    return os.fspath(store) + ".sock"


# A line that opens a table or an array of tables, when no multi-line value is open.
_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
_FLEET_HEADER = re.compile(r"^[ \t]*\[[ \t]*fleet[ \t]*\][ \t]*(?:#.*)?$", re.MULTILINE)
# Any header that opens or adds to the fleet table: [fleet], ["fleet"], [fleet.x], [[fleet]].
_ANY_FLEET_HEADER = re.compile(r"^[ \t]*\[+[ \t]*[\"']?fleet\b", re.MULTILINE)
_KEY_BEFORE_HEADER = re.compile(r"^[ \t]*[^\s#\[]", re.MULTILINE)
# A whole line of a fleet table as people write it: a bare key and a one-line value with no
# escapes (a basic string without backslashes, a literal string, a number, a boolean).
_PLAIN_LINE = re.compile(
    r"[ \t]*(?P<key>[A-Za-z0-9_-]+)[ \t]*=[ \t]*"
    r"(?:\"(?P<basic>[^\"\\]*)\"|'(?P<literal>[^']*)'|[0-9][0-9_.eE+:-]*|[+-][0-9_.eE+-]+|true|false)"
    r"[ \t]*(?:#.*)?"
)


def _fleet_table(text: str) -> dict[str, str] | None:
    """The string keys of the ``[fleet]`` table of the TOML ``text``, read from its own lines, or
    ``None`` when only parsing the whole text can tell.

    Read here only when: the text has one plain ``[fleet]`` header and no other that adds to it
    (``[fleet.x]``), no key before its first header (``fleet.store = ...`` at the top), no
    multi-line string (which could hold a line that looks like a header), and every line of the
    table up to the next header is blank, a comment or a :data:`_PLAIN_LINE` with a distinct key.
    Since no line of the table opens a multi-line value, the next line that starts with ``[`` is
    the next header, so those lines are the whole table.
    """
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
    table: dict[str, str] = {}
    keys: set[str] = set()
    for line in text[start : len(text) if after is None else after.start()].splitlines():
        bare = line.strip()
        if not bare or bare.startswith("#"):
            continue
        plain = _PLAIN_LINE.fullmatch(line)
        if plain is None or plain["key"] in keys:
            return None
        keys.add(plain["key"])
        value = plain["basic"] if plain["basic"] is not None else plain["literal"]
        if value is not None:
            table[plain["key"]] = value
        elif plain["key"] == "store":
            return None  # not a string: the whole file's reading says so, as config.py does
    return table


def socket_path(file: str | os.PathLike[str]) -> str:
    """The control socket of the fleet file ``file``; ``ValueError`` naming the file if it has none."""
    path = os.fspath(file)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such fleet file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the fleet file: {error}") from None
    fleet: Any = _fleet_table(text)
    if fleet is None:
        import tomllib  # only here: the whole file must be parsed

        try:
            fleet = tomllib.loads(text).get("fleet", {})
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: cannot read the fleet file: {error}") from None
    if not isinstance(fleet, dict):
        raise ValueError(f"{path}: fleet: must be a table, got {fleet!r}")
    try:
        return socket_of(store_of(path, fleet))
    except ValueError as problem:
        raise ValueError(f"{path}: [fleet] store: {problem}") from None
