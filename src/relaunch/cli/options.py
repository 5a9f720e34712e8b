"""The options several commands take, and their reading: the policy, the health check, the scenario.

Each ``*_options`` function adds a group of flags to a command's parser; the function of the same
stem reads them back into a value (a ``Policy``, a ``HealthCheck``, a scenario), raising
:class:`~relaunch.cli.common.UsageError` that names the flag and the value.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .. import policyfile
from ..kernel import HealthCheck, Policy
from ..scenarios import BUILTIN, Scenario
from ..scenarios import load as load_scenario
from ..units import parse_duration
from .common import UsageError, bad_flag, prog

#: The policy of ``supervise`` without --preset or --policy.
DEFAULT_PRESET = "recommended"


def policy_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--preset", metavar="NAME", help="a preset (see `relaunch presets`)")
    group.add_argument("--policy", metavar="FILE", help="a TOML policy file (see `relaunch check --help`)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a preset keyword or a policy key (dotted: backoff.factor=3); repeatable",
    )


def policy(args: argparse.Namespace) -> Policy:
    """The policy of --policy or --preset (``recommended`` if neither), with --set applied to it."""
    if args.policy:
        return policyfile.load(args.policy, args.set)
    params = policyfile.with_overrides({}, args.set)
    return policyfile.preset(args.preset or DEFAULT_PRESET, params, where="--set ")


def health_options(parser: argparse.ArgumentParser) -> None:
    """docker run's health flags (docs.docker.com, ``docker run``: ``--health-cmd`` and the rest),
    plus the two probes only a local process can have here."""
    probe = parser.add_mutually_exclusive_group()
    probe.add_argument("--health-cmd", metavar="CMD", help="a shell command: exit 0 is healthy")
    probe.add_argument("--health-tcp", metavar="PORT", help="--exec: connect to 127.0.0.1:PORT")
    probe.add_argument(
        "--health-http", metavar="URL", help="--exec: GET a loopback http:// URL; 2xx/3xx is healthy"
    )
    health_timing_options(parser)


def health(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """The health flags as (Docker ``healthcheck`` create() option, process ``Health`` or None).

    Zero or an absent flag means Docker's default, as with ``docker run``; a container without
    --health-cmd keeps its image's test and takes the timings given (the daemon merges them).
    """

    def fail(flag: str, problem: str) -> NoReturn:
        bad_flag(args, flag, problem)

    timings, retries = health_timings(args)
    probes = [f for f in ("cmd", "tcp", "http") if getattr(args, f"health_{f}") is not None]
    if not args.exec_:
        for kind in ("tcp", "http"):
            if kind in probes:
                fail(f"--health-{kind} {getattr(args, f'health_{kind}')}", "only for --exec, not --image")
        docker_check: dict[str, Any] = {k: int(v * 1e9) for k, v in timings.items()}
        if retries:
            docker_check["retries"] = retries
        if args.health_cmd is not None:
            docker_check["test"] = ["CMD-SHELL", args.health_cmd]
        return docker_check, None
    if not probes:
        given = [f"--health-{k.replace('_', '-')}" for k in timings] + (
            ["--health-retries"] if args.health_retries is not None else []
        )
        if given:
            fail(given[0], "needs --health-cmd, --health-tcp or --health-http with --exec")
        return {}, None
    from ..adapters.probes import ExecProbe, Health, HttpProbe, TcpProbe

    check = HealthCheck.docker(retries=retries, **timings)
    if args.health_cmd is not None:
        return {}, Health(ExecProbe(["sh", "-c", args.health_cmd]), check)
    if args.health_tcp is not None:
        if not args.health_tcp.isdigit() or not 0 < int(args.health_tcp) < 65536:
            fail("--health-tcp", f"must be a port number 1-65535, got {args.health_tcp!r}")
        return {}, Health(TcpProbe(int(args.health_tcp)), check)
    try:
        return {}, Health(HttpProbe(args.health_http), check)
    except ValueError as error:
        fail("--health-http", str(error).split(": ", 1)[1])


def health_timing_options(parser: argparse.ArgumentParser) -> None:
    """docker run's health timings: ``supervise`` gives them to its probes, ``simulate`` and
    ``compare`` to virtual ones."""
    for flag, what in (
        ("interval", "between probes (default 30s)"),
        ("timeout", "a probe may take (default 30s)"),
        ("start-period", "after a start during which failures do not count (default 0s)"),
    ):
        parser.add_argument(f"--health-{flag}", metavar="DURATION", help=f"time {what}")
    parser.add_argument(
        "--health-retries", metavar="N", help="failures in a row that make it unhealthy (default 3)"
    )


def health_timings(args: argparse.Namespace) -> tuple[dict[str, float], int]:
    """--health-interval, --health-timeout and --health-start-period in seconds (those given), and
    --health-retries (0 if absent); zero means Docker's default, as with ``docker run``."""

    def fail(flag: str, problem: str) -> NoReturn:
        bad_flag(args, flag, problem)

    timings: dict[str, float] = {}
    for key in ("interval", "timeout", "start_period"):
        value = getattr(args, f"health_{key}")
        if value is not None:
            flag = "--health-" + key.replace("_", "-")
            try:
                timings[key] = parse_duration(value, flag)
            except ValueError as error:
                raise UsageError(f"{prog(args)}: error: {error}") from None
            if 0 < timings[key] < 0.001:
                fail(flag, f"must be 0 (Docker's default) or at least 1ms, got {value!r}")
    retries = 0
    if args.health_retries is not None:
        try:
            retries = int(args.health_retries)
        except ValueError:
            retries = -1
        if retries < 0:
            fail("--health-retries", f"must be a whole number >= 0, got {args.health_retries!r}")
    return timings, retries


def health_check(args: argparse.Namespace, *, default: bool) -> HealthCheck | None:
    """The ``HealthCheck`` the --health-* timings describe (Docker's defaults for the others); with
    none of them given, Docker's default check if ``default``, else None."""
    timings, retries = health_timings(args)
    if not timings and args.health_retries is None and not default:
        return None
    return HealthCheck.docker(retries=retries, **timings)


def scenario_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        default="daemon-flaps",
        help=f"a built-in scenario ({', '.join(BUILTIN)}; default daemon-flaps), "
        "a .jsonl file of runs or a .toml workload model",
    )
    parser.add_argument(
        "--until", metavar="DURATION", help="virtual time to simulate, e.g. 2h (default: the scenario's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenario and the jitter (default 0)")


def scenario(args: argparse.Namespace) -> tuple[Scenario, float | None, int]:
    """The scenario of --scenario, the virtual time of --until (None: the scenario's), the --seed."""
    loaded = load_scenario(args.scenario)
    until = None
    if args.until is not None:
        try:
            until = parse_duration(args.until, "--until")
        except ValueError as error:
            raise UsageError(f"{prog(args)}: error: {error}") from None
        if until == 0:
            raise UsageError(f"{prog(args)}: error: --until: must be > 0, got {args.until!r}")
    if not 0 <= args.seed < 1 << 64:
        raise UsageError(f"{prog(args)}: error: --seed: must be in 0..2**64-1, got {args.seed}")
    return loaded, until, args.seed
