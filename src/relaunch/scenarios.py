"""Failure scenarios: workload models that say how long each run lasts and how it ends.

A scenario is data. A :class:`Model` has phases (what a run does, by when it starts) and, optionally,
outside disruptions at times of their own (a flapping daemon kills whatever is running then). A
:class:`Replay` is an explicit list of runs, read from a JSON-lines file. A run may *hang*: stop
answering some time after it starts, without exiting; only a health check sees that (the simulator
probes it, :mod:`relaunch.simulate`), and without one a hung run is down until it ends by itself.
Both are seeded: the same scenario and seed give the same runs, and a disruption schedule does not
depend on the policy, so policies are compared on the same night.

Built-in scenarios are in :data:`BUILTIN`; files are read by :func:`load`. This module draws
randomness only from ``random.Random`` instances seeded by the caller.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from pathlib import Path
from typing import Any, Protocol

import attrs

from .kernel import Cause, Outcome, OutcomeError
from .units import parse_duration, read_text, span

__all__ = [
    "BUILTIN",
    "Disruptions",
    "Ending",
    "ExponentialDuration",
    "Fixed",
    "Forever",
    "Model",
    "Replay",
    "Runs",
    "Scenario",
    "ScenarioError",
    "Uniform",
    "WorkloadPhase",
    "load",
]


class ScenarioError(ValueError):
    """A scenario name, file or line is invalid; the message names where and what."""


# -- how a run ends -------------------------------------------------------------------------------


@attrs.frozen
class Ending:
    """How a run ends: the kernel's cause, with an exit code or a signal for a plain exit."""

    cause: Cause = Cause.EXITED
    exit_code: int | None = None
    signal: int | None = None

    def __attrs_post_init__(self) -> None:
        # The kernel's Outcome knows which combinations are valid; ask it once, here.
        try:
            self.outcome(0.0, 0.0)
        except OutcomeError as error:
            raise ScenarioError(str(error).removeprefix("Outcome.")) from None

    def outcome(self, started_at: float, ended_at: float) -> Outcome:
        return Outcome(started_at, ended_at, self.exit_code, self.signal, self.cause)

    def describe(self) -> str:
        if self.cause is Cause.EXITED:
            return f"exit {self.exit_code}" if self.signal is None else f"signal {self.signal}"
        return str(self.cause.value)


# -- durations --------------------------------------------------------------------------------------


class Duration(Protocol):
    def sample(self, rng: random.Random) -> float: ...

    def describe(self) -> str: ...


@attrs.frozen
class Fixed:
    seconds: float

    def sample(self, rng: random.Random) -> float:
        return self.seconds

    def describe(self) -> str:
        return span(self.seconds)


@attrs.frozen
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        return f"{span(self.low)} to {span(self.high)}"


@attrs.frozen
class ExponentialDuration:
    """Exponentially distributed: the time between events of a Poisson process of this mean.

    Named apart from the kernel's ``Exponential`` backoff, which a test or script often imports too.
    """

    mean: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def describe(self) -> str:
        return f"about {span(self.mean)} on average"


@attrs.frozen
class Forever:
    def sample(self, rng: random.Random) -> float:
        return math.inf

    def describe(self) -> str:
        return "forever"


# -- models -----------------------------------------------------------------------------------------


@attrs.frozen
class WorkloadPhase:
    """Runs that start before ``until`` last ``run`` and end with ``ending`` (a ``[[phase]]`` table;
    named apart from the supervisor's lifecycle ``Phase``).

    ``shrink`` multiplies the k-th run of the phase by ``shrink ** k`` (a leak that gets worse),
    down to ``floor`` seconds (a process needs some time to fill its memory again). With
    ``hangs_after``, a run hangs with probability ``hang_probability``, that long after its start
    (if it has not ended by then); it goes on hung until its own end.
    """

    run: Duration
    ending: Ending = Ending(exit_code=1)
    until: float = math.inf
    shrink: float = 1.0
    floor: float = 0.0
    hangs_after: Duration | None = None
    hang_probability: float = 1.0

    @property
    def hangs(self) -> bool:
        return self.hangs_after is not None and self.hang_probability > 0.0


