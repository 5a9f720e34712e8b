"""The ``relaunch`` command line: check policy files, simulate and compare policies, supervise.

Conventions: ``--help`` on every command, with examples; ``--json`` for machine-readable output on
every command (``supervise``: one JSON object per decision, one per line); colour only when stdout
is a terminal (and ``NO_COLOR`` is unset); any bad input is one line on stderr naming the file, key
or flag and the value, exit code 2, no traceback, checked before anything is printed or written.
Exit codes (:data:`EXIT_CODES`): 0 done, 1 given up, 2 bad input, 130 interrupted. Everything here
is presentation: the decisions come from the kernel, the runs from :mod:`relaunch.scenarios` and
:mod:`relaunch.simulate`, the supervising from the adapters.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import attrs

from . import __version__, policyfile, report
from .kernel import Action, Cause, Policy, RelaunchError
from .report import Style
from .runs import Run, drive
from .scenarios import BUILTIN, Scenario, ScenarioError
from .scenarios import load as load_scenario
from .simulate import simulate
from .units import parse_duration, span

__all__ = ["main"]

#: The default comparison: ToolHive before and after PR #5172, the big supervisors' defaults when
#: their presets exist, and relaunch's own.
DEFAULT_COMPARE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("toolhive_legacy", {}),
    ("toolhive", {}),
    ("docker", {"policy": "on-failure"}),
    ("kubernetes", {}),
    ("systemd", {"restart": "on-failure"}),
    ("recommended", {}),
)


#: The exit codes of every command, the same for both adapters.
EXIT_CODES = {
    0: "done: the command finished, or the workload stopped (or its policy needs no restart)",
    1: "given up: the policy gave up on the workload (supervise)",
    2: "bad input: a file, flag or value is wrong; one line on stderr says which",
    130: "interrupted: Ctrl-C, SIGTERM or SIGHUP",
}
EXIT_DONE, EXIT_GIVEN_UP, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

_EXIT_HELP = "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())

#: Workload names: a letter or digit, then letters, digits, ".", "-", "_"; at most 63 characters.
#: The set is Docker's for container names ([a-zA-Z0-9][a-zA-Z0-9_.-]+, moby daemon/names
#: RestrictedNamePattern), so a name is also a valid container name and a file name with no "/" or
#: "..": it cannot leave the working directory. 63 is a DNS label's limit (RFC 1035, 2.3.4), which
#: keeps the container name ("relaunch-relaunch-" + NAME) and the state file ("relaunch-NAME.db")
#: far below the 255 bytes of a file name, and the name usable as a host name.
WORKLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
NAME_LIMIT = 63


class UsageError(Exception):
    """Bad input found by the CLI itself; ``main`` prints it as one line and exits 2."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; one line, pointing at --help, reads better in a log.
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is the container's command (supervise). argparse cannot take a
    # trailing command after options and positionals, so it never sees it.
    command: list[str] = []
    if "--" in words:
        split = words.index("--")
        words, command = words[:split], words[split + 1 :]
    try:
        parser = _build_parser()
        _refuse_unknown_options(parser, words)
        args = parser.parse_args(words)
        if command and args.command != "supervise":
            raise UsageError(f"{_prog(args)}: error: takes nothing after -- (see {_prog(args)} --help)")
    except UsageError as error:
        return _fail(str(error))
    args.cmd = command
    args.json = getattr(args, "json", False)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as error:
        return _fail(str(error))
    except (RelaunchError, ScenarioError) as error:
        return _fail(f"{_prog(args)}: error: {error}")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _prog(args: argparse.Namespace) -> str:
    return f"relaunch {args.command}"


def _fail(message: str) -> int:
    # One line, whatever the message carries (a TOML error quotes a line of the file).
    print(" ".join(message.split()), file=sys.stderr)
    return EXIT_BAD_INPUT


