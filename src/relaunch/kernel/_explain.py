"""Human text for decisions and policies, kept off the decision path: built only when read.

The words for each cause come from ``tables.CAUSES`` and the words for stability from
:class:`~.stability.Stability`, the same objects the state machine reads. This module reads plain
data, a decision's fields and a policy's parts (:class:`PolicyParts`), and never the module that
decides: ``policy.py`` imports it (``Policy.explain``, ``Policy.describe``), and no kernel module
below ``policy.py`` does (``Decision.reason`` reaches it through the policy a decision carries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .tables import CAUSES
from .vocabulary import Action, Cause, Lost, Mode, Rule

if TYPE_CHECKING:
    from .backoff import Backoff
    from .budget import Budget
    from .decision import Decision
    from .jitter import Jitter
    from .outcome import Outcome
    from .stability import Stability
    from .vocabulary import Exhausted, StartFailed

__all__ = ["PolicyParts", "describe", "explain", "seconds"]


class PolicyParts(Protocol):
    """The parts of a policy that its words are made of; ``Policy`` has every one (same meanings)."""

    @property
    def name(self) -> str: ...
    @property
    def mode(self) -> Mode: ...
    @property
    def backoff(self) -> Backoff: ...
    @property
    def jitter(self) -> Jitter: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def on_exhausted(self) -> Exhausted: ...
    @property
    def stability(self) -> Stability | None: ...
    @property
    def lost(self) -> Lost: ...
    @property
    def restart_lost_under_never(self) -> bool: ...
    @property
    def count_lost(self) -> bool: ...
    @property
    def start_failed(self) -> StartFailed: ...
    @property
    def restart_unstable(self) -> bool: ...
    @property
    def resume_stopped(self) -> bool: ...


def seconds(value: float) -> str:
    """The one duration format for people: ``0.05s``, ``3.0s``, ``13m02s``, ``1h46m58s``.

    Three digits below a second, one decimal below a minute, whole seconds from a minute up;
    :func:`relaunch.units.span` is this function, so reasons and tables agree.
    """
    if value < 60:
        return f"{value:.1f}s" if value >= 1.0 or value == 0.0 else f"{value:.3g}s"
    if value == float("inf"):
        return "forever"
    hours, rest = divmod(round(value), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _ending(outcome: Outcome) -> str:
    cause = outcome.cause
    if outcome.signal is not None:
        how = f"signal {outcome.signal}"
    elif outcome.exit_code is not None:
        how = f"exit {outcome.exit_code}"
    else:
        return CAUSES[cause].ending
    return how if cause is Cause.EXITED else f"{CAUSES[cause].ending} ({how})"


def _run(policy: PolicyParts, outcome: Outcome) -> str:
    text = f"ran {seconds(outcome.duration)}"
    stability = policy.stability
    if stability is not None and CAUSES[outcome.cause].may_be_stable:
        text += f" ({stability.relation(outcome.duration)} {seconds(stability.after)} stable threshold)"
    return f"{text}, {_ending(outcome)}"


def explain(policy: PolicyParts, decision: Decision) -> str:
    """The one-line reason for ``decision``."""
    outcome, rule, state = decision.outcome, decision.rule, decision.state
    run = _run(policy, outcome)
    delay = seconds(decision.delay)
    budget = policy.budget
    if rule is Rule.GIVEN_UP:
        by = state.given_up_by
        return f"{run}; already given up ({by.value if by else 'unknown'}): start it again to reset"
    if rule is Rule.STABLE_RESET or (rule is Rule.LOST and policy.lost is Lost.STABLE):
        assert policy.stability is not None
        treated = "stable run" if rule is Rule.STABLE_RESET else "treated as a stable run"
        return f"{run}; {treated}, resets {policy.stability.resets_phrase}; restart in {delay}"
    if rule is Rule.BACKOFF or rule is Rule.FORCED or rule is Rule.UNHEALTHY:
        why = {Rule.FORCED: "forced restart: ", Rule.UNHEALTHY: "a health kill is never stable: "}.get(
            rule, ""
        )
        return f"{run}; {why}retry {budget.phrase(state.budget, decision.attempt)} in {delay}"
    if rule is Rule.LOST and decision.action is Action.RESET:
        return f"{run}; restart now with a fresh state: backoff and budget start over"
    if rule is Rule.LOST:
        spends = (
            f"retry {budget.phrase(state.budget, decision.attempt)}"
            if policy.count_lost
            else f"restart {decision.attempt} (not counted against the budget)"
        )
        return f"{run}; {spends} in {delay}"
    if rule is Rule.BUDGET_WAIT:
        used = f"its budget ({budget.describe()}) is used up"
        return f"{run}; {used}: waiting {delay} for the window to allow a restart"
    if rule is Rule.BUDGET_EXHAUSTED:
        return f"{run}; giving up: its budget ({budget.describe()}) is used up"
    if rule is Rule.START_FAILED:
        return f"{run}; giving up: this policy does not retry a failed start"
    if rule is Rule.SUCCESS:
        return f"{run}; a clean exit, which {policy.mode.value} does not restart"
    if rule is Rule.MODE:
        return f"{run}; {policy.mode.value} does not restart this"
    if rule is Rule.PREVENTED:
        return f"{run}; this exit prevents a restart"
    assert rule is Rule.OPERATOR_STOP, rule
    assert decision.action is Action.STOP
    return f"{run}; not restarted"


_LOST_WORDS = {
    Lost.FRESH: "restarted at once with a fresh backoff and budget",
    Lost.RESTORE: "restarted at once with a fresh backoff and budget, unless the budget is spent",
    Lost.STABLE: "restarted as after a stable run",
}


def describe(policy: PolicyParts) -> str:
    """A few lines saying what ``policy`` does."""
    lost = _LOST_WORDS.get(policy.lost) or (
        "spend the budget" if policy.count_lost else "restarted without spending the budget"
    )
    lines = [
        f"{policy.name}: restart mode {policy.mode.value}",
        f"backoff: {policy.backoff.describe()}, {policy.jitter.describe()}",
        f"budget: {policy.budget.describe()}; when used up: {policy.on_exhausted.value}",
        "stability: "
        + ("none (runs never count as stable)" if policy.stability is None else policy.stability.describe()),
        f"lost workloads: {lost}",
        f"failed starts: {policy.start_failed.value}",
    ]
    if policy.restart_unstable:
        lines.append("a run that is not stable is restarted whatever its exit")
    if policy.restart_lost_under_never and policy.mode is Mode.NEVER:
        lines.append("a lost run is restarted although the mode is never")
    if policy.resume_stopped:
        lines.append("a workload an operator stopped is started again when its supervisor starts")
    return "\n".join(lines)
