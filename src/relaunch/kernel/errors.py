"""The kernel's error family: one exception per kind of bad input, raised at the boundary.

Every error names the offending field and value, and is raised before anything changes: the kernel
has no mutable state to half-apply, so a rejected call leaves no trace.
"""

from __future__ import annotations

__all__ = ["OutcomeError", "PolicyError", "RelaunchError", "StateError"]


class RelaunchError(ValueError):
    """Base of every error relaunch raises for bad input."""


class PolicyError(RelaunchError):
    """A policy, or one of its parts, was configured with an invalid value."""


class OutcomeError(RelaunchError):
    """An outcome is malformed, or does not fit the state it is decided against."""


class StateError(RelaunchError):
    """A state is malformed (for example a corrupted persisted dict) or belongs to another policy."""
