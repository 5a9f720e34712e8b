"""The pure kernel: policy parts, outcomes, states and the state machine (``policy.py``).

Nothing in this package reads a clock, sleeps, draws global randomness or does I/O; its only
dependency is attrs. Its modules import one another in one direction only, from the leaf
vocabulary (``vocabulary.py``, the shared enums) up to ``policy.py`` (one workload's restarts)
and ``group.py`` (what one member's restart means for its group); a test checks there is no
circle.
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
from .decision import Decision
from .errors import OutcomeError, PolicyError, RelaunchError, StateError
from .exits import DAEMON_CLEAN_SIGNALS, ExitRules
from .group import TAKES_WITH, Group, GroupDecision, GroupState
from .health import HealthCheck, HealthState, ProbeResult, Verdict
from .jitter import (
    DecorrelatedJitter,
    EqualJitter,
    FullJitter,
    Jitter,
    NoJitter,
    ProportionalJitter,
    RandomDelay,
)
from .outcome import Outcome
from .policy import Policy
from .stability import Stability
from .state import State
from .tables import CAUSES, RESTARTS, CauseRule
from .vocabulary import (
    Action,
    Cause,
    Exhausted,
    ExitClass,
    Lost,
    Mode,
    Reset,
    Rule,
    StartFailed,
    Strategy,
)

__all__ = [
    "CAUSES",
    "DAEMON_CLEAN_SIGNALS",
    "RESTARTS",
    "TAKES_WITH",
    "Action",
    "Backoff",
    "Budget",
    "BudgetState",
    "Cause",
    "CauseRule",
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
    "Group",
    "GroupDecision",
    "GroupState",
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
    "RandomDelay",
    "RelaunchError",
    "Reset",
    "Rule",
    "SlidingWindow",
    "Stability",
    "StartFailed",
    "State",
    "StateError",
    "Strategy",
    "Table",
    "TumblingWindow",
    "Unlimited",
    "UnstableRuns",
    "Verdict",
]
