"""AsyncSupervisor on real event loops: runs, decisions, operator actions, groups, structure."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable

import anyio
import pytest

from relaunch import (
    Action,
    Cause,
    Constant,
    CountBudget,
    Group,
    Mode,
    Outcome,
    OutcomeError,
    Policy,
    Rule,
    Stability,
    Strategy,
)
from relaunch.adapters.phase import Phase
from relaunch.adapters.runtime import SupervisorError
from relaunch.aio import AsyncSupervisor, heartbeat

from .conftest import until

pytestmark = pytest.mark.anyio

QUICK = Constant(0.01)


def crashing(starts: list[float], error: Exception | None = None) -> Callable[[], Awaitable[None]]:
    """A task that records when each run starts, then raises ``error`` (a RuntimeError by default)."""

    async def task() -> None:
        starts.append(anyio.current_time())
        await anyio.sleep(0)
        raise error or RuntimeError("crashed")

    return task


async def forever() -> None:
    await anyio.sleep_forever()


class TestRuns:
    async def test_each_restart_waits_the_policys_delay(self) -> None:
        """Runs of a crash loop start at least the backoff's delay after the previous one ended."""
        starts: list[float] = []
        policy = Policy(backoff=Constant(0.05), budget=CountBudget(3))
        async with AsyncSupervisor() as sup:
            await sup.add("loop", policy, task=crashing(starts))
        assert len(starts) == 4
        assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(starts))

    async def test_gives_up_once_the_budget_is_spent(self) -> None:
        """A crash loop under CountBudget(2) runs three times, then is given up; the block then ends."""
        starts: list[float] = []
        async with AsyncSupervisor() as sup:
            await sup.add("loop", Policy(backoff=QUICK, budget=CountBudget(2)), task=crashing(starts))
        status = sup.status("loop")
        assert len(starts) == 3
        assert status.phase is Phase.GIVEN_UP
        assert status.rule is Rule.BUDGET_EXHAUSTED
        assert (status.restarts, status.budget_left) == (2, 0)

    async def test_a_stable_run_resets_the_budget(self) -> None:
        """A run longer than the stability threshold resets a spent budget, so the loop goes on."""
        starts: list[float] = []

        async def task() -> None:
            starts.append(anyio.current_time())
            if len(starts) == 2:
                await anyio.sleep(0.1)  # stable: over the 0.05 s threshold
            raise RuntimeError("crashed")

        policy = Policy(backoff=QUICK, budget=CountBudget(1), stability=Stability(after=0.05))
        async with AsyncSupervisor() as sup:
            events = sup.events()
            await sup.add("loop", policy, task=task)
        rules = [event.decision.rule async for event in events]
        # run 1 crashes (restart 1 of 1), run 2 is stable (reset), run 3 crashes (restart 1 of 1
        # again), run 4 crashes with the budget spent.
        assert rules == [Rule.BACKOFF, Rule.STABLE_RESET, Rule.BACKOFF, Rule.BUDGET_EXHAUSTED]
        assert len(starts) == 4

    async def test_the_exception_is_in_the_detail_and_the_reason(self) -> None:
        """A run that raised is a failure (exit 1) whose type and message the event and the status carry."""
        async with AsyncSupervisor() as sup:
            events = sup.events()
            policy = Policy(backoff=QUICK, budget=CountBudget(0))
            await sup.add("api", policy, task=crashing([], ValueError("bad port 99")))
        [event] = [event async for event in events]
        assert event.detail == "ValueError: bad port 99"
        assert event.outcome.exit_code == 1
        assert event.outcome.cause is Cause.EXITED
        assert "(ValueError: bad port 99)" in (sup.status("api").reason or "")

    async def test_a_return_is_a_clean_exit(self) -> None:
        """A coroutine that returns ended with exit 0, which an on-failure policy does not restart."""

        async def task() -> None:
            await anyio.sleep(0)

        async with AsyncSupervisor() as sup:
            await sup.add("job", Policy(mode=Mode.ON_FAILURE, backoff=QUICK), task=task, args=())
        status = sup.status("job")
        assert status.phase is Phase.STOPPED
        assert status.last_outcome is not None
        assert status.last_outcome.exit_code == 0
        assert status.rule is Rule.SUCCESS

    async def test_outcomes_on_the_loops_clock_equal_checked_ones(self) -> None:
        """Every outcome built without checks (the loop's clock) equals Outcome(...) of the same values."""

        runs: list[None] = []

        async def task() -> None:  # raises, returns, raises, ...
            runs.append(None)
            await anyio.sleep(0)
            if len(runs) % 2:
                raise RuntimeError

        policy = Policy(backoff=QUICK, budget=CountBudget(5))
        async with AsyncSupervisor() as sup:
            events = sup.events()
            await sup.add("t", policy, task=task)
        outcomes = [event.outcome async for event in events]
        assert {outcome.exit_code for outcome in outcomes} == {0, 1}
        for outcome in outcomes:
            checked = Outcome(outcome.started_at, outcome.ended_at, exit_code=outcome.exit_code)
            assert outcome == checked
            assert type(outcome.started_at) is type(outcome.ended_at) is float

    async def test_a_clock_passed_in_is_checked(self) -> None:
        """A clock of the caller's that goes back is refused by Outcome's checks, and the error leaves the block."""
        times = iter([0.0, 10.0, 5.0])  # add, the run's start, then its end before its start

        async def supervise() -> None:
            async with AsyncSupervisor(clock=lambda: next(times)) as sup:
                await sup.add("t", Policy(backoff=QUICK), task=crashing([]))

        with pytest.raises(BaseExceptionGroup) as caught:
            await supervise()
        assert caught.group_contains(OutcomeError, match="must not be before started_at")

    async def test_args_are_passed(self) -> None:
        """``args`` are the task's positional arguments, on every run."""
        seen: list[tuple[int, str]] = []

        async def task(number: int, word: str) -> None:
            seen.append((number, word))
            raise RuntimeError

        async with AsyncSupervisor() as sup:
            await sup.add("t", Policy(backoff=QUICK, budget=CountBudget(1)), task=task, args=(7, "x"))
        assert seen == [(7, "x"), (7, "x")]


