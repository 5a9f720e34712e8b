"""Supervised asyncio tasks at scale: relaunch.aio beside the hand-written loop and tenacity.

N tasks run the same failing coroutine, ``await asyncio.sleep(0.01); raise RuntimeError``, and
each is restarted at once and forever, three ways:

- **the floor**: the loop people write by hand, ``while True: try: await work() except
  Exception: await asyncio.sleep(0)``, one ``asyncio.create_task`` per task, counting its
  restarts. No decision, no state: what the event loop allows with this coroutine at this N.
- **relaunch**: ``AsyncSupervisor().add(name, policy, task=work)`` with ``Policy(mode=ALWAYS,
  backoff=Constant(0), budget=Unlimited())``, the public API only, default logging (none
  configured).
- **tenacity**: one ``AsyncRetrying(stop=stop_never, wait=wait_none(),
  retry=retry_if_exception_type(Exception))`` per task, ``async for attempt in retrying: with
  attempt: await work()`` in one ``asyncio.create_task``; its default sleep (jd/tenacity,
  tenacity/asyncio/__init__.py, ``_portable_async_sleep``: ``asyncio.sleep`` once sniffio says
  the loop is asyncio's), so every way yields to the loop once per restart, as ``sleep(0)``.

With 10,000 tasks failing every 10 ms the loop would have to handle a million failures a second,
far more than one core does: every way runs flat out, and restarts/s is the reciprocal of what one
failure costs, the way's own code plus the loop's timer and task switching, which the floor
measures alone. Each way runs in a fresh ``python -m benchmarks.aio`` process (no shared heap,
garbage-collector generations or caches), the default event loop policy in each, and the order of
the ways alternates between repeats so that drift of the machine does not always fall on the same
one.

- **restarts/s**: calls of the failing coroutine inside the window (every task started before it
  opens, so each call there follows a failure), over the window's wall time. The coroutine counts
  its own calls, the same code under every way; each way's own count of restarts is checked
  against it afterwards (``calls - N <= restarts <= calls``), so a way that stopped restarting or
  counted wrongly fails the run.
- **The window is whole cycles.** A loop that runs flat out handles all N tasks in step: one loop
  iteration wakes every task whose sleep ended, the next runs every failure, the next every new
  call (a cycle of the floor at N=10,000 takes about 0.1 s, tenacity's more than 1 s), so calls
  come in bursts of about N and a window of fixed length would count one burst more or less by
  where its ends fall (a quarter of tenacity's 5 s figure). The coroutine itself stamps
  ``time.perf_counter()`` and ``time.process_time()`` at every N-th call once the window opens, and
  the window runs from the first stamp to the last one made within ``WINDOW_S`` (or the second, if
  one cycle takes longer): whole cycles, each end at the same point of one. The stamp's test (one
  comparison per call) is in every way alike.
- **CPU per restart**: ``time.process_time()`` over the window, divided by its restarts.
- **memory per task**: tracemalloc's traced bytes after adding N tasks and letting each fail at
  least once, minus those before, over N, in a process of its own (tracemalloc slows every
  allocation, so it never runs in a timed window): every Python object a supervised task keeps,
  its own coroutine frames included. The resident-set growth over the same span in the timed run
  (``/proc/self/statm``) is shown beside it; it also counts the allocator's free lists and arenas.

This module imports relaunch and tenacity only in the child process, and only their public API.
When ``relaunch.aio`` cannot be imported (it is not on this branch), the relaunch way is reported
as skipped and the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Supervised tasks per run.
N = 10_000
#: How long the coroutine runs before it raises.
FAIL_AFTER_S = 0.01
#: The measured window per run, after all N tasks have started and `WARMUP_S` has passed.
WINDOW_S = 5.0
WARMUP_S = 1.0
#: Runs per way; the order of the ways alternates between them.
REPEATS = 2
#: How long the memory run lets the tasks fail before it counts: two failures of each.
SETTLE_S = 2 * FAIL_AFTER_S
#: Tasks of the memory run's first block, which only makes what is made once per process.
WARM_TASKS = 10
WAYS = ("floor", "relaunch", "tenacity")
LABELS = {
    "floor": "hand-written loop (floor)",
    "relaunch": "relaunch.aio",
    "tenacity": "tenacity AsyncRetrying",
}

#: Issue 23's targets.
FLOOR_RATIO_MIN = 0.7
TENACITY_RATIO_MIN = 3.0
BYTES_PER_TASK_MAX = 4096

#: The floor's delay between a failure and the next run: "restart at once", as the other ways.
FLOOR_DELAY_S = 0.0

_calls = 0  # calls of `work`, every way alike
_stamp_at = 0  # the call at which `work` next stamps the clocks; 0: it does not
_stamp_every = 0
_stamps: list[tuple[int, float, float]] = []  # (calls, perf_counter, process_time)


async def work() -> None:
    """The supervised coroutine: runs 10 ms, then fails."""
    global _calls
    _calls += 1
    if _calls == _stamp_at:
        _stamp()
    await asyncio.sleep(FAIL_AFTER_S)
    raise RuntimeError


def _stamp() -> None:
    global _stamp_at
    _stamps.append((_calls, time.perf_counter(), time.process_time()))
    _stamp_at += _stamp_every


class Skipped(Exception):
    """The way cannot run here (its library is not installed)."""


# A way's starter starts N tasks of `work` and yields a function that returns the restarts it
# counted itself; leaving the block stops every task and waits for them. Each way is a function
# that imports what it needs and returns its starter, so that imports stay out of what is measured.
Counter = Callable[[], int]
Starter = Callable[[int], contextlib.AbstractAsyncContextManager[Counter]]


def floor() -> Starter:
    @contextlib.asynccontextmanager
    async def start(n: int) -> AsyncIterator[Counter]:
        restarts = 0

        async def loop() -> None:
            nonlocal restarts
            while True:
                try:
                    await work()
                except Exception:  # noqa: BLE001 -- the hand-written loop restarts on any failure
                    restarts += 1
                    await asyncio.sleep(FLOOR_DELAY_S)

        tasks = [asyncio.create_task(loop()) for _ in range(n)]
        try:
            yield lambda: restarts
        finally:
            await _cancel(tasks)

    return start


def relaunch_aio() -> Starter:
    try:
        from relaunch.aio import AsyncSupervisor
    except ImportError as error:
        raise Skipped(f"relaunch.aio not installed ({error})") from None
    from relaunch import Constant, Mode, Policy, Unlimited

    policy = Policy(mode=Mode.ALWAYS, backoff=Constant(0.0), budget=Unlimited())

    @contextlib.asynccontextmanager
    async def start(n: int) -> AsyncIterator[Counter]:
        async with AsyncSupervisor() as sup:
            for i in range(n):
                await sup.add(f"t{i}", policy, task=work)
            try:
                yield lambda: sum(status.restarts for status in sup.statuses())
            finally:
                sup.cancel_scope.cancel()

    return start


def tenacity_retrying() -> Starter:
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_none

    async def loop(retrying: AsyncRetrying) -> None:
        async for attempt in retrying:
            with attempt:
                await work()

    @contextlib.asynccontextmanager
    async def start(n: int) -> AsyncIterator[Counter]:
        retryings = [
            AsyncRetrying(stop=stop_never, wait=wait_none(), retry=retry_if_exception_type(Exception))
            for _ in range(n)
        ]
        tasks = [asyncio.create_task(loop(r)) for r in retryings]
        try:
            # statistics["attempt_number"] is the attempt under way: one more than its retries.
            yield lambda: sum(r.statistics["attempt_number"] - 1 for r in retryings)
        finally:
            await _cancel(tasks)

    return start


STARTERS: dict[str, Callable[[], Starter]] = {
    "floor": floor,
    "relaunch": relaunch_aio,
    "tenacity": tenacity_retrying,
}


async def _cancel(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _all_started(n: int, since: int) -> None:
    # Tasks start in the order they were created, each before any second call of `work`.
    while _calls - since < n:
        await asyncio.sleep(0.001)


async def run_way(way: str, start: Starter, n: int, warmup_s: float, window_s: float) -> dict[str, Any]:
    """One timed run of ``n`` tasks, in this process."""
    loop = asyncio.get_running_loop()
    gc.collect()
    rss0 = _rss_bytes()
    t_add = time.perf_counter()
    async with start(n) as counted:
        add_s = time.perf_counter() - t_add
        await _all_started(n, since=0)
        started_s = time.perf_counter() - t_add
        await asyncio.sleep(warmup_s)
        rss1 = _rss_bytes()
        stamps = await _window(n, window_s)
        restarts_counted = counted()
        calls = _calls  # read with the way's count, no await between
    if not calls - n <= restarts_counted <= calls:
        raise AssertionError(f"{way}: counted {restarts_counted} restarts for {calls} calls of {n} tasks")
    (calls0, t0, cpu0), (calls1, t1, cpu1) = stamps[0], stamps[-1]
    restarts = calls1 - calls0
    span = t1 - t0
    return {
        "way": way,
        "n": n,
        "loop": f"{type(asyncio.get_event_loop_policy()).__name__} / {type(loop).__name__}",
        "add_s": round(add_s, 3),
        "all_started_s": round(started_s, 3),
        "window_s": round(span, 3),
        "cycles": len(stamps) - 1,
        "restarts": restarts,
        "restarts_per_s": round(restarts / span, 1),
        "cpu_us_per_restart": round((cpu1 - cpu0) * 1e6 / restarts, 2) if restarts else None,
        "cpu_percent": round((cpu1 - cpu0) / span * 100, 1),
        "rss_bytes_per_task": round((rss1 - rss0) / n),
        "restarts_counted_by_way": restarts_counted,
    }


async def _window(n: int, window_s: float) -> list[tuple[int, float, float]]:
    """The stamps of every N-th call from now until ``window_s`` has passed, at least two."""
    global _stamp_at, _stamp_every
    _stamps.clear()
    _stamp_every, _stamp_at = n, _calls + 1
    await asyncio.sleep(window_s)
    while len(_stamps) < 2:  # a window shorter than one cycle
        await asyncio.sleep(0.001)
    _stamp_at = 0
    return list(_stamps)


async def _settled(start: Starter, n: int) -> int:
    """Traced bytes while ``n`` tasks have each failed at least once, from a collected heap."""
    since = _calls
    async with start(n):
        await _all_started(n, since)
        await asyncio.sleep(SETTLE_S)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]


async def memory_way(way: str, start: Starter, n: int) -> dict[str, Any]:
    """Traced bytes per supervised task, in this process (tracemalloc on throughout)."""
    tracemalloc.start()
    # A first block of a few tasks makes what is made once per process (the loop's and the
    # libraries' lazy imports and caches), so the count below is what each task keeps.
    await _settled(start, WARM_TASKS)
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    traced = await _settled(start, n) - base
    tracemalloc.stop()
    return {"way": way, "n": n, "traced_bytes_per_task": round(traced / n)}


def serve(argv: Sequence[str]) -> None:
    """The child: ``--serve WAY N WARMUP WINDOW`` or ``--memory WAY N``; prints one JSON line."""
    mode, way, n = argv[0], argv[1], int(argv[2])
    try:
        start = STARTERS[way]()
    except Skipped as skip:
        result: dict[str, Any] = {"way": way, "skipped": str(skip)}
    else:
        if mode == "--memory":
            result = asyncio.run(memory_way(way, start, n))
        else:
            result = asyncio.run(run_way(way, start, n, float(argv[3]), float(argv[4])))
    print(json.dumps(result), flush=True)


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.aio", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _median(runs: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def measure(
    n: int = N, window_s: float = WINDOW_S, warmup_s: float = WARMUP_S, repeats: int = REPEATS
) -> dict[str, Any]:
    """Every way ``repeats`` times, each run in a fresh process, the order alternating; then one
    memory run per way. A failed run is reported and the others go on."""
    out: dict[str, Any] = {
        "n": n,
        "fail_after_s": FAIL_AFTER_S,
        "window_s": window_s,
        "warmup_s": warmup_s,
        "repeats": repeats,
        "runs": [],
        "memory": {},
        "skipped": {},
        "errors": [],
    }
    # Adding 10,000 tasks and the teardown take seconds; the timeout only catches a hang.
    timeout = 120 + warmup_s + window_s

    def attempt(way: str, args: list[str]) -> dict[str, Any] | None:
        if way in out["skipped"]:
            return None
        print(f"aio: {' '.join(args)} ...", file=sys.stderr, flush=True)
        try:
            result = _child(args, timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            out["errors"].append({"way": way, "run": " ".join(args), "error": str(error)})
            return None
        if "skipped" in result:
            out["skipped"][way] = result["skipped"]
            return None
        return result

    for round_ in range(repeats):
        for way in WAYS if round_ % 2 == 0 else WAYS[::-1]:
            run = attempt(way, ["--serve", way, str(n), repr(warmup_s), repr(window_s)])
            if run is not None:
                out["runs"].append({"round": round_, **run})
    for way in WAYS:
        mem = attempt(way, ["--memory", way, str(n)])
        if mem is not None:
            out["memory"][way] = mem["traced_bytes_per_task"]
    out["ways"] = {
        way: {
            "restarts_per_s": _median(runs, "restarts_per_s"),
            "cpu_us_per_restart": _median(runs, "cpu_us_per_restart"),
            "rss_bytes_per_task": _median(runs, "rss_bytes_per_task"),
            "traced_bytes_per_task": out["memory"].get(way),
            "runs": len(runs),
        }
        for way in WAYS
        if (runs := [r for r in out["runs"] if r["way"] == way])
    }
    out["targets"] = targets(out)
    return out


def targets(aio: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 23's targets, each with the floor's figure beside it; ``met`` is None if not measured."""
    ways = aio.get("ways", {})
    ours, floor_, tenacity = ways.get("relaunch", {}), ways.get("floor", {}), ways.get("tenacity", {})
    out: list[dict[str, Any]] = []

    def rate_ratio(target: str, theirs: dict[str, Any], limit: float) -> None:
        a, b = ours.get("restarts_per_s"), theirs.get("restarts_per_s")
        if not a or not b:
            measured, met = "not measured", None
        else:
            measured, met = f"{a / b:.2f}x ({a:,.0f} vs {b:,.0f} restarts/s", a / b >= limit
            if theirs is not floor_ and floor_.get("restarts_per_s"):
                measured += f"; floor {floor_['restarts_per_s']:,.0f}"
            measured += ")"
        out.append({"target": target, "limit": f">= {limit:g}x", "measured": measured, "met": met})

    rate_ratio("relaunch.aio restarts/s vs the hand-written loop", floor_, FLOOR_RATIO_MIN)
    rate_ratio("relaunch.aio restarts/s vs tenacity AsyncRetrying", tenacity, TENACITY_RATIO_MIN)
    size, beside = ours.get("traced_bytes_per_task"), floor_.get("traced_bytes_per_task")
    if size is None:
        measured, met = "not measured", None
    else:
        measured = f"{size:,} B" + (f" (floor {beside:,} B)" if beside is not None else "")
        met = size < BYTES_PER_TASK_MAX
    target = "relaunch.aio memory per supervised task (tracemalloc)"
    out.append({"target": target, "limit": f"< {BYTES_PER_TASK_MAX:,} B", "measured": measured, "met": met})
    return out


if __name__ == "__main__":
    if (sys.argv[1:2], len(sys.argv)) in ((["--serve"], 6), (["--memory"], 4)) and sys.argv[2] in STARTERS:
        serve(sys.argv[1:])
    else:
        sys.exit(
            "usage: python -m benchmarks.aio --serve WAY N WARMUP WINDOW | --memory WAY N"
            f" (WAY: {', '.join(STARTERS)}; run by benchmarks/run.py)"
        )
