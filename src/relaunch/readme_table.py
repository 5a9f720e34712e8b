"""The README's table: what each preset does with a tight crash loop, built by driving the presets.

Every number here comes from driving :meth:`~relaunch.kernel.Policy.decide`, so the table cannot
disagree with the presets it describes. This module computes and formats; it reads and writes no
files (``scripts/crash_loop_table.py`` does, and ``tests/test_readme_table.py`` checks README.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from . import presets
from .kernel import Action, Decision, NoJitter, Policy, Reset
from .runs import Run, drive

__all__ = [
    "END_MARKER",
    "ROWS",
    "START_MARKER",
    "Run",
    "crash_loop",
    "crash_loop_table",
    "embed",
    "replay",
]

START_MARKER = "<!-- crash-loop-table:start -->"
END_MARKER = "<!-- crash-loop-table:end -->"

#: The table's rows: a label, the preset's name and its parameters (defaults unless a variant).
ROWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("Docker", "docker", {"policy": "on-failure"}),
    ("Docker, 5 retries", "docker", {"policy": "on-failure", "max_retries": 5}),
    ("Kubernetes", "kubernetes", {}),
    ("Kubernetes, KEP-4603", "kubernetes_reduced", {}),
    ("systemd", "systemd", {"restart": "on-failure"}),
    (
        "systemd, RestartSteps",
        "systemd",
        {"restart": "on-failure", "restart_sec": 1.0, "restart_steps": 5, "restart_max_delay_sec": 32.0},
    ),
    ("supervisord", "supervisord", {}),
    ("Erlang/OTP", "otp", {}),
    ("Elixir", "elixir", {}),
    ("PM2", "pm2", {}),
    ("PM2, exponential backoff", "pm2", {"exp_backoff_restart_delay": 0.1}),
    ("Nomad service", "nomad", {}),
    ("Nomad batch", "nomad", {"job_type": "batch"}),
    ("ToolHive", "toolhive", {}),
    ("relaunch", "recommended", {}),
)

#: The crash loop the table shows: every run exits 1 after RUN seconds; restarts take no time.
RUN = 0.5
#: Crashes simulated before a policy that has not given up is said never to.
CRASHES = 1000
#: Delays shown per row.
SHOWN = 8


def replay(policy: Policy, runs: Iterable[Run], *, seed: int = 0) -> tuple[Decision, ...]:
    """The decisions of ``policy`` for ``runs`` played back to back.

    The first run starts at 0; each later one starts at the end of the one before plus the
    decision's delay, as a supervisor following the decisions would start it. Stops at the first
    decision that does not restart.
    """
    return tuple(drive(policy, policy.start(at=0.0, seed=seed), runs))


def crash_loop(
    policy: Policy, *, run: float = RUN, exit_code: int = 1, crashes: int = CRASHES, seed: int = 0
) -> tuple[Decision, ...]:
    """The decisions for a workload that exits with ``exit_code`` after ``run`` seconds, every time.

    As :func:`replay` with ``crashes`` such runs.
    """
    return replay(policy, [Run(run, exit_code=exit_code)] * crashes, seed=seed)


def _seconds(value: float) -> str:
    return f"{value:.6g}"


def _delays(policy: Policy) -> str:
    # Jittered delays are shown as their nominal values, with the jitter named after them.
    nominal = policy if isinstance(policy.jitter, NoJitter) else attrs.evolve(policy, jitter=NoJitter())
    delays = [d.delay for d in crash_loop(nominal, crashes=SHOWN) if d.restarts]
    text = ", ".join(map(_seconds, delays))
    if len(delays) < SHOWN:
        text += ", then none"
    if not isinstance(policy.jitter, NoJitter):
        text += f" ({policy.jitter.describe()})"
    return text


def _gives_up(policy: Policy) -> str:
    decisions = crash_loop(policy)
    last = decisions[-1]
    if last.action is not Action.GIVE_UP:
        return "never"
    return f"at crash {len(decisions)} (t = {_seconds(last.outcome.ended_at)} s)"


def _stable_run(policy: Policy) -> str:
    stability = policy.stability
    if stability is None:
        return "nothing"
    relation = ">" if stability.strict else "≥"
    what = {Reset.DELAY: "the delay", Reset.BUDGET: "the budget", Reset.BOTH: "delay and budget"}
    if stability.restart_delay is None:
        then = f"the first delay ({_seconds(policy.backoff.delay(1))} s)"
    else:
        then = f"{_seconds(stability.restart_delay)} s"
    resets = what[stability.resets]
    return f"a run {relation} {_seconds(stability.after)} s resets {resets}; restarts after {then}"


def _call(name: str, params: dict[str, Any]) -> str:
    args = ", ".join(f"{key}={value!r}" for key, value in params.items())
    return f"`{name}({args})`"


def crash_loop_table() -> str:
    """The markdown table "what each system does with a tight crash loop", built from the presets."""
    lines = [
        f"Every run exits 1 after {_seconds(RUN)} s and restarts take no time; "
        f'"never" means no give-up in {CRASHES} crashes. Delays are in seconds; jitter is drawn with seed 0.',
        "",
        "| System | Preset | First eight delays | Gives up | A stable run | Budget |",
        "|---|---|---|---|---|---|",
    ]
    for label, name, params in ROWS:
        policy = presets.get(name, **params)
        budget = policy.budget.describe()
        if policy.on_exhausted.value == "wait":
            budget += ", then waits for the window"
        cells = (label, _call(name, params), _delays(policy), _gives_up(policy), _stable_run(policy), budget)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def embed(document: str, table: str) -> str:
    """``document`` with the text between the crash-loop-table markers replaced by ``table``."""
    start = document.index(START_MARKER) + len(START_MARKER)
    end = document.index(END_MARKER, start)
    return f"{document[:start]}\n{table}{document[end:]}"