@attrs.frozen
class Disruptions:
    """Outside events at intervals of ``every`` that end whatever run is under way with ``ending``."""

    every: Duration
    ending: Ending = Ending(cause=Cause.LOST)


class Runs(Protocol):
    """One simulation's source of runs; stateful, made fresh per simulation by ``Scenario.runs``."""

    def end(self, start: float) -> tuple[float, Ending, float]:
        """When a run that starts at ``start`` ends (``math.inf``: not by itself), how, and when it
        hangs (stops answering; ``math.inf``: never, and never at or after its end)."""
        ...


@attrs.frozen
class Model:
    """A workload model: phases by start time, and optional disruptions."""

    phases: tuple[WorkloadPhase, ...]
    disruptions: Disruptions | None = None

    @property
    def hangs(self) -> bool:
        """Whether a run may hang."""
        return any(phase.hangs for phase in self.phases)

    def runs(self, seed: int) -> Runs:
        return _ModelRuns(self, seed)


#: Disruptions that may fall while the workload is down between two runs before the run is refused:
#: a tiny interval against a long delay would otherwise take minutes of sampling.
MAX_SKIPPED_DISRUPTIONS = 1_000_000


class _ModelRuns:
    def __init__(self, model: Model, seed: int) -> None:
        self._model = model
        # Two streams: the disruption schedule must not depend on how many runs a policy made.
        self._rng = random.Random(2 * seed)
        self._events = random.Random(2 * seed + 1)
        self._phase: WorkloadPhase | None = None
        self._index = 0
        self._next_event = -math.inf

    def end(self, start: float) -> tuple[float, Ending, float]:
        phase = next(p for p in self._model.phases if start < p.until or p is self._model.phases[-1])
        if phase is not self._phase:
            self._phase, self._index = phase, 0
        end = start + max(phase.run.sample(self._rng) * phase.shrink**self._index, phase.floor)
        self._index += 1
        ending = phase.ending
        hangs_at = math.inf
        # Drawn only for a phase that hangs, so a scenario without hangs keeps its runs.
        if (
            phase.hangs_after is not None
            and phase.hang_probability > 0.0
            and (self._rng.random() < phase.hang_probability)
        ):
            hangs_at = start + phase.hangs_after.sample(self._rng)
        disruptions = self._model.disruptions
        if disruptions is not None:
            if self._next_event == -math.inf:
                self._next_event = disruptions.every.sample(self._events)
            skipped = 0
            while self._next_event <= start:
                self._next_event += disruptions.every.sample(self._events)
                skipped += 1
                if skipped > MAX_SKIPPED_DISRUPTIONS:
                    raise ScenarioError(
                        f"disruptions.every: more than {MAX_SKIPPED_DISRUPTIONS} disruptions during "
                        "one backoff delay: use a longer interval"
                    )
            if self._next_event < end:
                end, ending = self._next_event, disruptions.ending
        return end, ending, hangs_at if hangs_at < end else math.inf


@attrs.frozen
class Replay:
    """Explicit runs (duration, ending, and when it hangs after its start: ``math.inf`` for never),
    in order; after the last one the workload stays up."""

    recorded: tuple[tuple[float, Ending, float], ...]

    @property
    def hangs(self) -> bool:
        """Whether a run may hang."""
        return any(hangs_after < math.inf for _, _, hangs_after in self.recorded)

    def runs(self, seed: int) -> Runs:
        return _ReplayRuns(self.recorded)


#: What a replayed workload does after its last recorded run: stay up (the ending is never seen).
_STAYS_UP = (math.inf, Ending(exit_code=0), math.inf)


