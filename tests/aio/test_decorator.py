"""@supervised: one coroutine function under a policy, on real event loops."""

from __future__ import annotations

import anyio
import pytest

from relaunch import Action, Constant, CountBudget, Mode, Policy, Rule
from relaunch.aio import GaveUp, supervised

pytestmark = pytest.mark.anyio

QUICK = Constant(0.01)


async def test_gives_up_with_the_last_decision() -> None:
    """When the policy gives up, GaveUp carries the decision, and the last failure as its cause."""
    calls = 0

    @supervised(Policy(backoff=QUICK, budget=CountBudget(2)))
    async def connect(host: str) -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(0)
        raise ConnectionError(f"{host} refused")

    with pytest.raises(GaveUp) as caught:
        await connect("db")
    assert calls == 3
    assert caught.value.decision.action is Action.GIVE_UP
    assert caught.value.decision.rule is Rule.BUDGET_EXHAUSTED
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert "budget" in str(caught.value)
    assert "(ConnectionError: db refused)" in str(caught.value)


async def test_returns_the_value_of_a_run_that_is_not_restarted() -> None:
    """Under an on-failure policy, failures are retried and the first return is the call's value."""
    calls = 0

    @supervised(Policy(mode=Mode.ON_FAILURE, backoff=QUICK, budget=CountBudget(5)))
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TimeoutError
        return "page"

    assert await fetch() == "page"
    assert calls == 3


async def test_a_failure_the_policy_leaves_down_is_reraised() -> None:
    """A failure the policy does not restart (an on-success policy) raises the function's own error."""

    @supervised(Policy(mode=Mode.ON_SUCCESS, backoff=QUICK))
    async def job() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await job()


async def test_cancellation_goes_through() -> None:
    """A cancelled call is cancelled at once, never counted as a failure and retried."""
    calls = 0

    @supervised(Policy(backoff=QUICK))
    async def serve() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    with anyio.move_on_after(0.05) as scope:
        await serve()
    assert scope.cancelled_caught
    assert calls == 1


def test_a_policy_is_required() -> None:
    """supervised() refuses anything but a Policy, naming it."""
    with pytest.raises(TypeError, match="policy"):
        supervised("recommended")  # type: ignore[arg-type]