class TestHeartbeat:
    async def test_a_missed_heartbeat_is_unhealthy(self) -> None:
        """A run that stops calling heartbeat() is cancelled, and its end is Cause.UNHEALTHY."""
        beats = 0

        async def task() -> None:
            nonlocal beats
            for _ in range(5):
                heartbeat()
                beats += 1
                await anyio.sleep(0.02)  # well inside the 0.2 s deadline
            await anyio.sleep_forever()

        async with AsyncSupervisor() as sup:
            events = sup.events()
            await sup.add("hung", Policy(backoff=QUICK, budget=CountBudget(0)), task=task, heartbeat=0.2)
        [event] = [event async for event in events]
        assert beats == 5  # it was not cancelled while it kept its heartbeat
        assert event.outcome.cause is Cause.UNHEALTHY
        assert event.detail == "no heartbeat for 0.2s"
        assert event.outcome.duration >= 0.2

    async def test_heartbeat_outside_a_deadline_does_nothing(self) -> None:
        """heartbeat() outside supervision, or in a task without a deadline, is a no-op."""
        heartbeat()

        async def task() -> None:
            heartbeat()

        async with AsyncSupervisor() as sup:
            await sup.add("plain", Policy(mode=Mode.ON_FAILURE), task=task)
        assert sup.status("plain").phase is Phase.STOPPED