class _ReplayRuns:
    def __init__(self, runs: tuple[tuple[float, Ending, float], ...]) -> None:
        self._runs = iter(runs)

    def end(self, start: float) -> tuple[float, Ending, float]:
        duration, ending, hangs_after = next(self._runs, _STAYS_UP)
        return start + duration, ending, start + hangs_after


@attrs.frozen
class Scenario:
    """A named, documented workload with the virtual time it is simulated for by default."""

    name: str
    description: str
    until: float
    source: Model | Replay

    @property
    def hangs(self) -> bool:
        """Whether a run may hang: then a health check changes what a policy makes of it."""
        return self.source.hangs

    def runs(self, seed: int) -> Runs:
        return self.source.runs(seed)


_OOM = Ending(cause=Cause.OOM, exit_code=137)

#: The built-in scenarios, by name.
BUILTIN: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "crash-loop",
            "every run exits 1 after 0.5s (a bad config that never starts)",
            3600.0,
            Model((WorkloadPhase(Fixed(0.5)),)),
        ),
        Scenario(
            "daemon-flaps",
            "a healthy service killed by a daemon disruption every 30-90s for 2h, outcomes LOST "
            "(stacklok/toolhive #5171)",
            7200.0,
            Model((WorkloadPhase(Forever()),), Disruptions(Uniform(30.0, 90.0))),
        ),
        Scenario(
            "flaky",
            "crashes at random (exit 1), about every 15m on average (exponential inter-arrival), for 24h",
            86400.0,
            Model((WorkloadPhase(ExponentialDuration(900.0)),)),
        ),
        Scenario(
            "bad-deploy",
            "a bad release crash-loops (exit 1 after 2s) for 10 minutes, then a fixed one runs healthy",
            3600.0,
            Model((WorkloadPhase(Fixed(2.0), until=600.0), WorkloadPhase(Forever()))),
        ),
        Scenario(
            "oom-creep",
            "a worsening leak: run k is OOM-killed (exit 137) after 20m x 0.7^k (at least 5s), "
            "stable at first, then a crash loop",
            10800.0,
            Model((WorkloadPhase(Fixed(1200.0), _OOM, shrink=0.7, floor=5.0),)),
        ),
        Scenario(
            "hang",
            "a service that stops answering (and never exits) about every 2h on average, for 24h: "
            "only a health check sees it",
            86400.0,
            Model((WorkloadPhase(Forever(), hangs_after=ExponentialDuration(7200.0)),)),
        ),
    )
}


# -- files ------------------------------------------------------------------------------------------


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or one read from a ``.jsonl`` (runs) or ``.toml`` (model) file."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if path.suffix not in (".jsonl", ".toml"):
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}, expected one of {', '.join(BUILTIN)} "
            "or a .jsonl or .toml file"
        )
    try:
        text = read_text(path)
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        kind = "JSON-lines" if path.suffix == ".jsonl" else "TOML"
        raise ScenarioError(f"{path}: not a {kind} file: byte {error.start} is not UTF-8 text") from None
    if path.suffix == ".jsonl":
        return _from_lines(path, text)
    return _from_toml(path, text)


