"""The policy parts on their own: backoff shapes, jitter, budgets, and their validation."""

from __future__ import annotations

import math

import pytest

from relaunch import (
    Constant,
    CountBudget,
    DecorrelatedJitter,
    EqualJitter,
    Exponential,
    Fibonacci,
    FixedWindow,
    FullJitter,
    Geometric,
    ImmediateFirst,
    Linear,
    NoJitter,
    PolicyError,
    ProportionalJitter,
    SlidingWindow,
    Stability,
    Table,
)
from relaunch.kernel.jitter import uniform


class TestBackoffShapes:
    """Each shape gives the documented sequence, and none overflows at huge steps."""

    def test_exponential_doubles_to_the_cap(self) -> None:
        backoff = Exponential(5.0, 2.0, 60.0)
        assert [backoff.delay(n) for n in range(1, 8)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0, 60.0]

    def test_exponential_at_huge_steps_is_the_cap(self) -> None:
        backoff = Exponential(0.1, 2.0, 60.0)
        assert backoff.delay(10**6) == backoff.delay(10**18) == 60.0

    def test_exponential_cap_is_reached_at_the_right_step(self) -> None:
        # 0.1 * 2**9 = 51.2 < 60 <= 0.1 * 2**10: step 11 is the first capped one (Docker's curve).
        backoff = Exponential(0.1, 2.0, 60.0)
        assert backoff.delay(10) == pytest.approx(51.2)
        assert backoff.delay(11) == 60.0

    def test_linear_counts_up_like_supervisord(self) -> None:
        assert [Linear(1.0, 1.0, 3600.0).delay(n) for n in (1, 2, 3, 10**6)] == [1.0, 2.0, 3.0, 3600.0]

    def test_geometric_interpolates_like_systemd(self) -> None:
        # RestartSec=1, RestartMaxDelaySec=16, RestartSteps=4: 1, 2, 4, 8, then 16.
        backoff = Geometric(1.0, 16.0, 4)
        assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0, 16.0])

    def test_fibonacci(self) -> None:
        backoff = Fibonacci(1.0, 10.0)
        assert [backoff.delay(n) for n in range(1, 9)] == [1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 10.0]
        assert backoff.delay(10**9) == 10.0

    def test_table_repeats_its_last_delay(self) -> None:
        backoff = Table((0.5, 2.0, 1.0))
        assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 2.0, 1.0, 1.0, 1.0]
        assert backoff.cap == 2.0

    def test_immediate_first_like_the_kubelet(self) -> None:
        backoff = ImmediateFirst(Exponential(10.0, 2.0, 300.0))
        assert [backoff.delay(n) for n in range(1, 9)] == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]

    def test_huge_factors_and_caps_do_not_overflow(self) -> None:
        backoff = Exponential(1e-9, 1e300, 1e299)
        assert backoff.delay(2) == pytest.approx(1e291)
        assert backoff.delay(3) == backoff.delay(10**9) == 1e299

    def test_constant(self) -> None:
        assert Constant(15.0).delay(1) == Constant(15.0).delay(10**9) == 15.0


