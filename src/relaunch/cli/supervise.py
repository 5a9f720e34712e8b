"""``relaunch supervise NAME``: supervise one container or one local command in the foreground."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from . import options
from .common import Command, UsageError, adapter, folder_exists, json_flag, prog
from .foreground import Foreground
from .state import (
    CONTAINER_STATE,
    EXEC_STATE,
    NAME_LIMIT,
    SUPERVISOR_ID,
    check_name,
    default_state_path,
    state_error,
)


class Supervise(Command):
    name = "supervise"
    help = "supervise one container (Docker) or one local command (--exec) in the foreground"
    usage = (
        "relaunch supervise [-h] NAME (--image IMAGE | --exec) [--preset NAME | --policy FILE] "
        "[--set KEY=VALUE] [--state FILE] [--network MODE] [--health-cmd CMD | --health-tcp PORT | "
        "--health-http URL] [--health-interval D] [--health-timeout D] [--health-retries N] "
        "[--health-start-period D] [--json] [-- COMMAND ...]"
    )
    description = (
        "Supervise one container through the Docker adapter, or with --exec one local command "
        "as a process group of its own, printing a line per decision (with --json, one JSON object per "
        "decision per line). A container runs COMMAND (after --) or its image's default; Ctrl-C stops "
        "supervising and leaves it as it is. An --exec command is COMMAND; Ctrl-C (or SIGTERM, SIGHUP) "
        "stops it (SIGTERM, SIGKILL 10 s later; a second Ctrl-C kills it at once), and running the same "
        "line again starts it again, or adopts it if a killed supervisor left it running. Without "
        "--preset or --policy the policy is `recommended` (--set then sets its keywords). The command "
        "returns when the policy gives up (exit 1) or stops (exit 0), or when interrupted (exit 130). "
        "The --health-* flags are docker run's: a workload found unhealthy is stopped and restarted by the "
        "policy as an UNHEALTHY end (a container's own HEALTHCHECK counts too; Docker alone never restarts "
        "on it). --health-tcp and --health-http probe a loopback port or URL, with --exec only."
    )
    examples = (
        "relaunch supervise web --image nginx:alpine --network bridge --preset toolhive",
        "relaunch supervise api --exec --health-http http://127.0.0.1:8080/healthz --health-interval 5s "
        "-- ./server",
        "relaunch supervise job --exec --preset docker --set max_retries=3 -- sh -c 'exit 3'",
    )
    takes_command = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name",
            metavar="NAME",
            help=f"the workload's name: letters, digits, '.', '-', '_', starting with a letter or digit, "
            f"at most {NAME_LIMIT} characters",
        )
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--image", help="the image to run (Docker)")
        target.add_argument(
            "--exec", dest="exec_", action="store_true", help="run COMMAND (after --) as a local process"
        )
        parser.add_argument(
            "--network",
            metavar="MODE",
            help="the container's network mode (default: none; e.g. bridge, host); not with --exec",
        )
        options.health_options(parser)
        options.policy_options(parser, required=False)
        parser.add_argument(
            "--state",
            metavar="FILE",
            help=f"the state file, in a folder that exists (default: {CONTAINER_STATE} in the current "
            f"folder; with --exec, {EXEC_STATE.format(name='NAME')})",
        )
        json_flag(parser, "print one JSON object per decision, one per line")

    def run(self, args: argparse.Namespace) -> int:
        check_name(args)
        if args.exec_ and args.network is not None:
            raise UsageError(f"{prog(args)}: error: --network {args.network}: only for --image, not --exec")
        if args.exec_ and not args.cmd:
            raise UsageError(
                f"{prog(args)}: error: --exec needs a command after -- (see {prog(args)} --help)"
            )
        state = Path(args.state) if args.state else default_state_path(args.name, exec_=args.exec_)
        folder_exists(args, "--state", str(state))
        docker_check, health = options.health(args)
        policy = options.policy(args)
        supervisor = adapter(args, "relaunch.adapters.supervisor")
        foreground = Foreground(args)
        if args.exec_:
            process = adapter(args, "relaunch.adapters.process")
            runtime, grace = process.ProcessRuntime(), process.STOP_GRACE_S
            spec = process.ProcessSpec(args.cmd, health)
            banner = f"supervising {args.name} ({shlex.join(args.cmd)}) with {policy.name}; Ctrl-C stops it"
        else:
            docker = adapter(args, "relaunch.adapters.docker")
            sdk_errors = adapter(args, "docker.errors")
            try:
                runtime = docker.DockerRuntime(SUPERVISOR_ID)
            except (ValueError, sdk_errors.DockerException) as error:  # a bad DOCKER_HOST
                raise UsageError(f"{prog(args)}: error: cannot talk to the Docker daemon: {error}") from None
            # No network unless asked: supervising must not open a path the user did not choose.
            container_options: dict[str, Any] = {"network_mode": args.network or "none"}
            if docker_check:
                container_options["healthcheck"] = docker_check
            spec = docker.ContainerSpec(args.image, args.cmd or None, container_options)
            banner = f"supervising {args.name} ({args.image}) with {policy.name}; Ctrl-C stops supervising"
            grace = 0.0
        try:
            sup = supervisor.Supervisor(runtime, str(state), on_decision=foreground.hook)
        except (OSError, ValueError, RuntimeError) as error:  # an unreadable or foreign state file
            runtime.close()
            raise state_error(args, state, error) from None
        try:
            try:
                sup.add(args.name, spec, policy)
            except supervisor.SupervisorError as error:  # e.g. a container of that name not ours
                raise UsageError(f"{prog(args)}: error: {error}") from None
            return foreground.run(sup, runtime, supervisor.Phase, banner, grace)
        finally:
            sup.close()
