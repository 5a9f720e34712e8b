"""Turns one run into benchmarks/results.json and the markdown table the README quotes.

Ratios are computed only between rows of the same run: the absolute figures depend on the
machine, so the targets are set on ratios. A target is judged on the single-call p50s,
timed side by side in one process with the rows interleaved, because that is the one measurement
a busy machine cannot skew between rows: pyperf times the rows one after the other over ten
minutes, and on the shared 2-core machine other work came and went meanwhile (a run where every
pyperf median doubled halfway through is what taught us this). pyperf's ratio is shown beside it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyperf

from benchmarks import aio, decide, fleet, floors, growth, peers
from benchmarks.harness import Case, percentile

ATTRS_FLOOR = floors.cases()[1].name
TENACITY_STEP = peers.cases()[0].name

#: Streak latencies count as "no effect" within this spread (max/min of the medians): the run
#: to run noise of a ~1 us row on a shared 2-core machine is a few percent.
STREAK_SPREAD = 1.10


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("relaunch", "attrs", "anyio", "pyperf", "tenacity", "backoff", "stamina"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def build(
    cases: Sequence[Case],
    benches: Mapping[str, pyperf.Benchmark],
    samples: Mapping[str, Sequence[float]],
    memory: Mapping[str, Any],
    adapter: Mapping[str, Any],
    fleet_results: Mapping[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    rows = []
    for case in cases:
        bench = benches[case.name]
        ns = samples[case.name]
        rows.append(
            {
                "name": case.name,
                "group": case.group,
                "inner": case.inner,
                "note": case.note,
                "median_ns": bench.median() * 1e9,
                "values": bench.get_nvalue(),
                "sample_p50_ns": percentile(ns, 50),
                "sample_p99_ns": percentile(ns, 99),
                "samples": len(ns),
            }
        )
    results: dict[str, Any] = {
        "schema": 1,
        "smoke": bool(args.smoke),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            # Other work on a shared machine skews timings: say how busy it was.
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "harness": {
            "pyperf_processes": args.processes,
            "pyperf_values": args.values,
            "pyperf_warmups": args.warmups,
        },
        "versions": _versions(),
        "rows": rows,
        "memory": dict(memory),
        "adapter": dict(adapter),
        "fleet": dict(fleet_results),
    }
    # The peers of the fleet run in their own venv and node: their versions come from there.
    versions = results["versions"]
    versions.update({k: v for k, v in fleet_results.get("versions", {}).items() if k not in versions})
    results["targets"] = targets(rows, memory, adapter)
    if fleet_results.get("runs"):
        results["fleet"]["targets"] = fleet.targets(dict(fleet_results))
    return results


def _ratio(rows: Mapping[str, Mapping[str, float]], a: str, b: str, key: str) -> float | None:
    if a in rows and b in rows and rows[b][key] > 0:
        return rows[a][key] / rows[b][key]
    return None


def targets(
    rows_list: Sequence[Mapping[str, Any]], memory: Mapping[str, Any], adapter: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The decision kernel's and the Docker adapter's targets, each with its measured value and
    whether it holds. The fleet's own targets, each against the floor, are ``fleet.targets``."""
    rows = {r["name"]: r for r in rows_list}
    out: list[dict[str, Any]] = []

    def ratio_target(label: str, a: str, b: str, limit: float, at_most: bool) -> None:
        med = _ratio(rows, a, b, "median_ns")
        p50 = _ratio(rows, a, b, "sample_p50_ns")
        if med is None or p50 is None:
            return
        ok = p50 <= limit if at_most else p50 >= limit
        out.append(
            {
                "target": label,
                "limit": f"{'<=' if at_most else '>='} {limit:g}x",
                "median_ratio": round(med, 2),
                "p50_ratio": round(p50, 2),
                "met": ok,
            }
        )

    ratio_target("toolhive crash loop / attrs floor", decide.TOOLHIVE_CRASH, ATTRS_FLOOR, 2.5, True)
    ratio_target("tenacity step / toolhive crash loop", TENACITY_STEP, decide.TOOLHIVE_CRASH, 8, False)
    ratio_target(
        "sliding window, 1000 in window / count budget",
        growth.window_name("sliding", 1000),
        growth.COUNT_BASELINE,
        3,
        True,
    )
    streaks = [growth.streak_name(n) for n in growth.STREAKS]
    if all(s in rows for s in streaks):

        def spread(field: str) -> float:
            vals = [rows[s][field] for s in streaks]
            return max(vals) / min(vals)

        med, p50 = spread("median_ns"), spread("sample_p50_ns")
        out.append(
            {
                "target": "streak 10 / 1000 / 10**6: no effect (max/min)",
                "limit": f"<= {STREAK_SPREAD:g}x",
                "median_ratio": round(med, 2),
                "p50_ratio": round(p50, 2),
                "met": p50 <= STREAK_SPREAD,
            }
        )
    if "count_budget_state_bytes" in memory:
        size = memory["count_budget_state_bytes"]
        out.append(
            {
                "target": "count-budget State, deep size",
                "limit": "< 400 B",
                "measured": f"{size} B",
                "met": size < 400,
            }
        )
    if "extra_objects_per_decision" in memory:
        extra = memory["extra_objects_per_decision"]
        transient = memory["transient_bytes_max"]
        out.append(
            {
                "target": "allocations per decision beyond the new State and Decision",
                "limit": "0 objects, 0 B transient",
                "measured": f"{extra:g} objects, {transient} B",
                "met": extra == 0 and transient <= 0,
            }
        )
    crash = adapter.get("crash_loop")
    if crash:
        median = crash["die_to_start_ms_median"]
        out.append(
            {
                "target": "adapter: die event to start() call, median (policy delay excluded)",
                "limit": "< 20 ms",
                "measured": f"{median} ms",
                "met": median is not None and median < 20,
            }
        )
        engine = max(crash["engine"].values())
        out.append(
            {
                "target": "adapter: supervisor restarts/s vs the engine's start() calls/s",
                "limit": ">= 0.9x",
                "measured": f"{crash['restarts_per_s']} vs {engine} /s",
                "met": crash["restarts_per_s"] >= 0.9 * engine,
            }
        )
        cpu = crash["supervisor_cpu_ms_per_restart"]
        out.append(
            {
                "target": "adapter: supervisor CPU per restart",
                "limit": "< 2 ms",
                "measured": f"{cpu} ms",
                "met": cpu is not None and cpu < 2,
            }
        )
    return out


