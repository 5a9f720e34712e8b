"""Human text for decisions and policies, kept off the decision path: built only when read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .decision import Action, Decision, Rule
from .outcome import Cause, Outcome

if TYPE_CHECKING:
    from .policy import Policy

__all__ = ["describe", "explain", "seconds"]


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
    if cause is Cause.EXITED or cause is Cause.OOM:
        if outcome.signal is not None:
            how = f"signal {outcome.signal}"
        elif outcome.exit_code is not None:
            how = f"exit {outcome.exit_code}"
        else:
            return "OOM-killed"
        return how if cause is Cause.EXITED else f"OOM-killed ({how})"
    return {
        Cause.LOST: "lost (runtime or host went away)",
        Cause.START_FAILED: "failed to start",
        Cause.STOPPED: "stopped by an operator",
    }[cause]


def _run(policy: Policy, outcome: Outcome) -> str:
    text = f"ran {seconds(outcome.duration)}"
    stability = policy.stability
    if stability is not None and outcome.cause is not Cause.START_FAILED:
        stable = outcome.duration > stability.after or (
            outcome.duration == stability.after and not stability.strict
        )
        relation = {(True, True): ">", (True, False): "<=", (False, True): ">=", (False, False): "<"}[
            (stability.strict, stable)
        ]
        text += f" ({relation} {seconds(stability.after)} stable threshold)"
    return f"{text}, {_ending(outcome)}"


def _resets(policy: Policy) -> str:
    resets = policy.stability.resets if policy.stability is not None else None
    return {1: "backoff", 2: "budget", 3: "backoff and budget"}.get(resets.value if resets else 0, "")


def explain(policy: Policy, decision: Decision) -> str:
    """The one-line reason for ``decision``."""
    outcome, rule, state = decision.outcome, decision.rule, decision.state
    run = _run(policy, outcome)
    delay = seconds(decision.delay)
    budget = policy.budget
    if rule is Rule.GIVEN_UP:
        by = state.given_up_by
        return f"{run}; already given up ({by.value if by else 'unknown'}): start it again to reset"
    if rule is Rule.STABLE_RESET:
        return f"{run}; stable run, {_resets(policy)} reset; restart in {delay}"
    if rule is Rule.BACKOFF or rule is Rule.FORCED:
        forced = "forced restart: " if rule is Rule.FORCED else ""
        return f"{run}; {forced}retry {budget.phrase(state.budget, decision.attempt)} in {delay}"
    if rule is Rule.LOST and decision.action is Action.RESET:
        if policy.lost.value == "stable":
            return f"{run}; treated as a stable run, {_resets(policy)} reset; restart in {delay}"
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


def describe(policy: Policy) -> str:
    """A few lines saying what ``policy`` does."""
    from .policy import Lost  # policy.py imports this module lazily; import back the same way

    lines = [
        f"{policy.name}: restart mode {policy.mode.value}",
        f"backoff: {policy.backoff.describe()}, {policy.jitter.describe()}",
        f"budget: {policy.budget.describe()}; when used up: {policy.on_exhausted.value}",
        "stability: "
        + ("none (runs never count as stable)" if policy.stability is None else policy.stability.describe()),
        "lost workloads: "
        + (
            "restarted at once with a fresh backoff and budget"
            if policy.lost is Lost.FRESH
            else "restarted as after a stable run"
            if policy.lost is Lost.STABLE
            else "spend the budget"
            if policy.count_lost
            else "restarted without spending the budget"
        ),
        f"failed starts: {policy.start_failed.value}",
    ]
    if policy.restart_unstable:
        lines.append("a run that is not stable is restarted whatever its exit")
    return "\n".join(lines)