class TestValidation:
    """Bad configuration raises PolicyError naming the field and the value."""

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: Exponential(5.0, 0.5, 60.0), "Exponential.factor: must be >= 1, got 0.5"),
            (lambda: Exponential(5.0, 2.0, 1.0), "Exponential.cap: must be >= initial (5), got 1.0"),
            (lambda: Exponential(-1.0, 2.0, 60.0), "Exponential.initial: must be > 0, got -1.0"),
            (lambda: Exponential(math.nan, 2.0, 60.0), "Exponential.initial: must be finite, got nan"),
            (lambda: Constant(math.inf), "Constant.seconds: must be finite, got inf"),
            (lambda: Constant("5"), "Constant.seconds: must be a number, got '5'"),
            (lambda: Constant(True), "Constant.seconds: must be a number, got True"),
            (lambda: CountBudget(-1), "CountBudget.max_restarts: must be >= 0, got -1"),
            (lambda: CountBudget(2.5), "CountBudget.max_restarts: must be an integer, got 2.5"),
            (lambda: SlidingWindow(3, 0.0), "SlidingWindow.period: must be > 0, got 0.0"),
            (lambda: FixedWindow(3, -5.0), "FixedWindow.interval: must be > 0, got -5.0"),
            (lambda: Geometric(1.0, 10.0, 0), "Geometric.steps: must be >= 1, got 0"),
            (lambda: Table(()), "Table.delays: must be a non-empty sequence of seconds, got []"),
            (lambda: Stability(after=-1.0), "Stability.after: must be >= 0, got -1.0"),
            (
                lambda: Exponential(1e-310, 2.0, 60.0),
                "Exponential.initial: the ratio of 60.0 to 1e-310 overflows; use a larger initial delay",
            ),
            (
                lambda: Geometric(5e-324, 1e300, 3),
                "Geometric.first: the ratio of 1e+300 to 5e-324 overflows; use a larger initial delay",
            ),
        ],
    )
    def test_error_names_field_and_value(self, build: object, message: str) -> None:
        with pytest.raises(PolicyError) as caught:
            build()  # type: ignore[operator]
        assert str(caught.value) == message

    def test_policy_error_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match=r"Exponential\.factor"):
            Exponential(1.0, 0.0, 2.0)


class TestJitter:
    """Jitter is reproducible from the seed and stays within its documented bounds."""

    def test_uniform_is_deterministic_and_in_range(self) -> None:
        draws = [uniform(42, n) for n in range(1000)]
        assert draws == [uniform(42, n) for n in range(1000)]
        assert all(0.0 <= u < 1.0 for u in draws)
        # A counter-based hash must still look uniform: the mean of 1000 draws is near 0.5.
        assert abs(sum(draws) / len(draws) - 0.5) < 0.05
        assert uniform(42, 0) != uniform(43, 0)

    @pytest.mark.parametrize(
        ("jitter", "low", "high"),
        [
            (NoJitter(), 10.0, 10.0),
            (FullJitter(), 0.0, 10.0),
            (EqualJitter(), 5.0, 10.0),
            (ProportionalJitter(0.25), 10.0, 12.5),
            (DecorrelatedJitter(), 10.0, 60.0),
        ],
    )
    def test_bounds(self, jitter: object, low: float, high: float) -> None:
        for counter in range(500):
            delay = jitter.apply(10.0, 60.0, 20.0, 7, counter)  # type: ignore[attr-defined]
            assert low <= delay <= high


class TestBudgets:
    """Budgets admit and refuse exactly at their documented boundaries."""

    def test_count(self) -> None:
        budget = CountBudget(2)
        used = budget.initial(0.0)
        used = budget.admit(used, 0.0, 1.0)
        used = budget.admit(used, 1.0, 2.0)
        assert used == 2
        assert budget.admit(used, 2.0, 3.0) is None

    def test_sliding_window_is_inclusive_like_otp(self) -> None:
        budget = SlidingWindow(1, 5.0)
        used = budget.admit(budget.initial(0.0), 0.0, 0.0)
        assert budget.admit(used, 5.0, 5.0) is None  # exactly 5 s old: still inside
        assert budget.admit(used, 5.0, math.nextafter(5.0, 6.0)) is not None
        assert budget.earliest(used, 5.0, 5.0) == math.nextafter(5.0, 6.0)

    def test_fixed_window_counts_the_first_start_like_systemd(self) -> None:
        budget = FixedWindow(2, 10.0)
        used = budget.initial(0.0)
        used = budget.admit(used, 1.0, 1.0)  # second start in the window opened at 0
        assert budget.admit(used, 2.0, 2.0) is None
        assert budget.admit(used, 10.0, 10.0) is None  # 10 s is not more than the interval
        reopened = budget.admit(used, 10.5, 10.5)
        assert reopened == (10.5, 1)
