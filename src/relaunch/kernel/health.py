"""The probe state machine: ``HealthCheck.observe`` owns every health transition, and lives here alone.

The same two rules as ``policy.py`` (and h11's ``_state.py``) keep it honest:

* Everything that decides a run's health verdict is in this module.
* It knows nothing of the world: it never reads a clock, never sleeps, never draws randomness,
  never does I/O, never runs a probe and never learns what runtime it serves. A probe's result and
  the time it came in arrive as data, and when to probe next leaves as data
  (``HealthState.next_probe_at``); the supervisor runs the probe, enforces ``timeout`` and reports
  a probe that overran it as ``ProbeResult.TIMEOUT``.

Health only decides *when to kill*: the supervisor ends an ``UNHEALTHY`` run, and the restart goes
through ``Policy.decide`` like any other end (the kubelet, Nomad's ``check_restart`` and systemd's
watchdog all work this way). The transitions, for a result that came in at ``at``:

=========  ===========================================  ============================================
verdict    PASS                                         FAIL or TIMEOUT
=========  ===========================================  ============================================
STARTING   streak of failures to 0; HEALTHY after       in the start period: not counted, streak of
           ``success_threshold`` passes in a row        passes to 0; after it: counted, UNHEALTHY at
           (ending the start period, as Docker does,    ``retries`` in a row
           unless ``pass_ends_start_period`` is False)
HEALTHY    streak of failures to 0                      as for STARTING (a failure never makes a
                                                        healthy run STARTING again)
UNHEALTHY  UNHEALTHY, state unchanged (absorbing)       UNHEALTHY, state unchanged (absorbing)
=========  ===========================================  ============================================

Why UNHEALTHY is absorbing within a run: Docker flips back to ``healthy`` on the next pass
(moby ``daemon/health.go``, ``handleProbeResult``) because it never acts on the status; relaunch
kills the run on the verdict, as the kubelet does, and the kubelet stops probing a container that
failed its liveness probe until a new one replaces it (kubernetes ``pkg/kubelet/prober/worker.go``,
``worker.doProbe``: ``onHold``). A late pass racing the kill must not undo it. ``begin`` gives the
next run a fresh state.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs

from .errors import OutcomeError, PolicyError, StateError
from .validate import count, finite

__all__ = ["HEALTH_SCHEMA", "HealthCheck", "HealthState", "ProbeResult", "Verdict"]

#: Version of ``HealthState.to_dict``'s format; ``from_dict`` refuses any other.
HEALTH_SCHEMA = 1


class ProbeResult(enum.Enum):
    """What one probe reported."""

    #: The probe succeeded (Docker: exit code 0; the kubelet: ``results.Success``).
    PASS = "pass"
    #: The probe ran and failed (Docker: any other exit code; the kubelet: ``results.Failure``).
    FAIL = "fail"
    #: The probe did not answer within ``HealthCheck.timeout``. Counted as a failure, as Docker
    #: (``cmdProbe.run`` returns exit code -1) and the kubelet (a timed-out probe is a failure) do.
    TIMEOUT = "timeout"


class Verdict(enum.Enum):
    """A run's health, as Docker's ``State.Health.Status`` names it."""

    #: No verdict yet: not enough passes since the run began.
    STARTING = "starting"
    #: ``success_threshold`` passes in a row since the run began, and not unhealthy since.
    HEALTHY = "healthy"
    #: ``retries`` counted failures in a row: the supervisor kills the run. Final for the run.
    UNHEALTHY = "unhealthy"


# Module constants for the hot path: a global load is cheaper than an enum class attribute.
_new = tuple.__new__
_INF = math.inf
_PASS = ProbeResult.PASS
_STARTING, _HEALTHY, _UNHEALTHY = Verdict.STARTING, Verdict.HEALTHY, Verdict.UNHEALTHY
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_KEYS = ("schema", "verdict", "failures", "passes", "next_probe_at", "start_period_ends", "last_at")


class HealthState(tuple[Verdict, int, int, float, float, float]):
    """What a health check remembers about one run between probes.

    A tuple underneath, like :class:`~relaunch.kernel.state.State` and for the same reason:
    ``observe`` builds one per probe of every workload. It comes from ``HealthCheck.begin`` or
    ``HealthState.from_dict``, never from the constructor.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> HealthState:
        raise TypeError("HealthStates come from HealthCheck.begin() or HealthState.from_dict()")

    @property
    def verdict(self) -> Verdict:
        """The run's health after the last probe."""
        return self[0]

    @property
    def failures(self) -> int:
        """Counted failures in a row (Docker's ``FailingStreak``); none count in the start period."""
        return self[1]

    @property
    def passes(self) -> int:
        """Passes in a row, counted up to the check's ``success_threshold``."""
        return self[2]

    @property
    def next_probe_at(self) -> float:
        """When the next probe is due; ``math.inf`` once UNHEALTHY (probe no more in this run)."""
        return self[3]

    @property
    def start_period_ends(self) -> float:
        """Failures that come in before this time are not counted; a pass may move it earlier."""
        return self[4]

    @property
    def last_at(self) -> float:
        """The latest time this state has seen: the run's start, or the last probe's result."""
        return self[5]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data, with the schema version, that ``from_dict`` turns back into this state.

        ``next_probe_at`` is null once UNHEALTHY (JSON has no infinity).
        """
        verdict, failures, passes, due, start_ends, last_at = self
        return {
            "schema": HEALTH_SCHEMA,
            "verdict": verdict.value,
            "failures": failures,
            "passes": passes,
            "next_probe_at": None if due == _INF else due,
            "start_period_ends": start_ends,
            "last_at": last_at,
        }

    @classmethod
    def from_dict(cls, data: object) -> HealthState:
        """Rebuild a state from ``to_dict`` output; raise :class:`StateError` naming the bad key."""
        if not isinstance(data, dict):
            raise StateError(f"health_state: must be a dict, got {type(data).__name__}")
        for key in data:
            if key not in _KEYS:
                raise StateError(f"health_state.{key}: unknown key (expected {', '.join(_KEYS)})")
        for key in _KEYS:
            if key not in data:
                raise StateError(f"health_state.{key}: missing")
        if data["schema"] != HEALTH_SCHEMA or isinstance(data["schema"], bool):
            raise StateError(f"health_state.schema: must be {HEALTH_SCHEMA}, got {data['schema']!r}")
        verdict = data["verdict"]
        if not isinstance(verdict, str) or verdict not in _VERDICTS:
            raise StateError(f"health_state.verdict: must be one of {', '.join(_VERDICTS)}, got {verdict!r}")
        unhealthy = _VERDICTS[verdict] is _UNHEALTHY
        due = data["next_probe_at"]
        if (due is None) != unhealthy:
            raise StateError(
                f"health_state.next_probe_at: must be null exactly when unhealthy, got {due!r} "
                f"with verdict {verdict!r}"
            )
        return _new(
            HealthState,
            (
                _VERDICTS[verdict],
                _count("failures", data["failures"]),
                _count("passes", data["passes"]),
                _INF if due is None else _time("next_probe_at", due),
                _time("start_period_ends", data["start_period_ends"]),
                _time("last_at", data["last_at"]),
            ),
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is HealthState and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        verdict, failures, passes, due, start_ends, last_at = self
        return (
            f"HealthState(verdict={verdict.value!r}, failures={failures!r}, passes={passes!r}, "
            f"next_probe_at={due!r}, start_period_ends={start_ends!r}, last_at={last_at!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (HealthState.from_dict, (self.to_dict(),))


def _count(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StateError(f"health_state.{key}: must be a non-negative integer, got {value!r}")
    return value


def _time(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StateError(f"health_state.{key}: must be a finite number, got {value!r}")
    return float(value)


def _positive(field: str, value: object) -> float:
    return finite(field, value, strict=True)


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{field}: must be a bool, got {value!r}")
    return value


@attrs.frozen(slots=True, cache_hash=True)
class HealthCheck:
    """When a run is healthy, from the results of its probes: frozen, validated once at construction.

    The fields are the Docker Engine API's ``HealthConfig`` (moby ``api/types/container/config.go``)
    in seconds rather than nanoseconds, and without its "zero means the default" (``docker()``
    keeps that); the defaults are Docker's (moby ``daemon/health.go``: ``defaultProbeInterval``,
    ``defaultProbeTimeout``, ``defaultProbeRetries``, ``defaultStartPeriod``,
    ``defaultStartInterval``). ``success_threshold`` is the kubelet's ``successThreshold``.
    """

    #: Seconds from one probe's result to the next probe, after the start period.
    interval: float = 30.0
    #: Seconds a probe may take; the supervisor reports a longer one as ``TIMEOUT``.
    timeout: float = 30.0
    #: Counted failures in a row that make the run UNHEALTHY.
    retries: int = 3
    #: Seconds after the run's start during which failures are not counted.
    start_period: float = 0.0
    #: Seconds from one probe's result to the next while in the start period.
    start_interval: float = 5.0
    #: Passes in a row that make a STARTING run HEALTHY.
    success_threshold: int = 1
    #: Whether the pass that makes the run HEALTHY ends the start period (Docker: it does, failures
    #: count from then on). Nomad's ``grace`` is a fixed span that a pass does not shorten.
    pass_ends_start_period: bool = True

    def __attrs_post_init__(self) -> None:
        checked = {
            "interval": _positive("HealthCheck.interval", self.interval),
            "timeout": _positive("HealthCheck.timeout", self.timeout),
            "retries": count("HealthCheck.retries", self.retries, minimum=1),
            "start_period": finite("HealthCheck.start_period", self.start_period),
            "start_interval": _positive("HealthCheck.start_interval", self.start_interval),
            "success_threshold": count("HealthCheck.success_threshold", self.success_threshold, minimum=1),
            "pass_ends_start_period": _flag(
                "HealthCheck.pass_ends_start_period", self.pass_ends_start_period
            ),
        }
        # Ints are accepted for the durations and stored as floats, so equal checks compare equal.
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def docker(
        cls,
        interval: float = 0.0,
        timeout: float = 0.0,
        retries: int = 0,
        start_period: float = 0.0,
        start_interval: float = 0.0,
    ) -> HealthCheck:
        """A container's ``HEALTHCHECK`` as the Engine API holds it, in seconds: zero means Docker's default.

        Zero inherits the default as the daemon does (moby ``daemon/health.go``:
        ``timeoutWithDefault``, and ``handleProbeResult`` for a retries of zero or less); other
        values are checked as the daemon checks them (moby ``daemon/container.go``,
        ``validateHealthCheck``: durations of at least ``MinimumDuration``, 1 ms, and retries not
        negative).
        """
        durations = {
            "interval": interval,
            "timeout": timeout,
            "start_period": start_period,
            "start_interval": start_interval,
        }
        given: dict[str, Any] = {}
        for name, value in durations.items():
            seconds = finite(f"HealthCheck.{name}", value)
            if seconds == 0.0:
                continue
            if seconds < _DOCKER_MINIMUM_DURATION:
                raise PolicyError(
                    f"HealthCheck.{name}: must be 0 (Docker's default) or at least 1 ms, got {value!r}"
                )
            given[name] = seconds
        if count("HealthCheck.retries", retries) > 0:
            given["retries"] = retries
        # The class's own defaults are Docker's.
        return cls(**given)

    @classmethod
    def kubelet(
        cls,
        period: float = 10.0,
        timeout: float = 1.0,
        failure_threshold: int = 3,
        success_threshold: int = 1,
        initial_delay: float = 0.0,
    ) -> HealthCheck:
        """A Kubernetes liveness probe: ``periodSeconds``, ``timeoutSeconds``, ``failureThreshold``,
        ``successThreshold``, ``initialDelaySeconds``, with the API's defaults (kubernetes
        ``pkg/apis/core/v1/defaults.go``, ``SetDefaults_Probe``).

        The kubelet runs no probe before ``initial_delay`` (``pkg/kubelet/prober/worker.go``,
        ``worker.doProbe``), so it is both the start period and the wait for the first probe, which
        is then counted. ``success_threshold`` must be 1, as the API requires of a liveness probe
        (``pkg/apis/core/validation/validation.go``, the liveness-specific check in container
        validation); a readiness probe may ask for more, but readiness never kills. One difference:
        with no initial delay the kubelet probes at once, and this check first after one period.
        """
        period = _positive("HealthCheck.kubelet.period", period)
        failure_threshold = count("HealthCheck.kubelet.failure_threshold", failure_threshold, minimum=1)
        delay = finite("HealthCheck.kubelet.initial_delay", initial_delay)
        if isinstance(success_threshold, bool) or success_threshold != 1:
            raise PolicyError(
                "HealthCheck.kubelet.success_threshold: must be 1 for a liveness probe, "
                f"got {success_threshold!r}"
            )
        return cls(
            interval=period,
            timeout=timeout,
            retries=failure_threshold,
            start_period=delay,
            start_interval=delay if delay > 0 else period,
            success_threshold=1,
        )

    @classmethod
    def nomad(cls, interval: float, timeout: float, limit: int, grace: float = 1.0) -> HealthCheck:
        """A Nomad service check with ``check_restart { limit, grace }`` (grace defaults to 1 s).

        Nomad restarts after ``limit`` failing checks in a row, a passing one resetting the count,
        and ignores failures until ``grace`` after the task started, however it passed meanwhile
        (hashicorp/nomad ``client/serviceregistration/watcher.go``, ``restarter.apply``, formerly
        ``command/agent/consul/check_watcher.go``). It measures the limit as time since the first
        failure (``interval * (limit - 1)``) rather than as a count; with checks every ``interval``
        the two agree. ``limit = 0`` disables ``check_restart`` in Nomad: here, use no check.
        """
        limit = count("HealthCheck.nomad.limit", limit, minimum=1)
        interval = _positive("HealthCheck.nomad.interval", interval)
        grace = finite("HealthCheck.nomad.grace", grace)
        return cls(
            interval=interval,
            timeout=timeout,
            retries=limit,
            start_period=grace,
            start_interval=interval,
            pass_ends_start_period=False,
        )

    def begin(self, at: float) -> HealthState:
        """The state of a run started at ``at``: STARTING, the first probe due one (start) interval later.

        The first probe waits ``start_interval`` in a start period and ``interval`` otherwise, as
        Docker's monitor arms its first timer (moby ``daemon/health.go``, ``monitor``).
        """
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise StateError(f"begin.at: must be a finite number, got {at!r}")
        at = float(at)
        first = self.start_interval if self.start_period > 0.0 else self.interval
        return _new(HealthState, (_STARTING, 0, 0, at + first, at + self.start_period, at))

    def observe(self, state: HealthState, result: ProbeResult, at: float) -> tuple[Verdict, HealthState]:
        """The verdict after a probe's ``result`` came in at ``at``, and the state for the next probe.

        Pure and total over valid inputs; a malformed state raises :class:`StateError`, a result
        that is not a :class:`ProbeResult` or a time before the state's last one raises
        :class:`OutcomeError`, and nothing changes.

        ``at`` is when the result came in (a timeout: when it expired), and the next probe is due
        ``start_interval`` after it while in the start period and ``interval`` after it otherwise:
        Docker waits from the end of one probe to the start of the next (moby ``daemon/health.go``,
        ``monitor`` and ``defaultProbeInterval``). Docker judges the start period by when the probe
        started (``handleProbeResult``); this check judges it by ``at``, which is later by at most
        ``timeout``, so a probe straddling the end of the start period counts here.
        """
        # The hot path (one call per probe of every workload): exact type checks, no enum hashing.
        if type(state) is not HealthState:
            raise StateError(f"state: must be a HealthState, got {type(state).__name__}")
        if type(result) is not ProbeResult:
            raise OutcomeError(f"result: must be a ProbeResult, got {result!r}")
        verdict, failures, passes, due, start_ends, last_at = state
        if type(at) is not float:
            if isinstance(at, bool) or not isinstance(at, int):
                raise OutcomeError(f"observe.at: must be a finite number, got {at!r}")
            at = float(at)
        if not last_at <= at < _INF:
            raise OutcomeError(
                f"observe.at: must be finite and not before the state's last time {last_at!r}, got {at!r}"
            )
        if verdict is _UNHEALTHY:
            return _UNHEALTHY, state
        if result is _PASS:
            failures = 0
            threshold = self.success_threshold
            if passes < threshold:
                passes += 1
            if verdict is _STARTING and passes >= threshold:
                verdict = _HEALTHY
                if self.pass_ends_start_period and at < start_ends:
                    start_ends = at
        else:
            passes = 0
            if at >= start_ends:
                failures += 1
                if failures >= self.retries:
                    return _UNHEALTHY, _new(HealthState, (_UNHEALTHY, failures, 0, _INF, start_ends, at))
        due = at + (self.start_interval if at < start_ends else self.interval)
        return verdict, _new(HealthState, (verdict, failures, passes, due, start_ends, at))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data that :meth:`from_dict` turns back into an equal check."""
        from .serialize import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: object) -> HealthCheck:
        """Rebuild a check from :meth:`to_dict` output; raise :class:`PolicyError` naming the bad key."""
        from .serialize import from_dict

        return from_dict(cls, data, "health")


#: moby ``api/types/container/config.go``: ``MinimumDuration``, in seconds.
_DOCKER_MINIMUM_DURATION = 0.001
