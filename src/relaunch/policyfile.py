"""Policies from the outside world: preset names with keywords, TOML policy files, ``--set`` overrides.

A policy file is TOML, in one of two forms:

* a preset with overrides: ``preset = "toolhive"`` and that preset's keywords
  (``max_retries = 5``);
* a policy spelled out part by part, in the shape of :meth:`Policy.to_dict` (``mode``,
  ``[backoff]`` with its ``kind`` ...).

TOML has no null: write ``"none"`` where a keyword or field takes None. Every error is a
:class:`PolicyError` naming the file and the key path.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import presets
from .kernel import Policy, PolicyError
from .kernel.serialize import NONE

__all__ = [
    "describe_preset",
    "dumps_toml",
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
        raise PolicyError(f"{where}{error}") from None


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML value (``5``, ``2.5``, ``true``, ``[1, 2]``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def with_overrides(policy_data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` assignments (dotted keys reach into parts: ``backoff.factor=3``)."""
    data: dict[str, Any] = json.loads(json.dumps(policy_data))  # a deep copy of plain data
    for assignment in assignments:
        key, separator, text = assignment.partition("=")
        if not separator or not key:
            raise PolicyError(f"--set {assignment!r}: expected key=value")
        *parents, leaf = key.split(".")
        table = data
        for parent in parents:
            table = table.setdefault(parent, {})
            if not isinstance(table, dict):
                raise PolicyError(f"--set {key}: {parent} is not a table")
        table[leaf] = parse_value(text)
    return data


def load(path: str | Path, assignments: list[str] | None = None) -> Policy:
    """The policy in a TOML file, with ``--set`` assignments applied first."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{path}: not valid TOML: {error}") from None
    data = with_overrides(data, assignments or [])
    if "preset" in data:
        name = data.pop("preset")
        if not isinstance(name, str):
            raise PolicyError(f"{path}: preset: must be a string, got {name!r}")
        try:
            return preset(name, data)
        except PolicyError as error:
            raise PolicyError(f"{path}: {error}") from None
    try:
        return Policy.from_dict(data)
    except PolicyError as error:
        raise PolicyError(f"{path}: {error}") from None


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