def _refuse_unknown_options(parser: argparse.ArgumentParser, words: list[str]) -> None:
    """Name an unknown option before argparse reports anything else, as the subcommand that got it.

    argparse checks required options first (``simulate --bogus`` would say that --preset is
    missing) and reports leftovers as the top-level ``relaunch`` (pointing at the wrong --help).
    """
    chain = [parser]
    known = set(parser._option_string_actions)
    for word in words:
        if word.startswith("-"):
            continue
        sub = _subcommands(chain[-1]).get(word)
        if sub is None:
            continue
        chain.append(sub)
        known |= set(sub._option_string_actions)
    for word in words:
        option = word.partition("=")[0]
        if option.startswith("-") and len(option) > 1 and option not in known and not _is_number(option):
            prog = chain[-1].prog
            raise UsageError(f"{prog}: error: unrecognized option: {word} (see {prog} --help)")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


# -- arguments ------------------------------------------------------------------------------------


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + _EXIT_HELP


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relaunch",
        description="Simulate, compare and apply restart policies. The decisions come from a pure kernel, "
        "so hours of failures replay in milliseconds.",
        epilog=_examples(
            "relaunch compare --scenario daemon-flaps",
            "relaunch supervise web --image nginx:alpine --preset toolhive",
        ),
    )
    parser.add_argument("--version", action="version", version=f"relaunch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    check = commands.add_parser(
        "check",
        help="validate a policy file and print the resolved policy",
        description=_CHECK_HELP,
        epilog=_examples("relaunch check examples/toolhive-3.toml", "relaunch check my-policy.toml --json"),
    )
    check.add_argument("file", metavar="FILE", help="a TOML policy file")
    _json_flag(check)
    check.set_defaults(handler=_check)

    sim = commands.add_parser(
        "simulate",
        help="replay a scenario under one policy: timeline and summary",
        description="Replay a failure scenario under one policy in virtual time and print the timeline "
        "(run, start, duration, how it ended, decision, delay, reason) and a summary. With a --health-* "
        "timing, a virtual health check (Docker's defaults for the timings not given) probes the runs: "
        "one that hangs is killed as unhealthy; without one, a hung run stays down.",
        epilog=_examples(
            "relaunch simulate --preset toolhive --scenario crash-loop",
            "relaunch simulate --policy my-policy.toml --scenario runs.jsonl --until 2h --json",
            "relaunch simulate --preset recommended --scenario hang --health-interval 10s --health-retries 3",
        ),
    )
    _policy_options(sim, required=True)
    _scenario_options(sim)
    _health_timing_options(sim)
    _json_flag(sim)
    sim.set_defaults(handler=_simulate)

    compare = commands.add_parser(
        "compare",
        help="replay a scenario under several policies: one row each, optionally a plot",
        description="Replay one failure scenario under several policies and print one row per policy: "
        "availability, restarts, when it gave up, longest outage. A policy file is shown by its name "
        "key, or else by its file name. On a scenario whose runs hang (or with a --health-* timing), "
        "each policy has two rows: without a health check, and with one (POLICY + health check; "
        "Docker's defaults for the timings not given).",
        epilog=_examples(
            "relaunch compare --scenario daemon-flaps --plot flaps.png",
            "relaunch compare --presets docker,systemd --policy mine.toml --scenario oom-creep",
            "relaunch compare --scenario hang --health-interval 10s",
        ),
    )
    compare.add_argument(
        "--presets",
        metavar="A,B,C",
        help="comma-separated presets (default: those of "
        f"{', '.join(name for name, _ in DEFAULT_COMPARE)} that exist); see `relaunch presets`",
    )
    compare.add_argument(
        "--policy",
        metavar="FILE",
        action="append",
        default=[],
        help="a TOML policy file to compare too (repeatable)",
    )
    _scenario_options(compare)
    _health_timing_options(compare)
    compare.add_argument(
        "--plot",
        metavar="FILE",
        help="draw one lane per policy to FILE.png or FILE.svg (needs matplotlib); its folder must exist",
    )
    _json_flag(compare)
    compare.set_defaults(handler=_compare)

    presets = commands.add_parser(
        "presets",
        help="list the presets, or show one",
        description="List the presets with one line each; `relaunch presets show NAME` shows one.",
        epilog=_examples("relaunch presets", "relaunch presets show systemd --json"),
    )
    _json_flag(presets)
    presets.set_defaults(handler=_presets)
    preset_commands = presets.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    show = preset_commands.add_parser(
        "show",
        help="a preset's parameters, policy and crash-loop delays",
        description="Print a preset's keywords, the policy it builds, and the delays it gives a crash loop.",
        epilog=_examples(
            "relaunch presets show toolhive", "relaunch presets show docker --set max_retries=5"
        ),
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument(
        "--set", metavar="KEY=VALUE", action="append", default=[], help="a keyword of the preset"
    )
    _json_flag(show)
    show.set_defaults(handler=_presets_show)

    supervise = commands.add_parser(
        "supervise",
        help="supervise one container (Docker) or one local command (--exec) in the foreground",
        usage="relaunch supervise [-h] NAME (--image IMAGE | --exec) [--preset NAME | --policy FILE] "
        "[--set KEY=VALUE] [--state FILE] [--network MODE] [--health-cmd CMD | --health-tcp PORT | "
        "--health-http URL] [--health-interval D] [--health-timeout D] [--health-retries N] "
        "[--health-start-period D] [--json] [-- COMMAND ...]",
        description="Supervise one container through the Docker adapter, or with --exec one local command "
        "as a process group of its own, printing a line per decision (with --json, one JSON object per "
        "decision per line). A container runs COMMAND (after --) or its image's default; Ctrl-C stops "
        "supervising and leaves it as it is. An --exec command is COMMAND; Ctrl-C (or SIGTERM, SIGHUP) "
        "stops it (SIGTERM, SIGKILL 10 s later; a second Ctrl-C kills it at once), and running the same "
        "line again starts it again, or adopts it if a killed supervisor left it running. Without "
        "--preset or --policy the policy is `recommended` (--set then sets its keywords). The command "
        "returns when the policy gives up (exit 1) or stops (exit 0), or when interrupted (exit 130). "
        "The --health-* flags are docker run's: a workload found unhealthy is stopped and restarted by the "
        "policy as an UNHEALTHY end (a container's own HEALTHCHECK counts too; Docker alone never restarts "
        "on it). --health-tcp and --health-http probe a loopback port or URL, with --exec only.",
        epilog=_examples(
            "relaunch supervise web --image nginx:alpine --network bridge --preset toolhive",
            "relaunch supervise api --exec --health-http http://127.0.0.1:8080/healthz --health-interval 5s "
            "-- ./server",
            "relaunch supervise job --exec --preset docker --set max_retries=3 -- sh -c 'exit 3'",
        ),
    )
    supervise.add_argument(
        "name",
        metavar="NAME",
        help=f"the workload's name: letters, digits, '.', '-', '_', starting with a letter or digit, "
        f"at most {NAME_LIMIT} characters",
    )
    target = supervise.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", help="the image to run (Docker)")
    target.add_argument(
        "--exec", dest="exec_", action="store_true", help="run COMMAND (after --) as a local process"
    )
    supervise.add_argument(
        "--network",
        metavar="MODE",
        help="the container's network mode (default: none; e.g. bridge, host); not with --exec",
    )
    _health_options(supervise)
    _policy_options(supervise, required=False)
    supervise.add_argument(
        "--state",
        metavar="FILE",
        help=f"the state file, in a folder that exists (default: {CONTAINER_STATE} in the current folder; "
        f"with --exec, {EXEC_STATE.format(name='NAME')})",
    )
    _json_flag(supervise, "print one JSON object per decision, one per line")
    supervise.set_defaults(handler=_supervise)

    status = commands.add_parser(
        "status",
        help="show the workloads in state files",
        description="Show the persisted workloads: those of --state FILE, or by default those of every "
        f"state file supervise writes by default in the current folder ({CONTAINER_STATE} and "
        f"{EXEC_STATE.format(name='*')}).",
        epilog=_examples("relaunch status", "relaunch status --state /var/lib/relaunch/web.db --json"),
    )
    status.add_argument(
        "--state",
        metavar="FILE",
        help=f"the state file (default: {CONTAINER_STATE} and {EXEC_STATE.format(name='*')} here)",
    )
    _json_flag(status)
    status.set_defaults(handler=_status)
    return parser


_CHECK_HELP = """Validate a TOML policy file and print the policy it resolves to. A file is either a preset
with keywords (preset = "toolhive", then max_retries = 5 ...) or a policy spelled out part by part
(mode = "always", [backoff] kind = "exponential" ...), the shape `relaunch check --json` prints.
TOML has no null: write "none". Durations are seconds or strings with units: 90, "30s", "1h30m"."""


def _json_flag(parser: argparse.ArgumentParser, text: str = "print JSON instead of text") -> None:
    # SUPPRESS: `presets --json show NAME` keeps the --json given before the subcommand.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=text)


def _policy_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
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


def _health_options(parser: argparse.ArgumentParser) -> None:
    """docker run's health flags (docs.docker.com, ``docker run``: ``--health-cmd`` and the rest),
    plus the two probes only a local process can have here."""
    probe = parser.add_mutually_exclusive_group()
    probe.add_argument("--health-cmd", metavar="CMD", help="a shell command: exit 0 is healthy")
    probe.add_argument("--health-tcp", metavar="PORT", help="--exec: connect to 127.0.0.1:PORT")
    probe.add_argument(
        "--health-http", metavar="URL", help="--exec: GET a loopback http:// URL; 2xx/3xx is healthy"
    )
    _health_timing_options(parser)


def _health_timing_options(parser: argparse.ArgumentParser) -> None:
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


def _health(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """The health flags as (Docker ``healthcheck`` create() option, process ``Health`` or None).

    Zero or an absent flag means Docker's default, as with ``docker run``; a container without
    --health-cmd keeps its image's test and takes the timings given (the daemon merges them).
    """
    from .kernel import HealthCheck

    def fail(flag: str, problem: str) -> NoReturn:
        _bad_flag(args, flag, problem)

    timings, retries = _health_timings(args)
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
    from .adapters.probes import ExecProbe, Health, HttpProbe, TcpProbe

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


def _bad_flag(args: argparse.Namespace, flag: str, problem: str) -> NoReturn:
    raise UsageError(f"{_prog(args)}: error: {flag}: {problem}")


def _health_timings(args: argparse.Namespace) -> tuple[dict[str, float], int]:
    """--health-interval, --health-timeout and --health-start-period in seconds (those given), and
    --health-retries (0 if absent); zero means Docker's default, as with ``docker run``."""

    def fail(flag: str, problem: str) -> NoReturn:
        _bad_flag(args, flag, problem)

    timings: dict[str, float] = {}
    for key in ("interval", "timeout", "start_period"):
        value = getattr(args, f"health_{key}")
        if value is not None:
            flag = "--health-" + key.replace("_", "-")
            try:
                timings[key] = parse_duration(value, flag)
            except ValueError as error:
                raise UsageError(f"{_prog(args)}: error: {error}") from None
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


def _health_check(args: argparse.Namespace, *, default: bool) -> Any:
    """The ``HealthCheck`` the --health-* timings describe (Docker's defaults for the others); with
    none of them given, Docker's default check if ``default``, else None."""
    from .kernel import HealthCheck

    timings, retries = _health_timings(args)
    if not timings and args.health_retries is None and not default:
        return None
    return HealthCheck.docker(retries=retries, **timings)


def _scenario_options(parser: argparse.ArgumentParser) -> None:
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


#: The policy of ``supervise`` without --preset or --policy.
DEFAULT_PRESET = "recommended"


def _policy(args: argparse.Namespace) -> Policy:
    """The policy of --policy or --preset (``recommended`` if neither), with --set applied to it."""
    if args.policy:
        return policyfile.load(args.policy, args.set)
    params = policyfile.with_overrides({}, args.set)
    return policyfile.preset(args.preset or DEFAULT_PRESET, params, where="--set ")


def _run_options(args: argparse.Namespace) -> tuple[Scenario, float | None, int]:
    scenario = load_scenario(args.scenario)
    until = None
    if args.until is not None:
        try:
            until = parse_duration(args.until, "--until")
        except ValueError as error:
            raise UsageError(f"{_prog(args)}: error: {error}") from None
        if until == 0:
            raise UsageError(f"{_prog(args)}: error: --until: must be > 0, got {args.until!r}")
    if not 0 <= args.seed < 1 << 64:
        raise UsageError(f"{_prog(args)}: error: --seed: must be in 0..2**64-1, got {args.seed}")
    return scenario, until, args.seed


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


# -- check and presets ------------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    policy = policyfile.load(args.file)
    if args.json:
        _print_json(policy.to_dict())
        return 0
    style = Style(sys.stdout)
    print(style.good(f"{args.file}: ok") + f", resolves to {policy.name!r}:")
    print(_indent(policy.describe()))
    print()
    print(style.dim("# the same policy spelled out, as a policy file:"))
    print(policyfile.dumps_toml(policy.to_dict()), end="")
    return 0


def _presets(args: argparse.Namespace) -> int:
    names = policyfile.preset_names()
    if args.json:
        _print_json({name: policyfile.describe_preset(name) for name in names})
        return 0
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {policyfile.describe_preset(name)}")
    return 0


#: Restarts shown for a crash loop that is never given up.
_CRASH_LOOP_SHOWN = 12


def _crash_loop_delays(policy: Policy) -> tuple[list[float], bool]:
    """The delays a policy gives runs that each exit 1 after 0.5 s, and whether it gives up."""
    crashes = [Run(0.5, exit_code=1)] * (_CRASH_LOOP_SHOWN + 1)
    decisions = list(drive(policy, policy.start(at=0.0), crashes))[:_CRASH_LOOP_SHOWN]
    delays = [d.delay for d in decisions if d.restarts]
    return delays, decisions[-1].action is Action.GIVE_UP


def _presets_show(args: argparse.Namespace) -> int:
    params = policyfile.with_overrides({}, args.set)
    policy = policyfile.preset(args.name, params, where="--set ")
    delays, gives_up = _crash_loop_delays(policy)
    keywords = {**policyfile.parameters(args.name), **params}
    if args.json:
        _print_json(
            {
                "name": args.name,
                "description": policyfile.describe_preset(args.name),
                "parameters": keywords,
                "policy": policy.to_dict(),
                "crash_loop": {"delays": delays, "gives_up": gives_up},
            }
        )
        return 0
    style = Style(sys.stdout)
    print(style.bold(args.name) + f": {policyfile.describe_preset(args.name)}")
    print()
    print(style.dim("# its keywords, as a policy file:"))
    print(policyfile.dumps_toml({"preset": args.name, **keywords}))
    print(policy.describe())
    print()
    sequence = ", ".join(span(delay) for delay in delays)
    if gives_up:
        ending = style.bad(f"then gives up ({len(delays)} restarts)")
    elif len(delays) == _CRASH_LOOP_SHOWN:
        ending = "..."
    else:
        ending = "then stops"
    print(f"crash loop (exit 1 after 0.5s): {sequence}{', ' if sequence else ''}{ending}")
    return 0


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


# -- simulate and compare ---------------------------------------------------------------------------


def _simulate(args: argparse.Namespace) -> int:
    scenario, until, seed = _run_options(args)
    health = _health_check(args, default=False)
    result = simulate(_policy(args), scenario, until=until, seed=seed, health=health)
    if args.json:
        _print_json(report.simulation_json(result))
    else:
        print(report.timeline(result, Style(sys.stdout)))
    return 0


def _compare(args: argparse.Namespace) -> int:
    scenario, until, seed = _run_options(args)
    policies = [policyfile.preset(name, params) for name, params in _compared_presets(args)]
    from_files = [policyfile.load(path, default_name=Path(path).stem) for path in args.policy]
    taken = [policy.name for policy in policies + from_files]
    # Two files named alike (a/x.toml, b/x.toml), or a file named as a preset: show their paths.
    policies += [
        attrs.evolve(policy, name=path) if taken.count(policy.name) > 1 else policy
        for policy, path in zip(from_files, args.policy, strict=True)
    ]
    if not policies:
        raise UsageError(f"{_prog(args)}: error: --presets: no policy to compare")
    health = _health_check(args, default=scenario.hangs)
    if args.plot:
        _folder_exists(args, "--plot", args.plot)
    checks = [None] if health is None else [None, health]
    results = [
        simulate(policy, scenario, until=until, seed=seed, health=check)
        for policy in policies
        for check in checks
    ]
    if args.plot:
        from .plot import PlotError, render

        try:
            render(results, args.plot)
        except PlotError as error:
            raise UsageError(f"{_prog(args)}: error: {error}") from None
    if args.json:
        _print_json({**report.comparison_json(results), "plot": args.plot})
        return 0
    style = Style(sys.stdout)
    print(report.comparison(results, style))
    if args.plot:
        print(style.dim(f"plot written to {args.plot}"))
    return 0


def _compared_presets(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    if args.presets is None:
        if args.policy:
            return []
        available = set(policyfile.preset_names())
        return [(name, params) for name, params in DEFAULT_COMPARE if name in available]
    names = [name.strip() for name in args.presets.split(",") if name.strip()]
    for name in names:
        policyfile.preset(name)  # fails early, naming the known presets
    return [(name, {}) for name in names]


# -- supervise and status (the adapters) -----------------------------------------------------------

#: The supervisor id the CLI's containers and state files carry (the adapter labels containers with it).
SUPERVISOR_ID = "relaunch"

#: Where state lives unless --state says otherwise, in the current folder: one file for the
#: containers, one per --exec workload (two supervisor processes must not share one file).
CONTAINER_STATE = "relaunch-state.db"
EXEC_STATE = "relaunch-{name}.db"


def default_state_path(name: str, *, exec_: bool) -> Path:
    """Where ``supervise`` keeps its state without --state: ``relaunch-state.db`` for a container,
    ``relaunch-NAME.db`` for ``--exec NAME``, in the current folder."""
    return Path(EXEC_STATE.format(name=name) if exec_ else CONTAINER_STATE)


def default_state_paths(folder: Path | None = None) -> list[Path]:
    """The state files ``status`` reads without --state: every file :func:`default_state_path`
    can name in ``folder`` (default: the current one) that exists, ``relaunch-state.db`` first."""
    folder = Path.cwd() if folder is None else folder
    container = folder / CONTAINER_STATE
    found = [container] if container.is_file() else []
    pattern = EXEC_STATE.format(name="*")
    found += sorted(p for p in folder.glob(pattern) if p.name != CONTAINER_STATE and p.is_file())
    return [p if folder != Path.cwd() else Path(p.name) for p in found]


def _check_name(args: argparse.Namespace) -> None:
    name = args.name
    if not WORKLOAD_NAME.fullmatch(name):
        if len(name) > NAME_LIMIT:
            problem = f"at most {NAME_LIMIT} characters, got {len(name)}"
        else:
            problem = f"letters, digits, '.', '-', '_', starting with a letter or digit; got {name!r}"
        raise UsageError(f"{_prog(args)}: error: NAME: must be {problem}")


def _folder_exists(args: argparse.Namespace, flag: str, path: str) -> None:
    """Refuse a file in a folder that does not exist, rather than create the folder."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise UsageError(f"{_prog(args)}: error: {flag} {path}: the folder {str(folder)!r} does not exist")
    if Path(path).is_dir():
        raise UsageError(f"{_prog(args)}: error: {flag} {path}: is a folder, not a file")


def _adapter(args: argparse.Namespace, module: str) -> Any:
    """Import an adapter module, or fail with one line saying what is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == "docker" or (error.name or "").startswith("docker."):
            raise UsageError(
                f"{_prog(args)}: error: needs the Docker SDK, which is not installed: "
                "in the relaunch checkout, pip install -e '.[docker]'"
            ) from None
        if error.name is not None and module.startswith(error.name):
            raise UsageError(
                f"{_prog(args)}: error: needs the Docker adapter ({module}), "
                "which this version of relaunch does not include"
            ) from None
        raise


def _state_error(args: argparse.Namespace, path: Path, error: Exception) -> UsageError:
    """A state file that cannot be used, as one line naming it."""
    if isinstance(error, UnicodeDecodeError):
        why = f"not a relaunch state file: byte {error.start} is not UTF-8 text"
    elif isinstance(error, OSError):
        why = f"cannot read: {error.strerror or error}"
    else:
        why = str(error).replace(f"state store {path}: ", "").replace(f"{path}: ", "")
    return UsageError(f"{_prog(args)}: error: {path}: {why}")


def _reporter(args: argparse.Namespace) -> Callable[[Any], None]:
    """Print each decision: one line of text, or (``--json``) one JSON object per line."""
    style = Style(sys.stdout)

    def report(event: Any) -> None:
        decision, outcome = event.decision, event.outcome
        detail = getattr(event, "detail", "")
        health = getattr(event, "health", None)
        if args.json:
            record = {
                "workload": event.name,
                "action": decision.action.value,
                "delay": decision.delay,
                "attempt": decision.attempt,
                "rule": decision.rule.value,
                "reason": decision.reason,
                "cause": outcome.cause.value,
                "exit_code": outcome.exit_code,
                "signal": outcome.signal,
                "detail": detail or None,
                "health": None
                if health is None
                else {
                    "verdict": health.verdict.value,
                    "failures": health.failures,
                    "output": health.output,
                },
                "ended_at": datetime.fromtimestamp(outcome.ended_at, UTC).isoformat(timespec="seconds"),
            }
            print(json.dumps(record), flush=True)
            return
        action = decision.action.value
        line = f"{event.name}: {action}" + (f" in {span(decision.delay)}" if decision.restarts else "")
        # The runtime's own words (Docker's error, the OS's) say why a start failed.
        why = f" ({detail})" if detail else ""
        if health is not None and outcome.cause is Cause.UNHEALTHY:
            why = f" ({health.failures} failed probes: {health.output or 'no output'})"
        print(f"{style.bold(line)}: {decision.reason}{why}", flush=True)

    return report


def _say(args: argparse.Namespace, text: str) -> None:
    """A line for the person at the terminal; with --json it goes to stderr, stdout being data."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


class _Foreground:
    """Run one supervised workload until its policy gives up or stops it, or the user interrupts.

    The same for both adapters: exit 1 on a give-up, 0 on a stop, 130 when interrupted. A
    container is left as it is on Ctrl-C; an --exec command is stopped (SIGTERM, then SIGKILL
    after the grace), with a line saying so, and a second Ctrl-C kills it at once.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.done = threading.Event()
        self.signalled = threading.Event()
        self._emit = _reporter(args)

    def hook(self, event: Any) -> None:
        self._emit(event)
        if not event.decision.restarts:
            self.done.set()

    def run(self, sup: Any, runtime: Any, phase: Any, banner: str, grace: float = 0.0) -> int:
        args, name = self.args, self.args.name
        previous = {
            signum: signal.signal(signum, lambda signum, frame: self.signalled.set())
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        interrupts = 0
        try:
            # Only now: a Ctrl-C the moment the banner is read must find the handlers in place.
            _say(args, banner)
            # A workload the state file knows as stopped or given up: running the line again is
            # the operator's start.
            # (A decision already reported is this run's own, e.g. a start that failed at once.)
            if sup.status(name).phase in (phase.STOPPED, phase.GIVEN_UP) and not self.done.is_set():
                sup.start(name)
            while not self.done.wait(0.1):  # short waits: the handlers run on this thread
                if not self.signalled.is_set():
                    continue
                self.signalled.clear()
                interrupts += 1
                if not args.exec_:
                    _say(args, f"\nstopped supervising {name}; the container is left as it is")
                    return EXIT_INTERRUPTED
                if interrupts == 1:
                    _say(
                        args,
                        f"\nstopping {name}: sent SIGTERM, waiting up to {span(grace)} for it to exit "
                        "(Ctrl-C again kills it now)",
                    )
                    sup.stop(name)
                else:
                    _say(args, f"killing {name} now (SIGKILL)")
                    runtime.kill(name)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if interrupts:
            return EXIT_INTERRUPTED
        return EXIT_GIVEN_UP if sup.status(name).phase is phase.GIVEN_UP else EXIT_DONE


def _supervise(args: argparse.Namespace) -> int:
    _check_name(args)
    if args.exec_ and args.network is not None:
        raise UsageError(f"{_prog(args)}: error: --network {args.network}: only for --image, not --exec")
    if args.exec_ and not args.cmd:
        raise UsageError(f"{_prog(args)}: error: --exec needs a command after -- (see {_prog(args)} --help)")
    state = Path(args.state) if args.state else default_state_path(args.name, exec_=args.exec_)
    _folder_exists(args, "--state", str(state))
    docker_check, health = _health(args)
    policy = _policy(args)
    supervisor = _adapter(args, "relaunch.adapters.supervisor")
    foreground = _Foreground(args)
    if args.exec_:
        import shlex

        process = _adapter(args, "relaunch.adapters.process")
        runtime, grace = process.ProcessRuntime(), process.STOP_GRACE_S
        spec = process.ProcessSpec(args.cmd, health)
        banner = f"supervising {args.name} ({shlex.join(args.cmd)}) with {policy.name}; Ctrl-C stops it"
    else:
        docker = _adapter(args, "relaunch.adapters.docker")
        sdk_errors = _adapter(args, "docker.errors")
        try:
            runtime = docker.DockerRuntime(SUPERVISOR_ID)
        except (ValueError, sdk_errors.DockerException) as error:  # a bad DOCKER_HOST
            raise UsageError(f"{_prog(args)}: error: cannot talk to the Docker daemon: {error}") from None
        # No network unless asked: supervising must not open a path the user did not choose.
        options: dict[str, Any] = {"network_mode": args.network or "none"}
        if docker_check:
            options["healthcheck"] = docker_check
        spec = docker.ContainerSpec(args.image, args.cmd or None, options)
        banner = f"supervising {args.name} ({args.image}) with {policy.name}; Ctrl-C stops supervising"
        grace = 0.0
    try:
        sup = supervisor.Supervisor(runtime, str(state), on_decision=foreground.hook)
    except (OSError, ValueError, RuntimeError) as error:  # an unreadable or foreign state file
        runtime.close()
        raise _state_error(args, state, error) from None
    try:
        try:
            sup.add(args.name, spec, policy)
        except supervisor.SupervisorError as error:  # e.g. a container of that name not ours
            raise UsageError(f"{_prog(args)}: error: {error}") from None
        return foreground.run(sup, runtime, supervisor.Phase, banner, grace)
    finally:
        sup.close()


def _status(args: argparse.Namespace) -> int:
    if args.state is not None:
        paths = [Path(args.state)]
    else:
        paths = default_state_paths()
        if not paths:
            raise UsageError(
                f"{_prog(args)}: error: no state file here ({CONTAINER_STATE} or "
                f"{EXEC_STATE.format(name='NAME')}, which supervise writes by default); "
                "give the one supervise --state wrote with --state FILE"
            )
    rows: dict[str, dict[str, Any]] = {}
    for path in paths:
        for name, row in _read_status(args, path).items():
            rows[name if name not in rows else f"{name} ({path})"] = row
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"{', '.join(map(str, paths))}: no workloads")
    for name, row in rows.items():
        restart = "" if row["restart_at"] is None else f", restart at {row['restart_at']}"
        print(
            f"{name}: {row['phase']}, {row['restarts']} restarts ({row['attempt']} in this streak){restart}"
        )
        if row["reason"]:
            print(f"  last decision: {row['reason']}")
    return 0


def _read_status(args: argparse.Namespace, path: Path) -> dict[str, dict[str, Any]]:
    """The status rows of one state store. The reading (and the check of every row) is the
    store's; this turns every failure into one line naming the file (and the workload)."""
    if path.is_dir():
        raise UsageError(f"{_prog(args)}: error: {path}: is a folder, not a state file")
    if not path.exists():
        hint = f" (supervise --exec NAME writes {EXEC_STATE.format(name='NAME')})"
        hint = "" if args.state is None else hint
        raise UsageError(f"{_prog(args)}: error: {path}: no such state file{hint}")
    store = _adapter(args, "relaunch.adapters.store")
    try:
        meta, records = store.read_store(path)
    except (OSError, ValueError) as error:  # StoreError names the workload and field of a bad row
        raise _state_error(args, path, error) from None
    rows = {name: _workload_status(record) for name, record in sorted(records.items())}
    for row in rows.values():
        row["saved_at"] = None if meta.last_commit_at is None else _iso(meta.last_commit_at)
        if args.state is None:
            row["state_file"] = str(path)
    return rows


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _workload_status(record: Any) -> dict[str, Any]:
    """One persisted workload (a ``store.WorkloadRecord``, checked when read) as a status row."""
    return {
        "phase": record.phase.value,
        "restarts": record.state.restarts,
        "attempt": record.state.attempt,
        "given_up": record.state.given_up,
        "restart_at": None if record.restart_at is None else _iso(record.restart_at),
        "rule": None if record.rule is None else record.rule.value,
        "reason": record.reason,
    }
