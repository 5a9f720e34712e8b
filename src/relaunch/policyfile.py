"""Policies from the outside world: preset names with keywords, TOML policy files, ``--set`` overrides.

A policy file is TOML, in one of two forms:

* a preset with overrides: ``preset = "toolhive"`` and that preset's keywords
  (``max_retries = 5``);
* a policy spelled out part by part, in the shape of :meth:`Policy.to_dict` (``mode``,
  ``[backoff]`` with its ``kind`` ...).

TOML has no null: write ``"none"`` where a keyword or field takes None. A duration is a number
of seconds or a string with units (``"30s"``, ``"1h30m"``), in a file as in ``--set``, the same
syntax as ``--until`` and scenario files (:func:`relaunch.units.parse_duration`). Every error is a
:class:`PolicyError` naming the file (or ``--set``) and the key path as the file spells it.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from . import presets
from .kernel import Policy, PolicyError
from .kernel.serialize import NONE
from .units import parse_duration, read_text

__all__ = [
    "describe_preset",
    "dumps_toml",
    "from_data",
    "load",
    "parameters",
    "parse_value",
    "preset",
    "preset_names",
    "with_overrides",
]


def preset_names() -> list[str]:
    return list(presets.names())


def describe_preset(name: str) -> str:
    """The preset's one-line summary, from the registry."""
    return presets.entry(name).summary


def parameters(name: str) -> dict[str, Any]:
    """The preset's keywords and their defaults, as plain data (sets become sorted lists)."""
    return {key: _plain(value) for key, value in presets.entry(name).defaults.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def preset(name: str, params: Mapping[str, Any] | None = None, where: str = "") -> Policy:
    """The preset ``name`` built with ``params``, checked against its signature first.

    ``where`` prefixes the errors about the keywords (``--set ``), not an unknown name.
    """
    entry = presets.entry(name)
    optional = {p.name for p in entry.parameters if p.optional}
    arguments: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in entry.defaults:
            expected = ", ".join(entry.defaults) or "none"
            raise PolicyError(f"{where}{key}: unknown keyword of preset {name}, expected one of {expected}")
        arguments[key] = None if value == NONE and key in optional else value
    try:
        return entry.factory(**arguments)
    except PolicyError as error:
        # The factory's parts speak of themselves (``Exponential.initial: must be > 0``); say it in
        # the user's terms: the keyword that breaks it on its own, and what is wrong with the value.
        why = _PART_PREFIX.sub("", str(error).removeprefix(f"{name}."), count=1)
        culprit = next((key for key in arguments if _breaks(entry.factory, key, arguments[key])), None)
        if culprit is not None and not why.startswith(f"{culprit}:"):
            why = f"{culprit}: {why}"
        raise PolicyError(f"{where}{why}") from None


#: A kernel part's name at the start of its message (``Exponential.initial: ``).
_PART_PREFIX = re.compile(r"^[A-Z][A-Za-z]*\.[a-z_]+: ")


def _breaks(factory: Callable[..., Policy], key: str, value: Any) -> bool:
    try:
        factory(**{key: value})
    except PolicyError:
        return True
    return False


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML value (``5``, ``2.5``, ``true``, ``[1, 2]``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


#: A string that is a duration with units, such as ``"30s"`` or ``"1h30m"`` (a bare ``"90"`` stays a string).
_DURATION = re.compile(r"\s*(\d+(\.\d+)?\s*(ms|d|h|m|s)\s*)+")


def _durations(data: Any, key: str = "") -> Any:
    """``data`` with every duration string (``"30s"``) replaced by its seconds, names left alone."""
    if isinstance(data, dict):
        return {k: v if k in ("name", "preset") else _durations(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [_durations(item, key) for item in data]
    if isinstance(data, str) and _DURATION.fullmatch(data):
        return parse_duration(data, key)
    return data


def with_overrides(policy_data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` assignments (dotted keys reach into parts: ``backoff.factor=3``)."""
    data: dict[str, Any] = json.loads(json.dumps(policy_data))  # a deep copy of plain data
    for assignment in assignments:
        key, separator, text = assignment.partition("=")
        if not separator or not key:
            raise PolicyError(f"--set {assignment!r}: expected key=value")
        *parents, leaf = key.split(".")
        if not all(parents) or not leaf:
            raise PolicyError(f"--set {assignment!r}: expected key=value (a dotted key: backoff.factor)")
        table = data
        for parent in parents:
            table = table.setdefault(parent, {})
            if not isinstance(table, dict):
                raise PolicyError(f"--set {key}: {parent} is not a table")
        table[leaf] = _durations(parse_value(text), leaf)
    return data


def _blame(path: Path, assignments: list[str], message: str) -> str:
    """An error about the file, or about ``--set`` when the key it names came from ``--set``."""
    message = message.removeprefix("policy.").removeprefix("policy: ")
    for assignment in assignments:
        key = assignment.partition("=")[0]
        if message.startswith((f"{key}:", f"{key}.")):
            return f"--set {message}"
    return f"{path}: {message}"


def load(
    path: str | Path, assignments: list[str] | None = None, *, default_name: str | None = None
) -> Policy:
    """The policy in a TOML file, with ``--set`` assignments applied first.

    ``default_name`` names a policy the file leaves unnamed (``compare`` passes the file's
    name, so that two files of one preset can be told apart); a preset file is named after
    its preset otherwise.
    """
    path = Path(path)
    assignments = assignments or []
    try:
        data = tomllib.loads(read_text(path))
    except OSError as error:
        raise PolicyError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise PolicyError(f"{path}: not a TOML file: byte {error.start} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{path}: not valid TOML: {error}") from None
    if not data and not assignments:
        raise PolicyError(f'{path}: empty: expected preset = "NAME" or a policy (mode = "always" ...)')
    try:
        return from_data(with_overrides(data, assignments), default_name=default_name)
    except PolicyError as error:
        raise PolicyError(_blame(path, assignments, str(error))) from None


def from_data(data: Mapping[str, Any], *, default_name: str | None = None) -> Policy:
    """The policy a policy file's parsed TOML describes (either form, see the module docstring).

    Errors are :class:`PolicyError` naming the key path, without the file: the caller (``load``,
    a fleet file) says where the table is.
    """
    named = "name" in data
    try:
        data = _durations(dict(data))
    except ValueError as error:  # a duration string out of range, e.g. "1e999s"
        raise PolicyError(str(error)) from None
    if "preset" in data:
        name = data.pop("preset")
        if not isinstance(name, str):
            raise PolicyError(f"preset: must be a string, got {name!r}")
        label = data.pop("name", default_name)
        if label is not None and not isinstance(label, str):
            raise PolicyError(f"name: must be a string, got {label!r}")
        policy = preset(name, data)
        return policy if label is None else attrs.evolve(policy, name=label)
    if not named and default_name is not None:
        data["name"] = default_name
    return Policy.from_dict(data)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """``Policy.to_dict`` output as a TOML policy file (the subset of TOML this shape needs)."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], path: list[str], data: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if path and (scalars or not tables):
        lines.append(f"\n[{'.'.join(path)}]")
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, value in tables.items():
        _table(lines, [*path, key], value)


def _toml_value(value: Any) -> str:
    if value is None:
        return _toml_string(NONE)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML: {value!r} cannot be written")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"TOML: cannot write {type(value).__name__}")


def _toml_string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped (TOML 1.0, "String")."""
    escaped = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            escaped.append("\\" + char)
        elif code < 0x20 or code == 0x7F:
            escaped.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"TOML: a lone surrogate cannot be written: {text!r}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'
