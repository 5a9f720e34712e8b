"""The restart state machine: ``Policy.decide`` owns every transition, and lives here alone.

Two rules keep it honest, in the manner of h11's ``_state.py``:

* Everything that affects a decision is in this module; the parts it composes (backoffs, jitter,
  budgets, exit rules) are stateless values that compute, and never decide.
* It knows nothing of the world: it never reads a clock, never sleeps, never draws from global
  randomness, never does I/O, and never learns what runtime it serves. Time comes in as data
  (``Outcome``), and randomness as a seed in the ``State``.

A decision, in order: reject malformed input (nothing changes); a given-up state stays given up;
an operator stop is never restarted; otherwise the outcome's cause and exit class, through
``RESTARTS`` (the mode x exit-class table) and the exit rules (with ``restart_unstable``, a run
that was not stable is forced), say whether to restart; a lost run backs off or, under
``Lost.FRESH``, restarts at once with a fresh state; a stable run
ends the unstable streak and resets what the policy says; the backoff and jitter give the delay;
the budget admits the restart at its start time, or the policy gives up (or waits).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

import attrs

from ._check import finite, normalize
from .backoff import Backoff, Exponential
from .budget import Budget, Unlimited
from .decision import Action, Decision, Rule
from .errors import OutcomeError, PolicyError, StateError
from .exits import ExitClass, ExitRules, Mode
from .jitter import Jitter, NoJitter
from .outcome import Cause, Outcome
from .state import State, make_state

__all__ = ["RESTARTS", "Exhausted", "Lost", "Policy", "Reset", "Stability", "StartFailed"]

# Module constants for the hot path: a global load is cheaper than an enum class attribute.
_new = tuple.__new__
_EXITED, _OOM, _LOST, _START_FAILED = Cause.EXITED, Cause.OOM, Cause.LOST, Cause.START_FAILED
_RETRY, _GIVE_UP = Action.RETRY, Action.GIVE_UP
_BACKOFF, _LOST_RULE, _GIVEN_UP = Rule.BACKOFF, Rule.LOST, Rule.GIVEN_UP
_NEVER = Mode.NEVER
#: Backoff delays precomputed per policy; later steps ask the backoff (which is capped by then
#: for every growing shape, so the table only saves the call).
_PRECOMPUTED_STEPS = 64

#: Which exit classes each mode restarts (systemd ``service_shall_restart``: on-abnormal restarts
#: everything but a clean exit and an unclean exit code; on-abort only unclean signals).
RESTARTS: dict[Mode, frozenset[ExitClass]] = {
    Mode.ALWAYS: frozenset(ExitClass),
    Mode.ON_FAILURE: frozenset({ExitClass.EXIT_CODE, ExitClass.SIGNAL, ExitClass.OOM}),
    Mode.ON_SUCCESS: frozenset({ExitClass.CLEAN}),
    Mode.ON_ABNORMAL: frozenset({ExitClass.SIGNAL, ExitClass.OOM}),
    Mode.ON_ABORT: frozenset({ExitClass.SIGNAL}),
    Mode.NEVER: frozenset(),
}


class Reset(enum.Flag):
    """What a stable run resets."""

    #: The backoff curve: the next restart after a crash waits the first delay again.
    DELAY = enum.auto()
    #: The budget: the workload gets a fresh one.
    BUDGET = enum.auto()
    BOTH = DELAY | BUDGET


class Exhausted(enum.Enum):
    """What to do when the budget refuses a restart."""

    #: Give up for good (terminal until ``Policy.start``).
    GIVE_UP = "give-up"
    #: Wait until a window budget allows the next restart (Nomad's ``mode = "delay"``).
    WAIT = "wait"


class StartFailed(enum.Enum):
    """What to do when the workload could not be started at all."""

    #: Give up at once (ToolHive returns a start error without retrying).
    GIVE_UP = "give-up"
    #: Treat it as a crash: back off and spend the budget.
    RETRY = "retry"


_GIVE_UP_ON_START = StartFailed.GIVE_UP


class Lost(enum.Enum):
    """How a ``LOST`` run is restarted (in every mode but ``NEVER``)."""

    #: Back off as after a crash; the budget is spent only with ``Policy.count_lost``.
    BACKOFF = "backoff"
    #: Restart at once with a fresh state, as ``Policy.start`` at the run's end would give: the
    #: backoff curve and the budget start over. This is what supervisors whose counters live in
    #: their own memory do when they (or their host) come back: Docker's restore at daemon start,
    #: the kubelet after its own restart, supervisord, PM2's ``resurrect``, systemd after a reboot.
    FRESH = "fresh"
    #: Restart as after a stable run: reset what the policy's stability resets and wait what it
    #: waits. The kubelet after its own restart: its backoff is gone, so the restart is the
    #: first (immediate) step of a fresh curve, and the next crash waits the initial delay.
    STABLE = "stable"


_FRESH, _LOST_BACKOFF = Lost.FRESH, Lost.BACKOFF


@attrs.frozen(slots=True, cache_hash=True)
class Stability:
    """When a run counts as stable, and what a stable run resets.

    A run lasting at least ``after`` seconds (more than ``after`` when ``strict``) is stable; a
    start failure never is. After a stable run the restart waits ``restart_delay`` seconds, or,
    when it is None, follows the backoff from its first step.
    """

    after: float
    strict: bool = False
    resets: Reset = Reset.BOTH
    restart_delay: float | None = 0.0

    def __attrs_post_init__(self) -> None:
        normalize(self, "after", finite("Stability.after", self.after))
        if self.restart_delay is not None:
            normalize(self, "restart_delay", finite("Stability.restart_delay", self.restart_delay))
        if not isinstance(self.resets, Reset) or not self.resets:
            raise PolicyError(f"Stability.resets: must be DELAY, BUDGET or BOTH, got {self.resets!r}")
        if not isinstance(self.strict, bool):
            raise PolicyError(f"Stability.strict: must be a bool, got {self.strict!r}")

    def describe(self) -> str:
        relation = ">" if self.strict else ">="
        resets = {
            Reset.DELAY: "the delay",
            Reset.BUDGET: "the budget",
            Reset.BOTH: "delay and budget",
        }
        then = "the first backoff delay" if self.restart_delay is None else f"{self.restart_delay:g}s"
        return (
            f"a run {relation} {self.after:g}s is stable: resets {resets[self.resets]}, restarts after {then}"
        )


def _default_backoff() -> Backoff:
    return Exponential(initial=1.0, factor=2.0, cap=60.0)


def _is(kind: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kind):
            raise PolicyError(f"Policy.{attribute.name}: must be a {kind.__name__}, got {value!r}")

    return check


def _optional_stability(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Stability):
        raise PolicyError(f"Policy.stability: must be a Stability or None, got {value!r}")


@attrs.frozen(slots=True, cache_hash=True)
class Policy:
    """A complete restart policy: frozen, hashable, validated once at construction.

    Build one from parts, or take a preset from :mod:`relaunch.presets`.
    """

    mode: Mode = attrs.field(default=Mode.ALWAYS, validator=_is(Mode))
    backoff: Backoff = attrs.field(factory=_default_backoff, validator=_is(Backoff))
    budget: Budget = attrs.field(factory=Unlimited, validator=_is(Budget))
    exits: ExitRules = attrs.field(factory=ExitRules, validator=_is(ExitRules))
    jitter: Jitter = attrs.field(factory=NoJitter, validator=_is(Jitter))
    stability: Stability | None = attrs.field(default=None, validator=_optional_stability)
    on_exhausted: Exhausted = attrs.field(default=Exhausted.GIVE_UP, validator=_is(Exhausted))
    #: Whether a LOST outcome spends the budget (only to mimic systems that cannot tell).
    count_lost: bool = False
    start_failed: StartFailed = attrs.field(default=StartFailed.RETRY, validator=_is(StartFailed))
    lost: Lost = attrs.field(default=Lost.BACKOFF, validator=_is(Lost))
    #: Whether a run that is not stable is restarted whatever its exit and the mode (only an exit
    #: that prevents a restart still stops it): supervisord treats an exit before ``startsecs`` as
    #: a failed start and retries it even with an expected code or ``autorestart=false``.
    restart_unstable: bool = False
    name: str = "custom"

    # Derived once here so that decide() does no enum hashing and no attribute chains.
    _restarts_clean: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarts_exit_code: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarts_signal: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarts_oom: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _screened: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _delays: tuple[float, ...] = attrs.field(init=False, eq=False, hash=False, repr=False)
    _jitter: Jitter | None = attrs.field(init=False, eq=False, hash=False, repr=False)
    _cap: float = attrs.field(init=False, eq=False, hash=False, repr=False)
    _stable_after: float = attrs.field(init=False, eq=False, hash=False, repr=False)
    _stable_strict: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _resets_delay: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _resets_budget: bool = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.on_exhausted is Exhausted.WAIT and not self.budget.can_wait:
            raise PolicyError(
                f"Policy.on_exhausted: WAIT needs a window budget, got {self.budget.describe()!r}"
            )
        if not isinstance(self.count_lost, bool):
            raise PolicyError(f"Policy.count_lost: must be a bool, got {self.count_lost!r}")
        if self.count_lost and self.lost is Lost.FRESH:
            raise PolicyError("Policy.count_lost: True has no effect with lost=Lost.FRESH (a fresh budget)")
        if not isinstance(self.restart_unstable, bool):
            raise PolicyError(f"Policy.restart_unstable: must be a bool, got {self.restart_unstable!r}")
        if self.budget.tracks_runs and not (self.count_lost or self.lost is Lost.FRESH):
            raise PolicyError(
                f"Policy.lost: {self.budget.describe()!r} must see every restart: "
                "use count_lost=True or lost=Lost.FRESH"
            )
        if self.lost is Lost.STABLE and self.stability is None:
            raise PolicyError("Policy.lost: Lost.STABLE needs a stability threshold, got stability=None")
        if self.restart_unstable and self.stability is None:
            raise PolicyError("Policy.restart_unstable: True needs a stability threshold, got stability=None")
        if not isinstance(self.name, str):
            raise PolicyError(f"Policy.name: must be a string, got {self.name!r}")
        restarted = RESTARTS[self.mode]
        exits = self.exits
        derived = {
            "_restarts_clean": ExitClass.CLEAN in restarted,
            "_restarts_exit_code": ExitClass.EXIT_CODE in restarted,
            "_restarts_signal": ExitClass.SIGNAL in restarted,
            "_restarts_oom": ExitClass.OOM in restarted,
            # restart_unstable is a force rule too, so it rides on the same flag: policies without
            # any of these pay nothing for them on the hot path.
            "_screened": bool(
                exits.prevent_codes
                or exits.prevent_signals
                or exits.force_codes
                or exits.force_signals
                or self.restart_unstable
            ),
            "_delays": (0.0, *(self.backoff.delay(step) for step in range(1, _PRECOMPUTED_STEPS))),
            "_jitter": None if isinstance(self.jitter, NoJitter) else self.jitter,
            "_cap": self.backoff.cap,
            "_stable_after": math.inf if self.stability is None else self.stability.after,
            "_stable_strict": self.stability is not None and self.stability.strict,
            # enum.Flag's & runs in Python (enum.py __and__ builds a new member): two of them
            # doubled the cost of a stable-run decision (benchmarks, issue 6).
            "_resets_delay": self.stability is not None and bool(self.stability.resets & Reset.DELAY),
            "_resets_budget": self.stability is not None and bool(self.stability.resets & Reset.BUDGET),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def max_delay(self) -> float:
        """The longest delay a RETRY or RESET can carry, outside ``Exhausted.WAIT``."""
        stable = 0.0
        if self.stability is not None and self.stability.restart_delay is not None:
            stable = self.stability.restart_delay
        return max(self.jitter.upper(self.backoff.cap), stable)

    def start(self, at: float, seed: int = 0) -> State:
        """The state of a workload first started at ``at`` (an operator's manual start, too)."""
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise StateError(f"start.at: must be a finite number, got {at!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 1 << 64:
            raise StateError(f"start.seed: must be an integer in 0..2**64-1, got {seed!r}")
        return make_state(seed, 0, 0, 0, self.budget.initial(float(at)), 0.0, float(at), None)

    def decide(self, state: State, outcome: Outcome) -> Decision:
        """What to do after ``outcome``, given ``state``. Pure: same inputs, same decision."""
        # This is the hot path (one call per workload exit): enum members are module constants
        # and the policy's derived facts are precomputed, because enum hashing and attribute
        # chains cost more here than the decision itself.
        if type(outcome) is not Outcome:
            raise OutcomeError(f"outcome: must be an Outcome, got {type(outcome).__name__}")
        if type(state) is not State:
            raise StateError(f"state: must be a State, got {type(state).__name__}")
        seed, attempt, step, restarts, used, previous, last_at, given_up = state
        ended = outcome.ended_at
        if ended < last_at:
            raise OutcomeError(
                f"Outcome.ended_at: {ended!r} is before the state's last recorded time {last_at!r}"
            )
        if given_up is not None:
            return _new(Decision, (_GIVE_UP, 0.0, 0, state, _GIVEN_UP, outcome, self))

        cause = outcome.cause
        counted = True
        rule = _BACKOFF
        if cause is _EXITED or cause is _OOM:
            code = outcome.exit_code
            signal = outcome.signal
            exits = self.exits
            if self._screened and (code in exits.prevent_codes or signal in exits.prevent_signals):
                return self._stop(state, outcome, Rule.PREVENTED)
            if self._screened and (
                code in exits.force_codes
                or signal in exits.force_signals
                or (self.restart_unstable and not self._is_stable(outcome))
            ):
                rule = Rule.FORCED
            elif cause is _OOM:
                if not self._restarts_oom:
                    return self._stop(state, outcome, Rule.MODE)
            elif signal is None:
                if code in exits.success_codes:
                    if not self._restarts_clean:
                        return self._stop(state, outcome, Rule.SUCCESS)
                elif not self._restarts_exit_code:
                    return self._stop(state, outcome, Rule.MODE)
            elif signal in exits.success_signals:
                if not self._restarts_clean:
                    return self._stop(state, outcome, Rule.SUCCESS)
            elif not self._restarts_signal:
                return self._stop(state, outcome, Rule.MODE)
        elif cause is _LOST:
            if self.mode is _NEVER:
                return self._stop(state, outcome, Rule.MODE)
            counted = self.count_lost
            if self.lost is not _LOST_BACKOFF:
                if self.lost is _FRESH:
                    return self._fresh(state, outcome)
                return self._after_stable_run(state, outcome, counted, _LOST_RULE)
            rule = _LOST_RULE
        elif cause is _START_FAILED:
            if self.start_failed is _GIVE_UP_ON_START:
                return self._give_up(state, outcome, Rule.START_FAILED)
        else:  # Cause.STOPPED: an operator's stop is never undone.
            return self._stop(state, outcome, Rule.OPERATOR_STOP)

        duration = ended - outcome.started_at
        after = self._stable_after
        if (duration > after or (duration == after and not self._stable_strict)) and (
            cause is not _START_FAILED
        ):
            return self._after_stable_run(state, outcome, counted)

        # A restart within an unstable streak.
        step += 1
        delays = self._delays
        delay = delays[step] if step < len(delays) else self.backoff.delay(step)
        jitter = self._jitter
        if jitter is not None:
            delay = jitter.apply(delay, self._cap, previous, seed, restarts)
        if counted:
            try:
                admitted = self.budget.admit(used, ended, ended + delay)
            except (TypeError, ValueError, IndexError) as error:
                raise _foreign_budget(self.budget, error) from None
            if admitted is None:
                return self._exhausted(state, outcome, delay, _RETRY, attempt + 1, step)
            used = admitted
        attempt += 1
        next_state = _new(State, (seed, attempt, step, restarts + 1, used, delay, ended, None))
        return _new(Decision, (_RETRY, delay, attempt, next_state, rule, outcome, self))

    def _after_stable_run(
        self, state: State, outcome: Outcome, counted: bool, rule: Rule = Rule.STABLE_RESET
    ) -> Decision:
        stability = self.stability
        assert stability is not None  # only called when a run was stable
        seed, _attempt, step, restarts, used, previous, _last_at, _given_up = state
        ended = outcome.ended_at
        if self._resets_delay:
            step = 0
        if stability.restart_delay is None:
            step += 1
            delay = self.jitter.apply(self.backoff.delay(step), self._cap, previous, seed, restarts)
        else:
            delay = stability.restart_delay
        if self._resets_budget:
            # A fresh budget, and this restart opens the new epoch rather than spending it.
            used = self.budget.reset(used, ended)
        elif counted:
            try:
                admitted = self.budget.admit(used, ended, ended + delay)
            except (TypeError, ValueError, IndexError) as error:
                raise _foreign_budget(self.budget, error) from None
            if admitted is None:
                return self._exhausted(state, outcome, delay, Action.RESET, 0, step)
            used = admitted
        next_state = make_state(seed, 0, step, restarts + 1, used, delay, ended, None)
        return _decision(Action.RESET, delay, 0, next_state, rule, outcome, self)

    def _exhausted(
        self, state: State, outcome: Outcome, delay: float, action: Action, attempt: int, step: int
    ) -> Decision:
        """The budget refused a restart after ``delay``: give up, or wait for the window.

        When waiting, the restart is still the ``action`` it was going to be (a retry, or the reset
        after a stable run), with the streak ``attempt`` and backoff ``step`` it would have had.
        """
        if self.on_exhausted is Exhausted.GIVE_UP:
            return self._give_up(state, outcome, Rule.BUDGET_EXHAUSTED)
        seed, _attempt, _step, restarts, used, _previous, _last_at, _given_up = state
        ended = outcome.ended_at
        restart_at = self.budget.earliest(used, ended, ended + delay)
        if not math.isfinite(restart_at):
            return self._give_up(state, outcome, Rule.BUDGET_EXHAUSTED)
        # The caller restarts at ended + delay: admit exactly that float, nudging past rounding.
        delay = restart_at - ended
        admitted = self.budget.admit_waited(used, ended, ended + delay)
        while admitted is None:
            delay = math.nextafter(delay, math.inf)
            admitted = self.budget.admit_waited(used, ended, ended + delay)
        next_state = make_state(seed, attempt, step, restarts + 1, admitted, delay, ended, None)
        return _decision(action, delay, attempt, next_state, Rule.BUDGET_WAIT, outcome, self)

    def _is_stable(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` was a stable run (the same test as ``decide``'s, off its hot path)."""
        duration = outcome.ended_at - outcome.started_at
        after = self._stable_after
        return outcome.cause is not _START_FAILED and (
            duration > after or (duration == after and not self._stable_strict)
        )

    def _fresh(self, state: State, outcome: Outcome) -> Decision:
        """A LOST run under ``Lost.FRESH``: restart now, as if an operator had started it again."""
        seed, _attempt, _step, restarts, _used, _previous, _last_at, _given_up = state
        ended = outcome.ended_at
        next_state = make_state(seed, 0, 0, restarts + 1, self.budget.initial(ended), 0.0, ended, None)
        return _decision(Action.RESET, 0.0, 0, next_state, _LOST_RULE, outcome, self)

    def _stop(self, state: State, outcome: Outcome, rule: Rule) -> Decision:
        seed, attempt, step, restarts, used, previous, _last_at, _given_up = state
        next_state = make_state(seed, attempt, step, restarts, used, previous, outcome.ended_at, None)
        return _decision(Action.STOP, 0.0, 0, next_state, rule, outcome, self)

    def _give_up(self, state: State, outcome: Outcome, rule: Rule) -> Decision:
        seed, attempt, step, restarts, used, previous, _last_at, _given_up = state
        next_state = make_state(seed, attempt, step, restarts, used, previous, outcome.ended_at, rule)
        return _decision(Action.GIVE_UP, 0.0, 0, next_state, rule, outcome, self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that :meth:`from_dict` turns back into an equal policy."""
        from .serialize import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """Rebuild a policy from :meth:`to_dict` output; raise :class:`PolicyError` naming the bad key."""
        from .serialize import from_dict

        return from_dict(cls, data, "policy")

    def explain(self, decision: Decision) -> str:
        """The one-line reason for ``decision`` (``Decision.reason`` calls this lazily)."""
        from ._explain import explain

        return explain(self, decision)

    def describe(self) -> str:
        """A few lines saying what this policy does."""
        from ._explain import describe

        return describe(self)


def _decision(
    action: Action,
    delay: float,
    attempt: int,
    state: State,
    rule: Rule,
    outcome: Outcome,
    policy: Policy,
) -> Decision:
    return _new(Decision, (action, delay, attempt, state, rule, outcome, policy))


def _foreign_budget(budget: Budget, error: Exception) -> StateError:
    return StateError(f"state.budget: does not fit this policy's budget ({budget.describe()}): {error}")
