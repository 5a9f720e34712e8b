"""``@supervised(policy)``: one coroutine function run under a policy, for the simple case.

The restart loop of a single coroutine in the caller's own task, with no supervisor around it:
each call runs the function, and after each end asks ``policy.decide`` what next, exactly as a
task of :class:`~relaunch.aio.AsyncSupervisor` does (``tasks.py`` says how a run's end becomes an
``Outcome``; the exit codes and the failure detail come from there). Give-up is a kernel value;
only here, at the boundary of a call that must either return or raise, does it become an
exception, :class:`GaveUp`, carrying that value.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from relaunch.adapters.supervisor import seed_for
from relaunch.kernel import Action, Decision, Outcome, Policy

from . import _loop
from .tasks import EXIT_RAISED, EXIT_RETURNED, failure_detail, log_decision

__all__ = ["GaveUp", "supervised"]

P = ParamSpec("P")
T = TypeVar("T")


class GaveUp(Exception):
    """The policy gave up on a supervised coroutine. ``decision`` is its last :class:`Decision`.

    The message is the decision's reason, with the last failure's type and message; that
    failure is also the exception's ``__cause__``.
    """

    def __init__(self, name: str, decision: Decision, detail: str) -> None:
        self.decision = decision
        self.detail = detail
        super().__init__(f"{name}: {decision.reason}" + (f" ({detail})" if detail else ""))


def supervised(
    policy: Policy,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Run the decorated ``async def`` under ``policy`` each time it is awaited.

    ``await f(...)`` calls ``f`` again after each end the policy restarts, after the policy's
    delay. It returns ``f``'s value once a return is not restarted (``Mode.ON_FAILURE``, say),
    re-raises ``f``'s exception once a failure is not restarted (an exit the policy leaves
    down), and raises :class:`GaveUp` when the policy gives up. A cancellation is never a
    failure: it goes through at once.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"supervised: policy must be a relaunch Policy, got {policy!r}")

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        name = getattr(fn, "__qualname__", repr(fn))

        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            native = _loop.current()
            now = native.now
            state = policy.start(at=now(), seed=seed_for(name))
            while True:
                started = now()
                failure: Exception | None = None
                try:
                    value = await fn(*args, **kwargs)
                except Exception as error:  # noqa: BLE001 - any exception is a failed run
                    failure = error
                    outcome = Outcome(started, now(), exit_code=EXIT_RAISED)
                else:
                    outcome = Outcome(started, now(), exit_code=EXIT_RETURNED)
                decision = policy.decide(state, outcome)
                state = decision.state
                detail = "" if failure is None else failure_detail(failure)
                log_decision(name, decision, detail)
                if decision.restarts:
                    await native.sleep(decision.delay)
                elif decision.action is Action.GIVE_UP:
                    raise GaveUp(name, decision, detail) from failure
                elif failure is not None:
                    raise failure
                else:
                    return value

        return run

    return decorate
