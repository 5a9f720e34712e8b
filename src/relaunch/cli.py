"""The ``relaunch`` command line: check policy files, simulate and compare policies, supervise.

Conventions: ``--help`` on every command; ``--json`` for machine-readable output; colour only when
stdout is a terminal (and ``NO_COLOR`` is unset); any bad input is one line on stderr, exit code 2,
no traceback. Everything here is presentation: the decisions come from the kernel, the runs from
:mod:`relaunch.scenarios` and :mod:`relaunch.simulate`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from . import __version__, policyfile, report
from .kernel import Action, Policy, RelaunchError
from .report import Style
from .runs import Run, drive
from .scenarios import BUILTIN, Scenario, ScenarioError
from .scenarios import load as load_scenario
from .simulate import simulate
from .units import parse_duration, span

__all__ = ["main"]

#: The default comparison: ToolHive before and after PR #5172, the big supervisors when their
#: presets exist (Docker and systemd restart nothing unconfigured, so with their usual on-failure),
#: and relaunch's own.
DEFAULT_COMPARE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("toolhive_legacy", {}),
    ("toolhive", {}),
    ("docker", {"policy": "on-failure"}),
    ("kubernetes", {}),
    ("systemd", {"restart": "on-failure"}),
    ("recommended", {}),
)


class UsageError(Exception):
    """Bad input found by the CLI itself; ``main`` prints it as one line and exits 2."""


class _Parser(argparse.ArgumentParser):
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
        args = _build_parser().parse_args(words)
        if command and args.command != "supervise":
            raise UsageError(f"{_prog(args)}: error: takes nothing after -- (see {_prog(args)} --help)")
    except UsageError as error:
        return _fail(str(error))
    args.cmd = command
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as error:
        return _fail(str(error))
    except (RelaunchError, ScenarioError) as error:
        return _fail(f"{_prog(args)}: error: {error}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _prog(args: argparse.Namespace) -> str:
    return f"relaunch {args.command}"


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


# -- arguments ------------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relaunch",
        description="Simulate, compare and apply restart policies. The decisions come from a pure kernel, "
        "so hours of failures replay in milliseconds.",
    )
    parser.add_argument("--version", action="version", version=f"relaunch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    check = commands.add_parser(
        "check", help="validate a policy file and print the resolved policy", description=_CHECK_HELP
    )
    check.add_argument("file", metavar="FILE", help="a TOML policy file")
    _json_flag(check)
    check.set_defaults(handler=_check)

    sim = commands.add_parser(
        "simulate",
        help="replay a scenario under one policy: timeline and summary",
        description="Replay a failure scenario under one policy in virtual time and print the timeline "
        "(run, start, duration, how it ended, decision, delay, reason) and a summary.",
    )
    _policy_options(sim, required=True)
    _scenario_options(sim)
    _json_flag(sim)
    sim.set_defaults(handler=_simulate)

    compare = commands.add_parser(
        "compare",
        help="replay a scenario under several policies: one row each, optionally a plot",
        description="Replay one failure scenario under several policies and print one row per policy: "
        "availability, restarts, when it gave up, longest outage.",
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
    compare.add_argument(
        "--plot", metavar="FILE", help="draw one lane per policy to FILE.png or FILE.svg (needs matplotlib)"
    )
    _json_flag(compare)
    compare.set_defaults(handler=_compare)

    presets = commands.add_parser(
        "presets",
        help="list the presets, or show one",
        description="List the presets with one line each; `relaunch presets show NAME` shows one.",
    )
    _json_flag(presets)
    presets.set_defaults(handler=_presets)
    preset_commands = presets.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    show = preset_commands.add_parser(
        "show",
        help="a preset's parameters, policy and crash-loop delays",
        description="Print a preset's keywords, the policy it builds, and the delays it gives a crash loop.",
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
        "[--set KEY=VALUE] [--state FILE] [--network MODE] [-- COMMAND ...]",
        description="Supervise one container through the Docker adapter, or with --exec one local command "
        "as a process group of its own, printing a line per decision. A container runs COMMAND (after --) "
        "or its image's default, and Ctrl-C stops supervising and leaves it as it is. An --exec command "
        "is COMMAND; Ctrl-C (or SIGTERM, SIGHUP) stops it (SIGTERM, SIGKILL 10 s later), and running the "
        "same line again starts it again, or adopts it if a killed supervisor left it running. Without "
        "--preset or --policy the policy is `recommended`.",
    )
    supervise.add_argument("name", metavar="NAME", help="the workload's name")
    target = supervise.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", help="the image to run (Docker)")
    target.add_argument(
        "--exec", dest="exec_", action="store_true", help="run COMMAND (after --) as a local process"
    )
    supervise.add_argument(
        "--network",
        default="none",
        help="the container's network mode (default: none; e.g. bridge, host)",
    )
    _policy_options(supervise, required=False)
    supervise.add_argument(
        "--state",
        metavar="FILE",
        help="the state store (default: relaunch-state.db; with --exec, relaunch-NAME.db)",
    )
    supervise.set_defaults(handler=_supervise)

    status = commands.add_parser(
        "status", help="show the workloads in a state file", description="Show the persisted workloads."
    )
    status.add_argument("--state", metavar="FILE", default="relaunch-state.db", help="the state store")
    _json_flag(status)
    status.set_defaults(handler=_status)
    return parser


_CHECK_HELP = """Validate a TOML policy file and print the policy it resolves to. A file is either a preset
with keywords (preset = "toolhive", then max_retries = 5 ...) or a policy spelled out part by part
(mode = "always", [backoff] kind = "exponential" ...), the shape `relaunch check --json` prints.
TOML has no null: write "none"."""


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


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


def _policy(args: argparse.Namespace) -> Policy:
    if args.policy:
        return policyfile.load(args.policy, args.set)
    params = policyfile.with_overrides({}, args.set)
    return policyfile.preset(args.preset, params, where="--set ")


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
    result = simulate(_policy(args), scenario, until=until, seed=seed)
    if args.json:
        _print_json(report.simulation_json(result))
    else:
        print(report.timeline(result, Style(sys.stdout)))
    return 0


def _compare(args: argparse.Namespace) -> int:
    scenario, until, seed = _run_options(args)
    policies = [policyfile.preset(name, params) for name, params in _compared_presets(args)]
    policies += [policyfile.load(path) for path in args.policy]
    if not policies:
        raise UsageError(f"{_prog(args)}: error: --presets: no policy to compare")
    results = [simulate(policy, scenario, until=until, seed=seed) for policy in policies]
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


# -- supervise and status (the Docker adapter) -----------------------------------------------------

#: The supervisor id the CLI's containers and state files carry (the adapter labels containers with it).
SUPERVISOR_ID = "relaunch"


def _adapter(args: argparse.Namespace, module: str) -> Any:
    """Import an adapter module, or fail with one line saying what is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == "docker" or (error.name or "").startswith("docker."):
            raise UsageError(
                f"{_prog(args)}: error: needs the Docker SDK, which is not installed: "
                "pip install 'relaunch[docker]'"
            ) from None
        if error.name is not None and module.startswith(error.name):
            raise UsageError(
                f"{_prog(args)}: error: needs the Docker adapter ({module}), "
                "which this version of relaunch does not include"
            ) from None
        raise


