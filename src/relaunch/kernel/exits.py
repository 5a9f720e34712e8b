"""Exit classification: which exits are clean, and which exit codes or signals override the mode.

This module only holds the configuration; the state machine in ``policy.py`` applies it, and
``Mode`` and ``ExitClass`` (re-exported here) live in :mod:`.vocabulary`.
Vocabulary from systemd (``src/core/service.c``, ``service_shall_restart``; ``src/basic/
exit-status.c``, ``is_clean_exit``): ``SuccessExitStatus`` adds clean codes and signals,
``RestartPreventExitStatus`` prevents a restart and ``RestartForceExitStatus`` forces one; PM2's
``stop_exit_codes`` are prevent codes.
"""

from __future__ import annotations

import signal as _signal

import attrs

from .validate import codes, normalize, signals
from .vocabulary import ExitClass, Mode

__all__ = ["DAEMON_CLEAN_SIGNALS", "ExitClass", "ExitRules", "Mode"]

#: Signals systemd counts as a clean death for a daemon (``EXIT_CLEAN_DAEMON`` in ``is_clean_exit``).
DAEMON_CLEAN_SIGNALS = frozenset(
    int(s) for s in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM, _signal.SIGPIPE)
)


@attrs.frozen(slots=True, cache_hash=True)
class ExitRules:
    """Clean exits, and the exit codes and signals that prevent or force a restart.

    Prevent wins over force, and force over the restart mode (as in systemd).
    """

    success_codes: frozenset[int] = frozenset({0})
    success_signals: frozenset[int] = frozenset()
    prevent_codes: frozenset[int] = frozenset()
    prevent_signals: frozenset[int] = frozenset()
    force_codes: frozenset[int] = frozenset()
    force_signals: frozenset[int] = frozenset()

    def __attrs_post_init__(self) -> None:
        for field in ("success_codes", "prevent_codes", "force_codes"):
            normalize(self, field, codes(f"ExitRules.{field}", getattr(self, field)))
        for field in ("success_signals", "prevent_signals", "force_signals"):
            normalize(self, field, signals(f"ExitRules.{field}", getattr(self, field)))
