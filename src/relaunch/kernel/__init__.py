"""The pure kernel: policy parts, outcomes, states and the state machine (``policy.py``).

Nothing in this package reads a clock, sleeps, draws global randomness or does I/O; its only
dependency is attrs.
"""

from .backoff import (
    Backoff,
    Compounded,
    Constant,
    Exponential,
    Fibonacci,
    Geometric,
    ImmediateFirst,
    Linear,
    Table,
)
from .budget import (
    Budget,
    BudgetState,
    CountBudget,
    FixedWindow,
    SlidingWindow,
    TumblingWindow,
    Unlimited,
    UnstableRuns,
)
from .decision import Action, Decision, Rule
from .errors import OutcomeError, PolicyError, RelaunchError, StateError
from .exits import DAEMON_CLEAN_SIGNALS, ExitClass, ExitRules, Mode
from .health import HealthCheck, HealthState, ProbeResult, Verdict
from .jitter import (
    DecorrelatedJitter,
    EqualJitter,
    FullJitter,
    Jitter,
    NoJitter,
    ProportionalJitter,
)
from .outcome import Cause, Outcome
from .policy import RESTARTS, Exhausted, Lost, Policy, Reset, Stability, StartFailed
from .state import State

__all__ = [
    "DAEMON_CLEAN_SIGNALS",
    "RESTARTS",
    "Action",
    "Backoff",
    "Budget",
    "BudgetState",
    "Cause",
    "Compounded",
    "Constant",
    "CountBudget",
    "Decision",
    "DecorrelatedJitter",
    "EqualJitter",
    "Exhausted",
    "ExitClass",
    "ExitRules",
    "Exponential",
    "Fibonacci",
    "FixedWindow",
    "FullJitter",
    "Geometric",
    "HealthCheck",
    "HealthState",
    "ImmediateFirst",
    "Jitter",
    "Linear",
    "Lost",
    "Mode",
    "NoJitter",
    "Outcome",
    "OutcomeError",
    "Policy",
    "PolicyError",
    "ProbeResult",
    "ProportionalJitter",
    "RelaunchError",
    "Reset",
    "Rule",
    "SlidingWindow",
    "Stability",
    "StartFailed",
    "State",
    "StateError",
    "Table",
    "TumblingWindow",
    "Unlimited",
    "UnstableRuns",
    "Verdict",
]