def _reporter() -> Callable[[Any], None]:
    style = Style(sys.stdout)

    def report(event: Any) -> None:
        decision = event.decision
        action = decision.action.value
        line = f"{event.name}: {action}" + (f" in {span(decision.delay)}" if decision.restarts else "")
        print(f"{style.bold(line)}: {decision.reason}", flush=True)

    return report


def _supervise_exec(args: argparse.Namespace) -> int:
    import shlex

    process = _adapter(args, "relaunch.adapters.process")
    if not args.cmd:
        raise UsageError(f"{_prog(args)}: error: --exec needs a command after -- (see {_prog(args)} --help)")
    policy = _policy(args) if args.preset or args.policy else policyfile.preset("recommended")
    # One state file per supervisor process: two supervisors sharing one would overwrite each other.
    state = args.state or f"relaunch-{args.name}.db"
    print(f"supervising {args.name} ({shlex.join(args.cmd)}) with {policy.name}; Ctrl-C stops it", flush=True)
    try:
        code: int = process.run_foreground(args.name, args.cmd, policy, state, on_decision=_reporter())
    except (OSError, ValueError, RuntimeError) as error:  # an unreadable or foreign state file
        raise UsageError(f"{_prog(args)}: error: {error}") from None
    return code


def _supervise(args: argparse.Namespace) -> int:
    import threading

    if args.exec_:
        return _supervise_exec(args)
    supervisor = _adapter(args, "relaunch.adapters.supervisor")
    docker = _adapter(args, "relaunch.adapters.docker")
    policy = _policy(args) if args.preset or args.policy else policyfile.preset("recommended")
    report = _reporter()
    args.state = args.state or "relaunch-state.db"

    sdk_errors = _adapter(args, "docker.errors")
    try:
        runtime = docker.DockerRuntime(SUPERVISOR_ID)
    except sdk_errors.DockerException as error:
        raise UsageError(f"{_prog(args)}: error: cannot talk to the Docker daemon: {error}") from None
    try:
        sup = supervisor.Supervisor(runtime, args.state, on_decision=report)
    except (OSError, ValueError, RuntimeError) as error:  # an unreadable or foreign state file
        runtime.close()
        raise UsageError(f"{_prog(args)}: error: {error}") from None
    # No network unless asked: supervising must not open a path the user did not choose.
    spec = docker.ContainerSpec(args.image, args.cmd or None, {"network_mode": args.network})
    try:
        try:
            sup.add(args.name, spec, policy)
        except supervisor.SupervisorError as error:  # e.g. a container of that name not ours
            raise UsageError(f"{_prog(args)}: error: {error}") from None
        print(
            f"supervising {args.name} ({args.image}) with {policy.name}; Ctrl-C stops supervising", flush=True
        )
        threading.Event().wait()  # decisions arrive on the adapter's threads until Ctrl-C
    except KeyboardInterrupt:
        print(f"\nstopped supervising {args.name}; the container is left as it is", flush=True)
    finally:
        sup.close()
    return 0


