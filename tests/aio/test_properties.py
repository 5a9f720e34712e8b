"""Property tests of AsyncSupervisor, on Trio's virtual clock so that hours of crash loop take milliseconds."""

from __future__ import annotations

import itertools

import anyio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from relaunch import Constant, Outcome, Policy
from relaunch import strategies as rst
from relaunch.aio import AsyncSupervisor
from relaunch.aio.tasks import _Task
from relaunch.runs import Run, drive


async def forever() -> None:
    await anyio.sleep_forever()


#: Virtual seconds each example runs for.
HORIZON_S = 300.0


@given(
    budget=rst.budgets(max_restarts=6),
    delay=st.floats(min_value=1.0, max_value=60.0),
    durations=st.lists(st.floats(min_value=0.0, max_value=120.0), min_size=1, max_size=8),
)
def test_a_crash_loop_stays_within_its_budget(budget, delay, durations) -> None:  # type: ignore[no-untyped-def]
    """A crash loop of tasks never restarts more often than its policy's budget allows."""
    policy = Policy(backoff=Constant(delay), budget=budget, count_lost=budget.tracks_runs)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ("a", "b", "c")}

    def crash_loop(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            started = anyio.current_time()
            try:
                await anyio.sleep(durations[len(runs[name]) % len(durations)])
            finally:
                runs[name].append((started, anyio.current_time()))
            raise RuntimeError("crashed")

        return run

    async def main() -> None:
        with anyio.move_on_after(HORIZON_S):
            async with AsyncSupervisor() as sup:
                for name in runs:
                    await sup.add(name, policy, task=crash_loop(name))
        for name, seen in runs.items():
            # Replay the runs the task really made through the kernel: each run after the first
            # must have been admitted by a restart decision, no sooner than its delay.
            state = policy.start(at=seen[0][0])
            for (started, ended), (next_start, _) in itertools.pairwise(seen):
                decision = policy.decide(state, Outcome(started, ended, exit_code=1))
                assert decision.restarts, f"{name} ran again after {decision.reason}"
                assert next_start >= ended + decision.delay
                state = decision.state
            # The last restart decided may have been cut short by the horizon.
            assert len(seen) - 1 <= sup.status(name).restarts <= len(seen)

    anyio.run(main, backend="trio", backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)})


@given(policy=rst.policies(), runs=st.lists(rst.run_specs(), min_size=1, max_size=30))
def test_a_remembered_decision_is_the_kernels(policy: Policy, runs: list[Run]) -> None:
    """A task's last decision, kept field by field and rebuilt, equals the kernel's, reason included."""
    state = policy.start(at=0.0, seed=7)
    task = _Task("t", forever, (), policy, None, state)
    assert task.last_decision() is None
    for decision in drive(policy, state, runs):
        task.remember(decision, decision.outcome)
        rebuilt = task.last_decision()
        assert rebuilt == decision
        assert rebuilt is not None
        assert rebuilt.reason == decision.reason
        assert rebuilt.outcome == decision.outcome
        assert repr(rebuilt.outcome) == repr(decision.outcome)
        assert task.state is decision.state