class TestOperator:
    async def test_stop_is_an_operator_stop(self) -> None:
        """stop() cancels the run; its end is STOPPED (never a failure) and nothing restarts it."""
        async with AsyncSupervisor() as sup:
            await sup.add("svc", Policy(backoff=QUICK), task=forever)
            await until(lambda: sup.status("svc").phase is Phase.RUNNING)
            await sup.stop("svc")
            status = sup.status("svc")
            assert status.phase is Phase.STOPPED
            assert status.last_outcome is not None
            assert status.last_outcome.cause is Cause.STOPPED
            assert status.rule is Rule.OPERATOR_STOP

    async def test_stop_while_backing_off_cancels_the_restart(self) -> None:
        """A stop during the delay decides the stop at once; the pending restart never starts."""
        starts: list[float] = []
        async with AsyncSupervisor() as sup:
            await sup.add("loop", Policy(backoff=Constant(30.0)), task=crashing(starts))
            await until(lambda: sup.status("loop").phase is Phase.BACKING_OFF)
            assert sup.status("loop").restart_at is not None
            await sup.stop("loop")
            assert sup.status("loop").phase is Phase.STOPPED
        assert len(starts) == 1

    async def test_start_after_a_give_up_is_fresh(self) -> None:
        """start() brings a given-up task back with a fresh budget."""
        starts: list[float] = []
        async with AsyncSupervisor() as sup:
            await sup.add("loop", Policy(backoff=QUICK, budget=CountBudget(1)), task=crashing(starts))
            await until(lambda: sup.status("loop").phase is Phase.GIVEN_UP)
            await sup.start("loop")
            await until(lambda: len(starts) == 4 and sup.status("loop").phase is Phase.GIVEN_UP)
        assert sup.status("loop").restarts == 1

    async def test_restart_spends_nothing(self) -> None:
        """restart() stops the run and starts another; the budget is not spent."""
        runs = 0

        async def task() -> None:
            nonlocal runs
            runs += 1
            await anyio.sleep_forever()

        async with AsyncSupervisor() as sup:
            await sup.add("svc", Policy(backoff=QUICK, budget=CountBudget(1)), task=task)
            await until(lambda: runs == 1)
            for _ in range(3):
                await sup.restart("svc")
            await until(lambda: runs == 4 and sup.status("svc").phase is Phase.RUNNING)
            status = sup.status("svc")
            assert (status.restarts, status.budget_left) == (0, 1)
            sup.cancel_scope.cancel()

    async def test_a_task_can_stop_and_restart_itself(self) -> None:
        """A task that stops or restarts itself is stopped at its next await, as by anyone else."""
        runs = 0

        async def task() -> None:
            nonlocal runs
            runs += 1
            await sup.restart("self") if runs == 1 else await sup.stop("self")
            raise AssertionError("not reached: the stop cancels the task inside its own call")

        async with AsyncSupervisor() as sup:
            events = sup.events()
            await sup.add("self", Policy(backoff=QUICK, budget=CountBudget(0)), task=task)
        causes = [event.outcome.cause async for event in events]
        assert runs == 2
        assert causes == [Cause.STOPPED, Cause.STOPPED]
        assert sup.status("self").phase is Phase.STOPPED

    async def test_unknown_names_and_bad_input_are_refused(self) -> None:
        """Every bad argument is refused with an error that names it."""
        async with AsyncSupervisor() as sup:
            with pytest.raises(SupervisorError, match="unknown task 'nope'"):
                sup.status("nope")
            with pytest.raises(ValueError, match="heartbeat"):
                await sup.add("x", Policy(), task=forever, heartbeat=0)
            with pytest.raises(TypeError, match="policy"):
                await sup.add("x", "recommended", task=forever)  # type: ignore[arg-type]
            await sup.add("x", Policy(mode=Mode.NEVER), task=forever)
            with pytest.raises(SupervisorError, match="already supervised"):
                await sup.add("x", Policy(), task=forever)
            with pytest.raises(SupervisorError, match="ghost"):
                sup.add_group(Group("g", Strategy.ONE_FOR_ALL, ("x", "ghost")))
            sup.cancel_scope.cancel()
        with pytest.raises(SupervisorError, match="not open"):
            await sup.add("late", Policy(), task=forever)