def _from_lines(path: Path, text: str) -> Scenario:
    """JSON lines, one run each: ``{"duration": 0.5, "exit_code": 1}``, ``{"duration": 60, "cause": "lost"}``.

    A run's keys: ``duration`` (seconds, ``"10m"`` or ``"forever"``), ``cause`` (exited, oom,
    start-failed, lost; default exited), ``exit_code`` or ``signal`` (a plain exit without either
    exits 1), and ``hangs_after`` (it stops answering that long after its start, before its
    ``duration`` is up: ``{"duration": "forever", "hangs_after": "10m"}``).
    """
    runs: list[tuple[float, Ending, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise ScenarioError(f"{where}: not valid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(data, dict):
            raise ScenarioError(f'{where}: must be an object such as {{"duration": 0.5, "exit_code": 1}}')
        runs.append(_run(where, data))
    if not runs:
        raise ScenarioError(f"{path}: no runs (one JSON object per line)")
    replayed = f"{len(runs)} run{'s' if len(runs) != 1 else ''} replayed from {path.name}"
    return Scenario(path.stem, replayed, 3600.0, Replay(tuple(runs)))


_RUN_KEYS = ("duration", "cause", "exit_code", "signal", "hangs_after")


def _run(where: str, data: dict[str, Any]) -> tuple[float, Ending, float]:
    _known(where, data, _RUN_KEYS, "")
    if "duration" not in data:
        raise ScenarioError(f"{where}: duration: missing (required)")
    duration = _duration(where, "duration", data["duration"])
    ending = _ending(where, data, "")
    hangs_after = math.inf
    if "hangs_after" in data:
        hangs_after = _duration(where, "hangs_after", data["hangs_after"])
        if not hangs_after < duration:
            raise ScenarioError(
                f"{where}: hangs_after: must be shorter than the duration ({data['duration']!r}), "
                f"got {data['hangs_after']!r}"
            )
    return duration, ending, hangs_after


def _ending(where: str, data: dict[str, Any], prefix: str) -> Ending:
    cause = data.get("cause", Cause.EXITED.value)
    causes = {c.value: c for c in Cause if c is not Cause.STOPPED}
    if cause not in causes:
        raise ScenarioError(f"{where}: {prefix}cause: unknown {cause!r}, expected one of {', '.join(causes)}")
    exit_code, signal = data.get("exit_code"), data.get("signal")
    if causes[cause] is Cause.EXITED and exit_code is None and signal is None:
        exit_code = 1  # a plain crash unless the file says otherwise
    try:
        return Ending(causes[cause], exit_code, signal)
    except ScenarioError as error:
        # The kernel's wording is Python's ("None or an integer"); a file cannot write None.
        raise ScenarioError(
            f"{where}: {prefix}{str(error).replace('must be None or ', 'must be ')}"
        ) from None


def _duration(where: str, key: str, value: object) -> float:
    if value == "forever":
        return math.inf
    try:
        return parse_duration(value, key)
    except ValueError as error:
        raise ScenarioError(f"{where}: {error}") from None


def _known(where: str, data: dict[str, Any], keys: tuple[str, ...], prefix: str) -> None:
    for key in data:
        if key not in keys:
            raise ScenarioError(f"{where}: {prefix}{key}: unknown key, expected one of {', '.join(keys)}")


_MODEL_KEYS = ("description", "until", "phase", "disruptions")
_PHASE_KEYS = (
    "run",
    "until",
    "shrink",
    "floor",
    "cause",
    "exit_code",
    "signal",
    "hangs_after",
    "hang_probability",
)
_DISRUPTION_KEYS = ("every", "cause", "exit_code", "signal")


def _from_toml(path: Path, text: str) -> Scenario:
    """A model: ``[[phase]]`` tables (run, until, shrink, floor, an ending, and hangs_after with
    hang_probability) and ``[disruptions]``."""
    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{where}: not valid TOML: {error}") from None
    _known(where, data, _MODEL_KEYS, "")
    phases_data = data.get("phase")
    if not isinstance(phases_data, list) or not phases_data:
        raise ScenarioError(f"{where}: phase: needs at least one [[phase]] table")
    phases = tuple(_phase(where, f"phase[{i}].", item) for i, item in enumerate(phases_data))
    disruptions = None
    if "disruptions" in data:
        table = data["disruptions"]
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: disruptions: must be a table")
        _known(where, table, _DISRUPTION_KEYS, "disruptions.")
        if "every" not in table:
            raise ScenarioError(f"{where}: disruptions.every: missing (required)")
        lost = {"cause": Cause.LOST.value, **table}
        every = _distribution(where, "disruptions.every", table["every"])
        if _mean(every) < MIN_DISRUPTION_INTERVAL:
            raise ScenarioError(
                f"{where}: disruptions.every: must average at least {span(MIN_DISRUPTION_INTERVAL)}, "
                f"got {table['every']!r}"
            )
        disruptions = Disruptions(every, _ending(where, lost, "disruptions."))
    until = _duration(where, "until", data.get("until", 3600.0))
    if not math.isfinite(until):
        raise ScenarioError(f"{where}: until: must be finite, got 'forever'")
    description = data.get("description", f"a workload model from {path.name}")
    if not isinstance(description, str):
        raise ScenarioError(f"{where}: description: must be a string, got {description!r}")
    return Scenario(path.stem, description, until, Model(phases, disruptions))


#: The shortest average interval between disruptions a scenario file may ask for: with none, a
#: zero interval would never move the schedule past a run's start.
MIN_DISRUPTION_INTERVAL = 0.001


def _mean(duration: Duration) -> float:
    if isinstance(duration, Fixed):
        return duration.seconds
    if isinstance(duration, Uniform):
        return (duration.low + duration.high) / 2
    if isinstance(duration, ExponentialDuration):
        return duration.mean
    return math.inf


def _phase(where: str, prefix: str, data: object) -> WorkloadPhase:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: {prefix.rstrip('.')}: must be a table")
    _known(where, data, _PHASE_KEYS, prefix)
    if "run" not in data:
        raise ScenarioError(f"{where}: {prefix}run: missing (required)")
    shrink = data.get("shrink", 1.0)
    if isinstance(shrink, bool) or not isinstance(shrink, int | float) or not 0 < shrink <= 1:
        raise ScenarioError(f"{where}: {prefix}shrink: must be a number in (0, 1], got {shrink!r}")
    until = _duration(where, f"{prefix}until", data.get("until", "forever"))
    floor = _duration(where, f"{prefix}floor", data.get("floor", 0.0))
    run = _distribution(where, f"{prefix}run", data["run"])
    ending = _ending(where, data, prefix)
    hangs_after = None
    if "hangs_after" in data:
        hangs_after = _distribution(where, f"{prefix}hangs_after", data["hangs_after"])
        if isinstance(hangs_after, Forever):
            raise ScenarioError(f"{where}: {prefix}hangs_after: must be finite, got 'forever'")
    probability = data.get("hang_probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
        raise ScenarioError(
            f"{where}: {prefix}hang_probability: must be a number in [0, 1], got {probability!r}"
        )
    if hangs_after is None and "hang_probability" in data:
        raise ScenarioError(f"{where}: {prefix}hangs_after: missing (required with hang_probability)")
    return WorkloadPhase(run, ending, until, shrink, floor, hangs_after, float(probability))


def _distribution(where: str, key: str, value: object) -> Duration:
    """A duration: ``0.5`` or ``"10m"`` (fixed), ``[30, 90]`` (uniform), ``{mean = "15m"}``
    (exponential) or ``"forever"``."""
    if value == "forever":
        return Forever()
    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{where}: {key}: a range must be [low, high], got {value!r}")
        low, high = (_duration(where, key, item) for item in value)
        if not high < math.inf or high < low:
            raise ScenarioError(
                f"{where}: {key}: a range must be [low, high] with low <= high, got {value!r}"
            )
        return Uniform(low, high)
    if isinstance(value, dict):
        if set(value) != {"mean"}:
            raise ScenarioError(f"{where}: {key}: an exponential duration is {{mean = ...}}, got {value!r}")
        mean = _duration(where, f"{key}.mean", value["mean"])
        if not 0 < mean < math.inf:
            raise ScenarioError(f"{where}: {key}.mean: must be > 0 and finite, got {value['mean']!r}")
        return ExponentialDuration(mean)
    return Fixed(_duration(where, key, value))