def write_json(results: Mapping[str, Any], path: str) -> None:
    Path(path).write_text(json.dumps(results, indent=2) + "\n")


def _us(ns: float) -> str:
    return f"{ns / 1000:.3f}"


def markdown(results: Mapping[str, Any]) -> str:
    m = results["machine"]
    h = results["harness"]
    lines = [
        "# relaunch benchmarks",
        "",
        *(
            ["**SMOKE RUN: one iteration per row, the figures mean nothing.**", ""]
            if results["smoke"]
            else []
        ),
        f"{results['date']}; {results['python']}; {m['cpu']}, {m['cores']} cores; {m['platform']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
        "All figures come from one run of `make bench` on one machine and are meant as ratios "
        "between rows, per decision (a peer's full loop is divided by its N attempts). *p50* and "
        "*p99* time single calls side by side in one process, all rows interleaved, garbage "
        "collector on; *x floor* is the p50 over the attrs-instance floor's, and the targets are "
        "judged on these. *pyperf median* is pyperf's median over "
        f"{h['pyperf_processes']} worker processes x {h['pyperf_values']} values, each row timed "
        "after the other: steadier on a quiet machine, skewed between rows on a busy one "
        f"(load average at the end of this run: {', '.join(map(str, m['load_average_at_end']))}).",
        "",
    ]
    rows = results["rows"]
    floor = next((r["sample_p50_ns"] for r in rows if r["name"] == ATTRS_FLOOR), None)
    titles = {
        "floor": "Floors",
        "peer": "Peers, sleeping removed (per attempt)",
        "decide": "relaunch `policy.decide`",
        "window": "Cost as work grows: budget windows",
        "streak": "Cost as work grows: streak length",
        "health": "relaunch `check.observe` (health probes)",
    }
    for group, title in titles.items():
        group_rows = [r for r in rows if r["group"] == group]
        if not group_rows:
            continue
        lines += [
            f"## {title}",
            "",
            "| row | p50 us | p99 us | x floor | pyperf median us |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in group_rows:
            x = f"{r['sample_p50_ns'] / floor:.2f}" if floor else "-"
            lines.append(
                f"| {r['name']} | {_us(r['sample_p50_ns'])} | {_us(r['sample_p99_ns'])} | {x} "
                f"| {_us(r['median_ns'])} |"
            )
        lines.append("")
    mem = results["memory"]
    if mem.get("state_bytes"):
        lines += ["## Deep size of State", "", "| state | bytes |", "| --- | ---: |"]
        lines += [f"| {s['name']} | {s['bytes']} |" for s in mem["state_bytes"]]
        lines += ["", mem.get("deep_size_rule", ""), ""]
    if mem.get("allocations"):
        a = mem["allocations"]
        lines += ["## Allocations per decision (tracemalloc)", "", a["summary"], ""]
    adapter = results["adapter"]
    if adapter.get("skipped"):
        lines += ["## The Docker adapter under load", "", f"Skipped: {adapter['skipped']}.", ""]
    elif adapter.get("crash_loop"):
        c, i, a = adapter["crash_loop"], adapter["idle"], adapter["alone"]
        lines += [
            "## The Docker adapter under load",
            "",
            "| measure | value |",
            "| --- | ---: |",
            f"| {c['workloads']} crash-looping workloads (delay {c['delay_s']:g} s), "
            f"{c['seconds']:g} s: restarts/s | {c['restarts_per_s']} |",
            f"| die event to start() call, median / p99 (delay excluded) | "
            f"{c['die_to_start_ms_median']} / {c['die_to_start_ms_p99']} ms |",
            f"| supervisor CPU per restart | {c['supervisor_cpu_ms_per_restart']} ms |",
            f"| one workload alone: die event to start() call, median / p99 | "
            f"{a['die_to_start_ms_median']} / {a['die_to_start_ms_p99']} ms |",
            f"| one workload alone: restarts/s, supervisor CPU per restart | "
            f"{a['restarts_per_s']}, {a['supervisor_cpu_ms_per_restart']} ms |",
            f"| resident memory per crash-looping workload | {c['rss_kib_per_workload']} KiB |",
            *(f"| engine alone: {k.replace('_', ' ')} | {v} |" for k, v in c["engine"].items()),
            f"| {i['workloads']} idle workloads: resident memory per workload | "
            f"{i['rss_kib_per_workload']} KiB |",
            *(
                f"| idle, {i['seconds']:g} s: CPU of thread {t} | {pct} % |"
                for t, pct in i["thread_cpu_percent"].items()
            ),
            "",
        ]
    lines += fleet_markdown(results["fleet"])
    lines += probes_markdown(results.get("probes", {}))
    lines += aio_markdown(results.get("aio", {}))
    if results["targets"]:
        lines += [
            "## Targets: the decision kernel and the Docker adapter",
            "",
            "| target | limit | p50 ratio / measured | pyperf median ratio | met |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        for t in results["targets"]:
            lines.append(
                f"| {t['target']} | {t['limit']} | {t.get('p50_ratio', t.get('measured', ''))} "
                f"| {t.get('median_ratio', '')} | {'yes' if t['met'] else 'NO'} |"
            )
        lines.append("")
    return "\n".join(lines)


# The process runtime's probes (benchmarks/probe_load.py): probing 1000 workloads by TCP every
# second must leave the supervisor's core to its other work, and a probe that crosses the
# threshold must reach the stop signal at once.
PROBE_FLEET_CPU_PCT_MAX = 15.0
CROSSING_TO_STOP_MS_MAX = 50.0


def probes_markdown(p: Mapping[str, Any]) -> list[str]:
    """The health-probe rows (benchmarks/probe_load.py) and the targets on them."""
    if not p:
        return []
    tcp, exec_, crossing = p["tcp_fleet"], p["exec_probes"], p["crossing_to_stop"]
    lines = [
        "## Health probes of the process runtime",
        "",
        "| measure | value |",
        "| --- | ---: |",
    ]
    for label, f in (
        (f"{tcp['workloads']} workloads, TCP probe every 1 s", tcp),
        (f"{exec_['workloads']} workloads, exec probe `true` every 1 s", exec_),
    ):
        lines += [
            f"| {label}: probes/s (healthy at the end) | {f['probes_per_s']} ({f['healthy']}) |",
            f"| {label}: supervisor CPU, % of one core | {f['cpu_pct_of_one_core']} |",
            f"| {label}: supervisor CPU per probe (children's) | "
            f"{f['cpu_us_per_probe']} us ({f['children_cpu_us_per_probe']} us) |",
        ]
    lines += [
        f"| probe that crosses the threshold to SIGTERM, {crossing['kills']} kills: "
        f"median / p99 / max | {_ms(crossing['median_ms'])} / {_ms(crossing['p99_ms'])} / "
        f"{_ms(crossing['max_ms'])} ms |",
        "",
        "| target | limit | measured | met |",
        "| --- | --- | ---: | --- |",
    ]
    cpu = tcp["cpu_pct_of_one_core"]
    lines.append(
        f"| {tcp['workloads']} TCP-probed workloads: supervisor CPU | < {PROBE_FLEET_CPU_PCT_MAX:g}% "
        f"of one core | {cpu}% | {'yes' if cpu < PROBE_FLEET_CPU_PCT_MAX else 'NO'} |"
    )
    median = crossing["median_ms"]
    met = median is not None and median < CROSSING_TO_STOP_MS_MAX
    lines += [
        f"| threshold-crossing probe to SIGTERM, median | < {CROSSING_TO_STOP_MS_MAX:g} ms | "
        f"{_ms(median)} ms | {'yes' if met else 'NO'} |",
        "",
    ]
    return lines


def aio_markdown(a: Mapping[str, Any]) -> list[str]:
    """Supervised asyncio tasks (benchmarks/aio.py): each way's figures, its runs, issue 23's targets."""
    if not a:
        return []
    lines = [
        "## Supervised asyncio tasks (issue 23)",
        "",
        f"{a['n']:,} tasks, each failing {a['fail_after_s'] * 1e3:g} ms after it starts and restarted at "
        f"once, forever; {a['repeats']} run(s) per way, each in a fresh process, the order alternating, "
        f"measured for {a['window_s']:g} s after all started and {a['warmup_s']:g} s of warm-up; medians "
        "over the runs. *x floor* is over the hand-written loop's figure; memory is tracemalloc's traced "
        "bytes per task in a run of its own, RSS the resident-set growth per task in the timed runs "
        "(benchmarks/README.md).",
        "",
        "| way | restarts/s | x floor | CPU us / restart | x floor | memory B / task | RSS B / task |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ways = a.get("ways", {})
    floor = ways.get("floor", {})

    def times(way: Mapping[str, Any], key: str) -> str:
        mine, base = way.get(key), floor.get(key)
        return f"{mine / base:.2f}" if mine and base else "-"

    for name, w in ways.items():
        lines.append(
            f"| {aio.LABELS[name]} | {w['restarts_per_s']:,.0f} | {times(w, 'restarts_per_s')} "
            f"| {_ms(w['cpu_us_per_restart'])} | {times(w, 'cpu_us_per_restart')} "
            f"| {_bytes(w['traced_bytes_per_task'])} | {_bytes(w['rss_bytes_per_task'])} |"
        )
    lines.append("")
    lines += [f"Skipped: {why}." for why in a["skipped"].values()]
    lines += [f"Failed: {aio.LABELS[e['way']]} ({e['run']}): {e['error']}" for e in a["errors"]]
    if a["skipped"] or a["errors"]:
        lines.append("")
    loops = sorted({r["loop"] for r in a["runs"]})
    lines += [
        f"Runs, in order (event loop policy / loop: {', '.join(loops) or '-'}):",
        "",
        "| round | way | restarts/s | CPU us / restart | CPU % | window s (cycles of N) | tasks added in s "
        "| all started after s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['round']} | {aio.LABELS[r['way']]} | {r['restarts_per_s']:,.0f} "
            f"| {_ms(r['cpu_us_per_restart'])} | {r['cpu_percent']} | {r['window_s']} ({r['cycles']}) "
            f"| {r['add_s']} | {r['all_started_s']} |"
            for r in a["runs"]
        ),
        "",
    ]
    verdict = {True: "yes", False: "NO", None: "not measured"}
    lines += [
        "| target | limit | measured | met |",
        "| --- | --- | ---: | --- |",
        *(f"| {t['target']} | {t['limit']} | {t['measured']} | {verdict[t['met']]} |" for t in a["targets"]),
        "",
    ]
    return lines


def _bytes(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _fleet_measures(n_ideal: float) -> list[tuple[str, Callable[[Mapping[str, Any]], str]]]:
    """The rows of one N in the fleet table: a label, and the cell of one run."""

    def probe(key: str, cell: Callable[[Mapping[str, Any]], str]) -> Callable[[Mapping[str, Any]], str]:
        return lambda r: cell(r) if key in r else "-"

    return [
        (f"restarts/s (ideal {n_ideal:g}/s)", lambda r: f"{r['restarts_per_s']} ({r['of_ideal']:.0%})"),
        ("CPU ms / restart", lambda r: _ms(r["cpu_ms_per_restart"])),
        ("RSS MB", lambda r: f"{r['rss_mb']}"),
        (
            "die-to-restart p50 / p99 ms",
            lambda r: f"{_ms(r['die_to_restart_ms_p50'])} / {_ms(r['die_to_restart_ms_p99'])}",
        ),
        ("ends not restarted in the window", lambda r: f"{r['ends_not_restarted']} of {r['ends_in_window']}"),
        ("all N running after s", lambda r: _ms(r["all_running_s"])),
        (
            "`ctl status` p50 / max ms",
            probe("ctl_status_ms_p50", lambda r: f"{r['ctl_status_ms_p50']:g} / {r['ctl_status_ms_max']:g}"),
        ),
        (
            "reload of 1 changed: restarted",
            probe("reload_exact", lambda r: f"{r['reload_restarted']} of {r['n']}"),
        ),
    ]


def _fleet_table(runs: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]]) -> list[str]:
    """One pass of the fleet: a row per N and measure, a column per supervisor, the floor first."""
    peers = [p for p in fleet.PEERS if any(r["peer"] == p for r in [*runs, *errors])]
    lines = [
        "| N | measure | " + " | ".join(fleet.LABELS[p] for p in peers) + " |",
        "| ---: | --- |" + " ---: |" * len(peers),
    ]
    for n in sorted({r["n"] for r in [*runs, *errors]}):
        by_peer = {r["peer"]: r for r in runs if r["n"] == n}
        failed = {e["peer"] for e in errors if e["n"] == n}
        ideal = next((r["ideal_per_s"] for r in by_peer.values()), 0.0)
        for label, cell in _fleet_measures(ideal):
            cells = [cell(by_peer[p]) if p in by_peer else ("failed" if p in failed else "-") for p in peers]
            lines.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    return lines


def fleet_markdown(f: Mapping[str, Any]) -> list[str]:
    """The supervisor fleet's tables, the floor beside every figure, failed runs and targets."""
    if not f:
        return []
    lines = [
        "## Supervisors at fleet scale",
        "",
        f"N programs `{f['program']}`, restarted at once and forever; each run measured for "
        f"{f['window_s']:g} s after all N started and {f['warmup_s']:g} s of warm-up, the supervisors "
        "one after the other. *floor* is no supervisor at all: one loop that spawns each program again "
        "the moment `os.wait` returns it, what the machine allows with these programs at this N. "
        "*relaunch run* is `relaunch run fleet.toml`; *relaunch (Python API)* is `Supervisor.add` in a "
        f"server process. *ideal* is N / {f['run_s']:g} s (in brackets: the share of it); CPU and RSS "
        "are the supervisor's own process (PM2: its God daemon), children excluded; die-to-restart runs "
        "from a program's end stamp to its next start stamp; all N running is timed from the launch of "
        "the supervisor's process; `ctl status` is the command's wall time, and the reload changes one "
        "workload's argv in the file (benchmarks/README.md). Versions: "
        + ", ".join(f"{k} {v}" for k, v in f["versions"].items())
        + ".",
        "",
    ]
    if f.get("smoke"):
        lines += [f"Smoke: {f['smoke']}.", ""]
    # The latency pass's runs (programs living longer) get a table of their own.
    main = [r for r in f["runs"] if not r.get("spread")]
    latency = [r for r in f["runs"] if r.get("spread")]
    latency_errors = [e for e in f["errors"] if e["run_s"] != f["run_s"]]
    lines += _fleet_table(main, [e for e in f["errors"] if e["run_s"] == f["run_s"]])
    if latency or latency_errors:
        shortest, longest = f["latency_run_s"]
        lines += [
            "",
            "The latency pass: the same programs, but workload i of N lives "
            f"{shortest:g} x (1 + i/N) s ({shortest:g} to {longest:g} s), "
            "so that the machine keeps up with their restarts and they do not die in step: with 0.5 s "
            "programs at N=1000 the programs alone need more CPU than the 2 cores have, whoever "
            "supervises them (see the floor's rows above).",
            "",
            *_fleet_table(latency, latency_errors),
        ]
    lines.append("")
    failures = [f"Failed: {fleet.LABELS[e['peer']]} at N={e['n']}: {e['error']}" for e in f["errors"]]
    failures += [
        f"Failed after the window: {fleet.LABELS[r['peer']]} at N={r['n']}: {r['probe_error']}"
        for r in f["runs"]
        if "probe_error" in r
    ]
    lines += [*failures, *([""] if failures else [])]
    if f.get("targets"):
        verdict = {True: "yes", False: "NO", None: "not measured"}
        lines += [
            "### Targets, against the floor of this run",
            "",
            "| target | limit | measured | floor | met |",
            "| --- | --- | ---: | ---: | --- |",
            *(
                f"| {t['target']} | {t['limit']} | {t['measured']} | {t['floor']} | {verdict[t['met']]} |"
                for t in f["targets"]
            ),
            "",
        ]
    return lines


def write_markdown(results: Mapping[str, Any], path: str) -> None:
    # Written beside and renamed, so an interrupted run never leaves half a table behind.
    tmp = Path(path + ".tmp")
    tmp.write_text(markdown(results))
    tmp.replace(path)
