"""Entry point: `python -m benchmarks.run [--smoke] [--json PATH] [--md PATH] [pyperf options]`.

pyperf (the harness of CPython's own pyperformance) times every row in fresh worker processes,
calibrating the loop count and taking the median over processes x values; the same run then times
single calls of every row in this process, interleaved, for p50/p99 per decision; then it measures
memory and allocations, the Docker adapter under load, the supervisor fleet (fleet.py), the
health probes (probe_load.py) and supervised asyncio tasks (aio.py), and writes the JSON and the
markdown table (benchmarks/report.py).

`--smoke` is pyperf's `--debug-single-value` (one process, one value, one loop per row) plus a few
dozen samples per row: it proves every row runs and verifies itself, and says nothing about speed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

import pyperf

from benchmarks import (
    adapter_load,
    aio,
    decide,
    fleet,
    floors,
    growth,
    health,
    memory,
    peers,
    probe_load,
    report,
)
from benchmarks.harness import Case, sample_per_call, time_calls


def all_cases() -> list[Case]:
    return [
        *floors.cases(),
        *peers.cases(),
        *decide.cases(),
        *growth.cases(),
        *health.cases(),
    ]


def _forward(cmd: list[str], args: argparse.Namespace) -> None:
    # Workers pick their row by index, so they must see the same filtered list as the manager.
    if args.only:
        cmd.extend(["--only", args.only])


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--smoke" in argv:
        argv += ["--debug-single-value", "--quiet"]
    runner = pyperf.Runner(program_args=("-m", "benchmarks.run"), add_cmdline_args=_forward)
    ap = runner.argparser
    ap.add_argument("--smoke", action="store_true", help="a handful of iterations; no timings")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON")
    ap.add_argument("--md", metavar="PATH", help="write the results as a markdown table")
    ap.add_argument("--only", metavar="REGEX", help="only the rows whose name matches")
    ap.add_argument("--samples", type=int, default=10_000, help="single-call samples per row (p50/p99)")
    ap.add_argument("--adapter-seconds", type=float, default=60.0, help="length of the Docker crash-loop run")
    ap.add_argument(
        "--fleet-seconds", type=float, default=fleet.WINDOW_S, help="fleet: measured window per run"
    )
    ap.add_argument("--fleet-sizes", default=",".join(map(str, fleet.SIZES)), help="fleet: the N to run")
    ap.add_argument("--fleet-peers", default=",".join(fleet.PEERS), help="fleet: the supervisors to run")
    ap.add_argument(
        "--fleet-no-latency-pass",
        action="store_true",
        help=f"fleet: skip the latency pass (N={fleet.LATENCY_N}, longer-lived programs)",
    )
    ap.add_argument("--aio-tasks", type=int, default=aio.N, help="asyncio: supervised tasks per run")
    ap.add_argument("--aio-seconds", type=float, default=aio.WINDOW_S, help="asyncio: measured window")
    ap.add_argument("--aio-repeats", type=int, default=aio.REPEATS, help="asyncio: runs per way")
    args = runner.parse_args(argv)

    cases = [c for c in all_cases() if not args.only or re.search(args.only, c.name)]
    benches: dict[str, pyperf.Benchmark] = {}
    for case in cases:
        bench = runner.bench_time_func(case.name, time_calls, case, inner_loops=case.inner)
        if bench is not None:
            benches[case.name] = bench
    if args.worker:
        return

    samples = sample_per_call(cases, samples=40 if args.smoke else args.samples)
    mem = memory.measure(smoke=args.smoke) if not args.only or re.search(args.only, "memory") else {}
    if args.smoke:
        adapter = {"skipped": "smoke mode (the Docker load run takes minutes)"}
    elif args.only and not re.search(args.only, "adapter"):
        adapter = {}
    else:
        adapter = adapter_load.measure(args.adapter_seconds)
    if args.smoke:
        # A sanity run of the harness (servers, stamps, control commands, teardown), relaunch
        # alone: the peers are installed and run only by the full benchmark.
        ours = ("relaunch", "relaunch-api") if fleet.run_available() else ("relaunch-api",)
        fleet_results = {
            **fleet.measure(
                sizes=(2,), peers=("floor", *ours), window_s=1.5, warmup_s=0.5, latency=False, ctl_calls=3
            ),
            "smoke": f"the floor and {' and '.join(fleet.LABELS[p] for p in ours)} at N=2 only; the peers, "
            "the other N and the latency pass run in the full benchmark",
        }
    elif args.only and not re.search(args.only, "fleet"):
        fleet_results = {}
    else:
        fleet_results = fleet.measure(
            sizes=[int(n) for n in args.fleet_sizes.split(",")],
            peers=args.fleet_peers.split(","),
            window_s=args.fleet_seconds,
            warmup_s=min(fleet.WARMUP_S, args.fleet_seconds),
            latency=not args.fleet_no_latency_pass,
        )
    results = report.build(cases, benches, samples, mem, adapter, fleet_results, args)
    if not args.only or re.search(args.only, "probes"):
        results["probes"] = probe_load.measure(smoke=args.smoke)
    if not args.only or re.search(args.only, "aio"):
        # Smoke: a few tasks for a fraction of a second; each way runs, checks its count, is reported.
        if args.smoke:
            results["aio"] = aio.measure(n=20, window_s=0.2, warmup_s=0.05, repeats=1)
        else:
            results["aio"] = aio.measure(args.aio_tasks, args.aio_seconds, repeats=args.aio_repeats)
    if args.json:
        report.write_json(results, args.json)
    if args.md:
        report.write_markdown(results, args.md)
    print(report.markdown(results))


if __name__ == "__main__":
    main()