def _status(args: argparse.Namespace) -> int:
    store = _adapter(args, "relaunch.adapters.store")
    try:
        meta, records = store.read_store(args.state)
    except ValueError as error:  # StoreError: names the store and, for a bad row, the field
        raise UsageError(f"{_prog(args)}: error: {error}") from None
    rows = {name: _workload_status(record) for name, record in sorted(records.items())}
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print(f"{args.state}: no workloads")
    for name, row in rows.items():
        restart = "" if row["restart_at"] is None else f", restart at {row['restart_at']}"
        print(
            f"{name}: {row['phase']}, {row['restarts']} restarts ({row['attempt']} in this streak){restart}"
        )
        if row["reason"]:
            print(f"  last decision: {row['reason']}")
    if meta.last_commit_at is not None:
        saved = _iso(meta.last_commit_at)
        print(f"{args.state}: last saved {saved} by pid {meta.owner_pid} on {meta.owner_host}")
    return 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _workload_status(record: Any) -> dict[str, Any]:
    """One persisted workload (a checked ``store.WorkloadRecord``) as a status row."""
    return {
        "phase": record.phase.value,
        "restarts": record.state.restarts,
        "attempt": record.state.attempt,
        "given_up": record.state.given_up,
        "restart_at": None if record.restart_at is None else _iso(record.restart_at),
        "rule": None if record.rule is None else record.rule.value,
        "reason": record.reason,
    }
