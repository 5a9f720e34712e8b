"""Policies as plain data: ``Policy.to_dict`` and ``Policy.from_dict`` live here, generically.

This module knows no policy part by name. It walks the attrs fields of whatever it is given and
reads their type hints, so a part added later (a new ``Backoff``, ``Jitter`` or ``Budget``
subclass with a ``kind``) serialises with no change here. The shape:

* an attrs value is a dict of its ``__init__`` fields; a polymorphic part (a subclass of a base
  that declares a ``kind`` ClassVar) also carries ``"kind"``;
* enums are their values (a ``Flag`` is its lower-case member name: ``"both"``); frozensets are
  sorted lists; tuples are lists; None stays None.

``from_dict`` checks every key, type and enum value against the hints, then lets the part's own
validators check ranges; each error names the key path (``policy.backoff.factor``) and raises
:class:`PolicyError`. TOML has no null, so an optional field also accepts the string ``"none"``.
Like the rest of the kernel, nothing here does I/O.
"""

from __future__ import annotations

import enum
import functools
import math
import types
import typing
from typing import Any, TypeVar

import attrs

from .errors import PolicyError

__all__ = ["NONE", "from_dict", "kinds", "to_dict"]

#: How an optional field is spelled where there is no null (TOML).
NONE = "none"

_T = TypeVar("_T")


def to_dict(value: Any) -> dict[str, Any]:
    """An attrs value (a policy or a part) as JSON-safe data."""
    if not attrs.has(type(value)):
        raise TypeError(f"to_dict: expected an attrs value, got {type(value).__name__}")
    cls: type = type(value)
    data: dict[str, Any] = {}
    kind = _own_kind(cls)
    if kind is not None:
        data["kind"] = kind
    for field in _init_fields(cls):
        data[_key(field)] = _encode(getattr(value, field.name))
    return data


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Flag):
        return _flag_name(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(_encode(item) for item in value)
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if attrs.has(type(value)):
        return to_dict(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"to_dict: cannot serialise {type(value).__name__} value {value!r}")


def from_dict(cls: type[_T], data: object, path: str) -> _T:
    """Build a ``cls`` from ``to_dict`` output; raise :class:`PolicyError` naming the bad key."""
    return typing.cast(_T, _decode(cls, data, path))


def kinds(base: type) -> dict[str, type]:
    """Every concrete part of ``base`` by its ``kind``, subclasses defined so far included."""
    found: dict[str, type] = {}
    pending = [base]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kind = _own_kind(cls)
        if kind is not None and attrs.has(cls):
            found.setdefault(kind, cls)
    return dict(sorted(found.items()))


def _own_kind(cls: type) -> str | None:
    """The ``kind`` ``cls`` declares itself (an inherited one would make two parts look alike)."""
    kind = cls.__dict__.get("kind")
    return kind if isinstance(kind, str) else None


def _is_polymorphic(cls: type) -> bool:
    return any("kind" in getattr(c, "__annotations__", {}) for c in cls.__mro__)


@functools.cache
def _init_fields(cls: type) -> tuple[attrs.Attribute[Any], ...]:
    return tuple(field for field in attrs.fields(cls) if field.init)


def _key(field: attrs.Attribute[Any]) -> str:
    """The field's ``__init__`` name (attrs drops a private field's leading underscore)."""
    return field.alias or field.name


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(hint: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        arms = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        if (value is None or value == NONE) and len(arms) < len(typing.get_args(hint)):
            return None
        if len(arms) != 1:
            raise TypeError(f"from_dict: {path}: unions of several types are not supported ({hint})")
        return _decode(arms[0], value, path)
    if origin is frozenset or origin is tuple:
        if not isinstance(value, list | tuple):
            raise PolicyError(f"{path}: must be a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        items = (_decode(item, element, f"{path}[{index}]") for index, element in enumerate(value))
        return frozenset(items) if origin is frozenset else tuple(items)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise PolicyError(f"{path}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyError(f"{path}: must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{path}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise PolicyError(f"{path}: must be finite, got {value!r}")
        return value  # the part's own validator normalises, and reports the value as written
    if hint is str:
        if not isinstance(value, str):
            raise PolicyError(f"{path}: must be a string, got {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _decode_enum(hint, value, path)
    if isinstance(hint, type) and (attrs.has(hint) or _is_polymorphic(hint)):
        return _decode_attrs(hint, value, path)
    raise TypeError(f"from_dict: {path}: cannot deserialise type {hint!r}")


def _flag_name(member: enum.Flag) -> str:
    name = member.name
    if name is None:
        raise TypeError(f"to_dict: flag {member!r} has no single name")
    return name.lower()


def _decode_enum(cls: type[enum.Enum], value: object, path: str) -> enum.Enum:
    if issubclass(cls, enum.Flag):
        # __members__ includes named combinations such as Reset.BOTH, which iteration skips.
        choices: dict[object, enum.Enum] = {name.lower(): m for name, m in cls.__members__.items()}
    else:
        choices = {member.value: member for member in cls}
    if isinstance(value, str | int) and not isinstance(value, bool) and value in choices:
        return choices[value]
    expected = ", ".join(str(choice) for choice in choices)
    raise PolicyError(f"{path}: unknown {value!r}, expected one of {expected}")


def _decode_attrs(base: type, value: object, path: str) -> Any:
    if not isinstance(value, dict):
        raise PolicyError(f"{path}: must be a table of keys, got {value!r}")
    data = dict(value)
    cls = base
    if _is_polymorphic(base):
        choices = kinds(base)
        kind = data.pop("kind", None)
        if kind is None:
            raise PolicyError(f"{path}.kind: missing, expected one of {', '.join(choices)}")
        if not isinstance(kind, str) or kind not in choices:
            raise PolicyError(f"{path}.kind: unknown {kind!r}, expected one of {', '.join(choices)}")
        cls = choices[kind]
    fields = _init_fields(cls)
    names = [_key(field) for field in fields]
    for key in data:
        if key not in names:
            expected = ", ".join(names) if names else "no keys"
            raise PolicyError(f"{path}.{key}: unknown key, expected one of {expected}")
    hints = _hints(cls)
    arguments: dict[str, Any] = {}
    for field in fields:
        key = _key(field)
        if key in data:
            arguments[key] = _decode(hints[field.name], data[key], f"{path}.{key}")
        elif field.default is attrs.NOTHING:
            raise PolicyError(f"{path}.{key}: missing (required)")
    try:
        return cls(**arguments)
    except PolicyError as error:
        raise PolicyError(_at(path, cls, str(error))) from None


def _at(path: str, cls: type, message: str) -> str:
    """A part's own message (``Exponential.factor: ...``) rewritten to the key path."""
    prefix = f"{cls.__name__}."
    if message.startswith(prefix):
        return f"{path}.{message[len(prefix) :]}"
    return f"{path}: {message}"
