"""The one registry of presets: every consumer (``presets.get``, policy files, the CLI, the README
table, the benchmarks) reads its entries, and nothing else lists presets.

A preset is registered where it is defined, with :func:`register`, which says in writing what was
an unwritten rule before: the registered name (not the function's), a one-line summary, and the
parameters, read once from the factory's signature (each keyword and its default, and whether it
accepts None).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from ..kernel import Policy, PolicyError

__all__ = ["REGISTRY", "Entry", "Parameter", "entry", "get", "names", "register"]

Factory = Callable[..., Policy]


@attrs.frozen
class Parameter:
    """One keyword of a preset, as its system spells it."""

    #: The keyword.
    name: str
    #: Its default: what the system does with no configuration.
    default: Any
    #: Whether it accepts None (a policy file writes ``"none"``).
    optional: bool


@attrs.frozen
class Entry:
    """One registered preset."""

    #: The name ``get``, policy files and the CLI use.
    name: str
    #: The function that builds the policy; called with no arguments it is the system unconfigured.
    factory: Factory
    #: One line for listings.
    summary: str
    #: The keywords ``factory`` takes, in order.
    parameters: tuple[Parameter, ...]

    @property
    def defaults(self) -> dict[str, Any]:
        """Each keyword and its default."""
        return {p.name: p.default for p in self.parameters}

    def build(self, **params: Any) -> Policy:
        """The preset with ``params``; an unknown keyword is a PolicyError naming the allowed ones."""
        known = self.defaults
        for key in params:
            if key not in known:
                allowed = ", ".join(known) or "none"
                raise PolicyError(f"{self.name}.{key}: no such parameter (allowed: {allowed})")
        return self.factory(**params)


#: Every preset by name, in registration order.
REGISTRY: dict[str, Entry] = {}


def _parameters(factory: Factory) -> tuple[Parameter, ...]:
    hints = typing.get_type_hints(factory)
    result = []
    for p in inspect.signature(factory).parameters.values():
        if p.default is p.empty:
            raise TypeError(f"preset {factory.__name__}: keyword {p.name!r} needs a default")
        hint = hints.get(p.name)
        optional = type(None) in typing.get_args(hint) or isinstance(hint, types.NoneType)
        result.append(Parameter(p.name, p.default, optional))
    return tuple(result)


def register(name: str, summary: str) -> Callable[[Factory], Factory]:
    """Register the decorated factory as preset ``name``, described by ``summary``."""

    def add(factory: Factory) -> Factory:
        if name in REGISTRY:
            raise TypeError(f"preset {name!r} is registered twice")
        REGISTRY[name] = Entry(name, factory, summary, _parameters(factory))
        return factory

    return add


def names() -> tuple[str, ...]:
    """The registered presets, sorted."""
    return tuple(sorted(REGISTRY))


def entry(name: object) -> Entry:
    """The entry called ``name``; a PolicyError lists the known ones."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise PolicyError(f"unknown preset {name!r}, expected one of {', '.join(names())}")
    return REGISTRY[name]


def get(name: str, **params: Any) -> Policy:
    """Build the preset called ``name`` with ``params``; a PolicyError names what is wrong."""
    return entry(name).build(**params)
