"""Outcome's trusted constructor (make_outcome) against the validated one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaunch import strategies as rst
from relaunch.kernel import Outcome
from relaunch.kernel.outcome import make_outcome
from relaunch.runs import Run

_times = st.floats(allow_nan=False, allow_infinity=False)


@given(_times, _times, rst.run_specs())
def test_make_outcome_equals_the_validated_outcome(a: float, b: float, spec: Run) -> None:
    """For every valid input, make_outcome builds exactly the Outcome that Outcome(...) builds."""
    started, ended = min(a, b), max(a, b)
    validated = Outcome(started, ended, spec.exit_code, spec.signal, spec.cause)
    trusted = make_outcome(started, ended, spec.exit_code, spec.signal, spec.cause)
    assert trusted == validated
    assert hash(trusted) == hash(validated)
    assert repr(trusted) == repr(validated)
    for field in ("started_at", "ended_at", "exit_code", "signal", "cause"):
        assert type(getattr(trusted, field)) is type(getattr(validated, field))