class TestStructure:
    async def test_cancelling_from_outside_stops_every_task(self) -> None:
        """A cancellation from outside the block stops each task (STOPPED, not a failure) and closes it."""
        with anyio.move_on_after(0.1):
            async with AsyncSupervisor() as sup:
                await sup.add("a", Policy(backoff=QUICK), task=forever)
                await sup.add("b", Policy(backoff=Constant(30.0)), task=crashing([]))
                await anyio.sleep_forever()
        for status in sup.statuses():
            assert status.phase is Phase.STOPPED
            assert status.last_outcome is not None
            assert status.last_outcome.cause is Cause.STOPPED

    async def test_an_error_of_the_supervisor_is_never_lost(self) -> None:
        """A BaseException that is no failure of a task (a KeyboardInterrupt, say) leaves the block."""

        class Fatal(BaseException):
            pass

        async def task() -> None:
            raise Fatal

        async def supervise() -> None:
            async with AsyncSupervisor() as sup:
                await sup.add("a", Policy(), task=task)
                await sup.add("b", Policy(), task=forever)

        with pytest.raises(BaseExceptionGroup) as caught:
            await supervise()
        assert caught.group_contains(Fatal)

    async def test_events_drop_the_oldest_for_a_slow_consumer(self) -> None:
        """A stream that is not read keeps its newest events, and counts what it dropped."""
        async with AsyncSupervisor() as sup:
            stream = sup.events(buffer=2)
            await sup.add("loop", Policy(backoff=QUICK, budget=CountBudget(4)), task=crashing([]))
        actions = [event.decision.action async for event in stream]
        assert actions == [Action.RETRY, Action.GIVE_UP]
        assert stream.dropped == 3

    async def test_a_stream_let_go_stops_receiving(self) -> None:
        """Leaving an ``async for`` over events with break unsubscribes it."""
        async with AsyncSupervisor() as sup:
            await sup.add("loop", Policy(backoff=QUICK, budget=CountBudget(3)), task=crashing([]))
            async for _event in sup.events():
                break
            assert not sup._broadcast.listening


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_no_task_outlives_the_block(anyio_backend: str) -> None:
    """After the block, asyncio's tasks are the ones there were before it."""
    before = asyncio.all_tasks()
    async with AsyncSupervisor() as sup:
        for name in "abc":
            await sup.add(name, Policy(backoff=QUICK), task=forever)
        await sup.add("loop", Policy(backoff=QUICK), task=crashing([]))
        sup.add_group(Group("g", Strategy.ONE_FOR_ALL, ("a", "b", "loop")))
        await until(lambda: sup.status("loop").restarts >= 3)
        assert len(asyncio.all_tasks()) > len(before)
        sup.cancel_scope.cancel()
    assert asyncio.all_tasks() == before


class TestGroups:
    async def test_one_for_all_restarts_the_siblings(self) -> None:
        """A member's crash under one_for_all restarts the others (an operator restart: a stop, no budget)."""
        runs = {"db": 0, "cache": 0}

        def service(name: str) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                runs[name] += 1
                await anyio.sleep_forever()

            return run

        crashes: list[float] = []
        async with AsyncSupervisor() as sup:
            events = sup.events()
            await sup.add("db", Policy(backoff=QUICK), task=service("db"))
            await sup.add("cache", Policy(backoff=QUICK), task=service("cache"))
            await until(lambda: runs == {"db": 1, "cache": 1})
            await sup.add("api", Policy(backoff=QUICK, budget=CountBudget(1)), task=crashing(crashes))
            sup.add_group(Group("web", Strategy.ONE_FOR_ALL, ("db", "cache", "api")))
            await until(lambda: sup.status("api").phase is Phase.GIVEN_UP)
            # api's crash restarted both once; its give-up took them down with it.
            await until(lambda: all(s.phase is Phase.GIVEN_UP for s in sup.statuses()))
        stops = [e for e in [event async for event in events] if e.name == "db"]
        assert runs == {"db": 2, "cache": 2}
        assert [e.outcome.cause for e in stops] == [Cause.STOPPED] * 2
        assert "api gave up" in (sup.status("db").reason or "")
        assert sup.status("db").restarts == 0

    async def test_the_shared_budget_gives_the_group_up(self) -> None:
        """Once the group's shared budget is spent, the member that asked and every other give up."""
        async with AsyncSupervisor() as sup:
            await sup.add("db", Policy(backoff=QUICK), task=forever)
            await sup.add("api", Policy(backoff=QUICK), task=crashing([]))
            sup.add_group(Group("web", Strategy.ONE_FOR_ONE, ("db", "api"), budget=CountBudget(2)))
        api, db = sup.status("api"), sup.status("db")
        assert api.phase is Phase.GIVEN_UP
        assert db.phase is Phase.GIVEN_UP
        assert "group's budget" in (api.reason or "")
        assert api.restarts == 3  # its own policy asked for a third; the group refused it
        assert math.isinf(api.budget_left)
