"""Supervising in the foreground: a line per decision, and the signals that end it.

Threads: :meth:`Foreground.hook` runs on whichever thread the supervisor delivers a decision from
(one of its own, or the main thread during ``add`` and ``start``) and only prints and sets an
event; the signal handlers only set an event. The main thread, waiting in :meth:`Foreground.run`,
does everything else: stopping, killing, restoring the handlers.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..kernel import Cause
from ..report import Style
from ..units import span
from .common import EXIT_DONE, EXIT_GIVEN_UP, EXIT_INTERRUPTED, say


def reporter(args: argparse.Namespace) -> Callable[[Any], None]:
    """Print each decision: one line of text, or (``--json``) one JSON object per line."""
    style = Style(sys.stdout)

    def report(event: Any) -> None:
        decision, outcome = event.decision, event.outcome
        detail = getattr(event, "detail", "")
        health = getattr(event, "health", None)
        if args.json:
            record = {
                "workload": event.name,
                "action": decision.action.value,
                "delay": decision.delay,
                "attempt": decision.attempt,
                "rule": decision.rule.value,
                "reason": decision.reason,
                "cause": outcome.cause.value,
                "exit_code": outcome.exit_code,
                "signal": outcome.signal,
                "detail": detail or None,
                "health": None
                if health is None
                else {
                    "verdict": health.verdict.value,
                    "failures": health.failures,
                    "output": health.output,
                },
                "ended_at": datetime.fromtimestamp(outcome.ended_at, UTC).isoformat(timespec="seconds"),
            }
            print(json.dumps(record), flush=True)
            return
        action = decision.action.value
        line = f"{event.name}: {action}" + (f" in {span(decision.delay)}" if decision.restarts else "")
        # The runtime's own words (Docker's error, the OS's) say why a start failed.
        why = f" ({detail})" if detail else ""
        if health is not None and outcome.cause is Cause.UNHEALTHY:
            why = f" ({health.failures} failed probes: {health.output or 'no output'})"
        print(f"{style.bold(line)}: {decision.reason}{why}", flush=True)

    return report


class Foreground:
    """Run one supervised workload until its policy gives up or stops it, or the user interrupts.

    The same for both adapters: exit 1 on a give-up, 0 on a stop, 130 when interrupted. A
    container is left as it is on Ctrl-C; an --exec command is stopped (SIGTERM, then SIGKILL
    after the grace), with a line saying so, and a second Ctrl-C kills it at once.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.done = threading.Event()
        self.signalled = threading.Event()
        self._emit = reporter(args)

    def hook(self, event: Any) -> None:
        self._emit(event)
        if not event.decision.restarts:
            self.done.set()

    def run(self, sup: Any, runtime: Any, phase: Any, banner: str, grace: float = 0.0) -> int:
        args, name = self.args, self.args.name
        previous = {
            signum: signal.signal(signum, lambda signum, frame: self.signalled.set())
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        interrupts = 0
        try:
            # Only now: a Ctrl-C the moment the banner is read must find the handlers in place.
            say(args, banner)
            # A workload the state file knows as stopped or given up: running the line again is
            # the operator's start.
            # (A decision already reported is this run's own, e.g. a start that failed at once.)
            if sup.status(name).phase in (phase.STOPPED, phase.GIVEN_UP) and not self.done.is_set():
                sup.start(name)
            while not self.done.wait(0.1):  # short waits: the handlers run on this thread
                if not self.signalled.is_set():
                    continue
                self.signalled.clear()
                interrupts += 1
                if not args.exec_:
                    say(args, f"\nstopped supervising {name}; the container is left as it is")
                    return EXIT_INTERRUPTED
                if interrupts == 1:
                    say(
                        args,
                        f"\nstopping {name}: sent SIGTERM, waiting up to {span(grace)} for it to exit "
                        "(Ctrl-C again kills it now)",
                    )
                    sup.stop(name)
                else:
                    say(args, f"killing {name} now (SIGKILL)")
                    runtime.kill(name)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if interrupts:
            return EXIT_INTERRUPTED
        return EXIT_GIVEN_UP if sup.status(name).phase is phase.GIVEN_UP else EXIT_DONE
