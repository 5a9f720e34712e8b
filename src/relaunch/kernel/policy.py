"""The restart state machine: ``Policy.decide`` owns every transition, and lives here alone.

Two rules keep it honest, in the manner of h11's ``_state.py``:

* Everything that affects a decision is in this module and the tables it reads (``tables.py``:
  what each mode restarts, how each cause is treated); the parts it composes (backoffs, jitter,
  budgets, exit rules, stability) are stateless values that compute, and never decide.
* It knows nothing of the world: it never reads a clock, never sleeps, never draws from global
  randomness, never does I/O, and never learns what runtime it serves. Time comes in as data
  (``Outcome``), and randomness as a seed in the ``State``.

A decision, in order: reject malformed input (nothing changes); a given-up state stays given up;
an operator stop is never restarted; otherwise the outcome's cause and exit class, through
``RESTARTS`` (the mode x exit-class table), ``CAUSES`` (the per-cause table) and the exit rules
(with ``restart_unstable``, a run that was not stable is forced), say whether to restart; a lost
run backs off or, under ``Lost.FRESH``/``Lost.RESTORE``, restarts at once with a fresh state; a
stable run ends the unstable streak and resets what the policy says; the backoff and jitter give
the delay; the budget admits the restart at its start time, or the policy gives up (or waits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from . import _explain, serialize
from .backoff import Backoff, Exponential
from .budget import Budget, Unlimited
from .decision import Decision, make_decision
from .errors import OutcomeError, PolicyError, StateError
from .exits import ExitRules
from .jitter import Jitter, NoJitter
from .outcome import Outcome
from .stability import Stability
from .state import State, make_state, replace
from .tables import CAUSES, RESTARTS
from .vocabulary import Action, Cause, Exhausted, ExitClass, Lost, Mode, Reset, Rule, StartFailed

__all__ = ["RESTARTS", "Exhausted", "Lost", "Policy", "Reset", "Stability", "StartFailed"]

# -- The hot path's constants, in one block. ------------------------------------------------------
# decide() runs once per workload exit; a module global is cheaper to load than an enum class
# attribute, and building the result tuples inline (tuple.__new__ on State and Decision, the same
# layout as state.make_state and decision.make_decision) saves a call per decision.
_new = tuple.__new__
_EXITED, _LOST, _START_FAILED, _STOPPED = Cause.EXITED, Cause.LOST, Cause.START_FAILED, Cause.STOPPED
_RETRY, _GIVE_UP = Action.RETRY, Action.GIVE_UP
_BACKOFF, _LOST_RULE, _FORCED, _PREVENTED = Rule.BACKOFF, Rule.LOST, Rule.FORCED, Rule.PREVENTED
_GIVEN_UP = Rule.GIVEN_UP
_NEVER = Mode.NEVER
_LOST_BACKOFF, _LOST_FRESH, _LOST_RESTORE = Lost.BACKOFF, Lost.FRESH, Lost.RESTORE
_RETRY_ON_START = StartFailed.RETRY
#: Backoff delays precomputed per policy; later steps ask the backoff (which is capped by then
#: for every growing shape, so the table only saves the call).
_PRECOMPUTED_STEPS = 64
# --------------------------------------------------------------------------------------------------


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

    #: Which endings are restarted (the rows of ``RESTARTS``).
    mode: Mode = attrs.field(default=Mode.ALWAYS, validator=_is(Mode))
    #: The delay before each restart of an unstable streak.
    backoff: Backoff = attrs.field(factory=_default_backoff, validator=_is(Backoff))
    #: How many restarts are allowed, and over what.
    budget: Budget = attrs.field(factory=Unlimited, validator=_is(Budget))
    #: Clean exits, and the exits that prevent or force a restart.
    exits: ExitRules = attrs.field(factory=ExitRules, validator=_is(ExitRules))
    #: How each backoff delay is spread.
    jitter: Jitter = attrs.field(factory=NoJitter, validator=_is(Jitter))
    #: When a run counts as stable and what that resets; None: runs never count as stable.
    stability: Stability | None = attrs.field(default=None, validator=_optional_stability)
    #: What to do when the budget refuses a restart.
    on_exhausted: Exhausted = attrs.field(default=Exhausted.GIVE_UP, validator=_is(Exhausted))
    #: Whether a LOST outcome spends the budget (only to mimic systems that cannot tell).
    count_lost: bool = False
    #: What to do when the workload could not be started.
    start_failed: StartFailed = attrs.field(default=StartFailed.RETRY, validator=_is(StartFailed))
    #: How a LOST run is restarted.
    lost: Lost = attrs.field(default=Lost.BACKOFF, validator=_is(Lost))
    #: Whether a run that is not stable is restarted whatever its exit and the mode (only an exit
    #: that prevents a restart still stops it): supervisord treats an exit before ``startsecs`` as
    #: a failed start and retries it even with an expected code or ``autorestart=false``.
    restart_unstable: bool = False
    #: Whether a workload an operator stopped is started again when its supervisor itself starts
    #: (Docker's ``always``, unlike ``unless-stopped``). The decision on the stop is ``STOP``
    #: either way; an adapter reads this when it restores its workloads.
    resume_stopped: bool = False
    #: A label for reasons, logs and tables.
    name: str = "custom"

    # Derived once here so that decide() does no enum hashing and no attribute chains.
    _restarts_clean: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarts_exit_code: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarts_signal: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _restarted: frozenset[ExitClass] = attrs.field(init=False, eq=False, hash=False, repr=False)
    _screened: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _delays: tuple[float, ...] = attrs.field(init=False, eq=False, hash=False, repr=False)
    _jitter: Jitter | None = attrs.field(init=False, eq=False, hash=False, repr=False)
    _cap: float = attrs.field(init=False, eq=False, hash=False, repr=False)
    _stable_from: float = attrs.field(init=False, eq=False, hash=False, repr=False)
    _resets_delay: bool = attrs.field(init=False, eq=False, hash=False, repr=False)
    _resets_budget: bool = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.on_exhausted is Exhausted.WAIT and not self.budget.can_wait:
            raise PolicyError(
                f"Policy.on_exhausted: WAIT needs a window budget, got {self.budget.describe()!r}"
            )
        for flag in ("count_lost", "restart_unstable", "resume_stopped"):
            if not isinstance(getattr(self, flag), bool):
                raise PolicyError(f"Policy.{flag}: must be a bool, got {getattr(self, flag)!r}")
        fresh = self.lost is Lost.FRESH or self.lost is Lost.RESTORE
        if self.count_lost and fresh:
            raise PolicyError(
                f"Policy.count_lost: True has no effect with lost=Lost.{self.lost.name} (a fresh budget)"
            )
        if self.budget.tracks_runs and not (self.count_lost or fresh):
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
        stability = self.stability
        derived = {
            "_restarts_clean": ExitClass.CLEAN in restarted,
            "_restarts_exit_code": ExitClass.EXIT_CODE in restarted,
            "_restarts_signal": ExitClass.SIGNAL in restarted,
            "_restarted": restarted,
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
            # Stability.holds(d) is d >= threshold; decide() inlines that one comparison.
            "_stable_from": math.inf if stability is None else stability.threshold,
            # enum.Flag's & runs in Python (enum.py __and__ builds a new member): two of them
            # doubled the cost of a stable-run decision (benchmarks, issue 6).
            "_resets_delay": stability is not None and bool(stability.resets & Reset.DELAY),
            "_resets_budget": stability is not None and bool(stability.resets & Reset.BUDGET),
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

    def is_stable(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` was a stable run: long enough, and of a cause that can be stable."""
        return (
            self.stability is not None
            and CAUSES[outcome.cause].may_be_stable
            and self.stability.holds(outcome.duration)
        )

    def remaining(self, state: State, at: float) -> float:
        """How many more restarts the budget admits at ``at`` (``Budget.remaining``); 0 once given up.

        A reading for status and metrics ("budget left"): it decides nothing.
        """
        if type(state) is not State:
            raise StateError(f"state: must be a State, got {type(state).__name__}")
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise StateError(f"remaining.at: must be a finite number, got {at!r}")
        if state.given_up:
            return 0
        try:
            return self.budget.remaining(state.budget, float(at))
        except (TypeError, ValueError, IndexError) as error:
            raise _foreign_budget(self.budget, error) from None

    def decide(self, state: State, outcome: Outcome) -> Decision:
        """What to do after ``outcome``, given ``state``. Pure: same inputs, same decision."""
        # This is the hot path (one call per workload exit): see the constants block at the top.
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
            return make_decision(_GIVE_UP, 0.0, 0, state, _GIVEN_UP, outcome, self)

        cause = outcome.cause
        counted = True
        rule = _BACKOFF
        may_be_stable = True
        if cause is _EXITED:
            code = outcome.exit_code
            signal = outcome.signal
            exits = self.exits
            if self._screened and (rule := self._screen(outcome, True)) is _PREVENTED:
                return self._stop(state, outcome, rule)
            if rule is _FORCED:
                pass
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
            lost = self.lost
            if lost is not _LOST_BACKOFF:
                if lost is _LOST_FRESH:
                    return self._fresh(state, outcome)
                if lost is _LOST_RESTORE:
                    return self._restore(state, outcome)
                return self._after_stable_run(state, outcome, counted, _LOST_RULE)
            rule = _LOST_RULE
        elif cause is _START_FAILED:
            if self.start_failed is not _RETRY_ON_START:
                return self._give_up(state, outcome, Rule.START_FAILED)
            may_be_stable = False
        elif cause is _STOPPED:  # an operator's stop is never undone
            return self._stop(state, outcome, Rule.OPERATOR_STOP)
        else:  # a cause that ends a run as an exit does: its row in CAUSES says how
            row = CAUSES[cause]
            may_be_stable = row.may_be_stable
            if self._screened and (rule := self._screen(outcome, may_be_stable)) is _PREVENTED:
                return self._stop(state, outcome, rule)
            if rule is not _FORCED:
                if row.exit_class not in self._restarted:
                    return self._stop(state, outcome, Rule.MODE)
                rule = row.rule

        if may_be_stable and ended - outcome.started_at >= self._stable_from:
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

    def _screen(self, outcome: Outcome, may_be_stable: bool) -> Rule:
        """The exit rules' verdict on a run: ``PREVENTED``, ``FORCED``, or ``BACKOFF`` (no say).

        Prevent wins over force (systemd ``service_shall_restart``); ``restart_unstable`` forces a
        run that was not stable (``is_stable``, with the cause's ``may_be_stable`` passed in).
        """
        exits = self.exits
        code, signal = outcome.exit_code, outcome.signal
        if code in exits.prevent_codes or signal in exits.prevent_signals:
            return _PREVENTED
        if (
            code in exits.force_codes
            or signal in exits.force_signals
            or (
                self.restart_unstable
                and not (may_be_stable and outcome.ended_at - outcome.started_at >= self._stable_from)
            )
        ):
            return _FORCED
        return _BACKOFF

    def _after_stable_run(
        self, state: State, outcome: Outcome, counted: bool, rule: Rule = Rule.STABLE_RESET
    ) -> Decision:
        stability = self.stability
        assert stability is not None  # only called when a run was stable
        # A path the benchmarks time (every stable run): unpacked once, as decide() does.
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
        return make_decision(Action.RESET, delay, 0, next_state, rule, outcome, self)

    def _exhausted(
        self, state: State, outcome: Outcome, delay: float, action: Action, attempt: int, step: int
    ) -> Decision:
        """The budget refused a restart after ``delay``: give up, or wait for the window.

        When waiting, the restart is still the ``action`` it was going to be (a retry, or the reset
        after a stable run), with the streak ``attempt`` and backoff ``step`` it would have had.
        """
        if self.on_exhausted is Exhausted.GIVE_UP:
            return self._give_up(state, outcome, Rule.BUDGET_EXHAUSTED)
        used, ended = state.budget, outcome.ended_at
        restart_at = self.budget.earliest(used, ended, ended + delay)
        if not math.isfinite(restart_at):
            return self._give_up(state, outcome, Rule.BUDGET_EXHAUSTED)
        # The caller restarts at ended + delay: admit exactly that float, nudging past rounding.
        delay = restart_at - ended
        admitted = self.budget.admit_waited(used, ended, ended + delay)
        while admitted is None:
            delay = math.nextafter(delay, math.inf)
            admitted = self.budget.admit_waited(used, ended, ended + delay)
        next_state = replace(
            state,
            attempt=attempt,
            step=step,
            restarts=state.restarts + 1,
            budget=admitted,
            previous_delay=delay,
            last_at=ended,
        )
        return make_decision(action, delay, attempt, next_state, Rule.BUDGET_WAIT, outcome, self)

    def _fresh(self, state: State, outcome: Outcome) -> Decision:
        """A LOST run under ``Lost.FRESH``: restart now, as if an operator had started it again."""
        ended = outcome.ended_at
        seed, restarts = state[0], state[3]  # a timed path (every flap under Lost.FRESH): no properties
        next_state = make_state(seed, 0, 0, restarts + 1, self.budget.initial(ended), 0.0, ended, None)
        return make_decision(Action.RESET, 0.0, 0, next_state, _LOST_RULE, outcome, self)

    def _restore(self, state: State, outcome: Outcome) -> Decision:
        """A LOST run under ``Lost.RESTORE``: as ``Lost.FRESH`` if the budget admits a restart now."""
        ended = outcome.ended_at
        try:
            admitted = self.budget.admit(state.budget, ended, ended)
        except (TypeError, ValueError, IndexError) as error:
            raise _foreign_budget(self.budget, error) from None
        if admitted is None:
            return self._give_up(state, outcome, Rule.BUDGET_EXHAUSTED)
        return self._fresh(state, outcome)

    # _stop and _give_up are timed (a give-up ends every episode of a crash-loop benchmark): they
    # keep the state's first six fields by slicing rather than through state.replace().

    def _stop(self, state: State, outcome: Outcome, rule: Rule) -> Decision:
        next_state = _new(State, (*state[:6], outcome.ended_at, None))
        return make_decision(Action.STOP, 0.0, 0, next_state, rule, outcome, self)

    def _give_up(self, state: State, outcome: Outcome, rule: Rule) -> Decision:
        next_state = _new(State, (*state[:6], outcome.ended_at, rule))
        return make_decision(Action.GIVE_UP, 0.0, 0, next_state, rule, outcome, self)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that :meth:`from_dict` turns back into an equal policy."""
        return serialize.to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """Rebuild a policy from :meth:`to_dict` output; raise :class:`PolicyError` naming the bad key."""
        return serialize.from_dict(cls, data, "policy")

    def explain(self, decision: Decision) -> str:
        """The one-line reason for ``decision`` (``Decision.reason`` calls this lazily)."""
        return _explain.explain(self, decision)

    def describe(self) -> str:
        """A few lines saying what this policy does."""
        return _explain.describe(self)


def _foreign_budget(budget: Budget, error: Exception) -> StateError:
    return StateError(f"state.budget: does not fit this policy's budget ({budget.describe()}): {error}")
