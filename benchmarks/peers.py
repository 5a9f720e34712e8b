"""The Python peers' cost per decision, with sleeping removed and every attempt counted.

Each peer is configured like relaunch's toolhive preset where it can be (exponential backoff from
5 s, capped at 60 s, N attempts) and otherwise keeps its defaults (backoff and stamina jitter by
default; tenacity does not). What "sleeping removed" means differs per library, and a wait of
zero is not enough: `time.sleep(0)` is still a system call that releases the GIL (about 70 us on
the reference machine, more than the whole decision), so each sleep is replaced by a function that
only counts, and every workload checks afterwards that it made exactly N attempts and N - 1 sleeps.

- tenacity 9 (jd/tenacity, tenacity/__init__.py): `Retrying(sleep=...)` is its public hook.
  The decision step drives `Retrying.iter()` with a `RetryCallState` the way `Retrying.__call__`
  does: record the failure (`set_exception`), `iter()` (retry, wait and stop strategies, returns
  `DoSleep`), `prepare_for_next_attempt()`.
- backoff 2.2 (litl/backoff, backoff/_sync.py, `retry_exception`) has no sleep hook for the
  synchronous decorator: it calls `time.sleep(seconds)` through its module-global `time`. We
  rebind `backoff._sync.time` to a namespace whose `sleep` counts. Its default logger is the
  "backoff" logger at INFO with a NullHandler (backoff/_common.py), so records are built and
  dropped; `logger=None` turns the default handlers off.
- stamina 26 (hynek/stamina, stamina/_config.py `set_testing`): test mode makes every wait 0.0 and
  sets the attempts, but `retry_context` still hands those waits to tenacity's default sleep,
  `tenacity.nap.sleep`, which calls `time.sleep(0.0)` through `tenacity.nap.time`; we rebind that
  name to the counting namespace. stamina's default instrumentation is its logging hook, which
  logs at WARNING to the "stamina" logger (stamina/instrumentation/_logging.py); we give that
  logger a NullHandler, as backoff does for its own, because otherwise `logging.lastResort` writes
  every retry to stderr and the row would time terminal output. A reference row keeps the real
  `time.sleep(0.0)` to show what an honest "no wait" still costs.
"""

from __future__ import annotations

import logging
import sys
import time
import types
from collections.abc import Callable

import backoff
import backoff._sync
import stamina
import tenacity
import tenacity.nap

from benchmarks.harness import Case, Workload

#: Attempts per full retry loop: toolhive's default max_retries.
N = 10


class Boom(Exception):
    """The failure every peer retries on."""


class CountingTime(types.SimpleNamespace):
    """Stands in for the `time` module inside a peer: `sleep` only counts."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1


class RealTime(types.SimpleNamespace):
    """Counts like CountingTime, then really sleeps: the reference row."""

    def __init__(self, counter: CountingTime) -> None:
        super().__init__()
        self.counter = counter

    def sleep(self, seconds: float) -> None:
        self.counter.sleep(seconds)
        time.sleep(seconds)


def _expect(what: str, got: int, want: int) -> None:
    if got != want:
        raise AssertionError(f"{what}: expected {want}, got {got}")


def tenacity_step() -> Workload:
    """record the failure, iter(), prepare the next attempt; one call is one decision."""
    retrying = tenacity.Retrying(
        sleep=lambda seconds: None,
        # stop_after_attempt is what a real configuration uses; a bound that is never reached
        # keeps the step repeatable without switching to the cheaper stop_never.
        stop=tenacity.stop_after_attempt(sys.maxsize),
        wait=tenacity.wait_exponential(multiplier=5, max=60),
    )
    retrying.begin()
    state = tenacity.RetryCallState(retrying, fn=None, args=(), kwargs={})
    if not isinstance(retrying.iter(state), tenacity.DoAttempt):
        raise AssertionError("tenacity: first iter() should ask for an attempt")
    try:
        raise Boom
    except Boom:
        exc_info = sys.exc_info()
    last: list[object] = [None]

    def step() -> None:
        state.set_exception(exc_info)  # type: ignore[arg-type]
        last[0] = retrying.iter(state)
        state.prepare_for_next_attempt()

    seen = [state.attempt_number]

    def verify(calls: int) -> None:
        if not isinstance(last[0], tenacity.DoSleep):
            raise AssertionError(f"tenacity: iter() returned {last[0]!r}, not DoSleep")
        _expect("tenacity step attempts", state.attempt_number - seen[0], calls)
        seen[0] = state.attempt_number

    return Workload(step, [()], verify)


def _failing_target() -> tuple[Callable[[], None], list[int]]:
    calls = [0]

    def target() -> None:
        calls[0] += 1
        raise Boom

    return target, calls


def _full_loop(run_once: Callable[[], None], calls: list[int], clock: CountingTime) -> Workload:
    """Wrap a whole N-attempt retry loop that ends by re-raising Boom."""

    def run() -> None:
        try:
            run_once()
        except Boom:
            return
        raise AssertionError("the retry loop returned without giving up")

    def verify(loops: int) -> None:
        _expect("attempts", calls[0], loops * N)
        _expect("sleeps", clock.sleeps, loops * (N - 1))
        calls[0] = clock.sleeps = 0

    return Workload(run, [()], verify)


def tenacity_loop() -> Workload:
    clock = CountingTime()
    retrying = tenacity.Retrying(
        sleep=clock.sleep,
        stop=tenacity.stop_after_attempt(N),
        wait=tenacity.wait_exponential(multiplier=5, max=60),
        reraise=True,
    )
    target, calls = _failing_target()
    return _full_loop(lambda: retrying(target), calls, clock)


def backoff_loop(logger: str | None) -> Callable[[], Workload]:
    def make() -> Workload:
        clock = CountingTime()
        target, calls = _failing_target()
        decorated = backoff.on_exception(
            backoff.expo, Boom, max_tries=N, factor=5, max_value=60, logger=logger
        )(target)

        def run_once() -> None:
            # Rebound on every call: cheap, and immune to another row (or a reload) restoring it.
            backoff._sync.time = clock  # type: ignore[assignment]
            decorated()

        return _full_loop(run_once, calls, clock)

    return make


def stamina_loop(real_sleep: bool) -> Callable[[], Workload]:
    def make() -> Workload:
        stamina.set_testing(True, attempts=N)
        logging.getLogger("stamina").addHandler(logging.NullHandler())
        clock = CountingTime()
        target, calls = _failing_target()
        real = RealTime(clock)

        def run_once() -> None:
            tenacity.nap.time = real if real_sleep else clock  # type: ignore[assignment]
            for attempt in stamina.retry_context(on=Boom, attempts=N, wait_initial=5, wait_max=60):
                with attempt:
                    target()

        return _full_loop(run_once, calls, clock)

    return make


def cases() -> list[Case]:
    return [
        Case("tenacity: decision step", "peer", tenacity_step),
        Case("tenacity: full retry loop", "peer", tenacity_loop, inner=N),
        Case("backoff: on_exception, default logger", "peer", backoff_loop("backoff"), inner=N),
        Case("backoff: on_exception, logger=None", "peer", backoff_loop(None), inner=N),
        Case("stamina: retry_context (test mode)", "peer", stamina_loop(False), inner=N),
        Case(
            "stamina: retry_context, real time.sleep(0) (reference)",
            "peer",
            stamina_loop(True),
            inner=N,
            note="what set_testing alone leaves: a sleep(0) system call per retry",
        ),
    ]
