"""Groups in a fleet file, end to end: OTP's strategies over real processes killed with SIGKILL."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from fleet.fleetkit import RunningFleet, exec_table, wait_for

SLEEP = ["sleep", "1000"]
# Restart at once, no budget of its own to speak of: the group's rule is what is under test.
QUICK = '{ mode = "always", backoff = { kind = "constant", seconds = 0.05 } }'


def group_file(strategy: str, budget: str = "") -> str:
    body = '[fleet]\nstop_grace = "1s"\n\n'
    body += "".join(exec_table(n, SLEEP, policy=QUICK) for n in ("a", "b", "c", "lone"))
    body += f'[group.g]\nstrategy = "{strategy}"\nmembers = ["a", "b", "c"]\n{budget}'
    return body


def kill(fleet: RunningFleet, name: str) -> int:
    pid = fleet.rows()[name]["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def changed(fleet: RunningFleet, before: dict[str, int | None], wanted: set[str]) -> dict | None:
    rows = fleet.all_running(["a", "b", "c", "lone"])
    if rows is None:
        return None
    now = {n: r["pid"] for n, r in rows.items()}
    return now if {n for n in now if now[n] != before[n]} >= wanted else None


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [("one_for_one", {"b"}), ("one_for_all", {"a", "b", "c"}), ("rest_for_one", {"b", "c"})],
)
def test_strategy_restarts_the_members_it_names(
    tmp_path: Path,
    fleets: list[RunningFleet],
    strategy: str,
    restarted: set[str],
) -> None:
    """When b dies, one_for_one restarts b, one_for_all a, b and c, rest_for_one b and c; never lone."""
    fleet = RunningFleet(tmp_path, group_file(strategy)).start()
    fleets.append(fleet)
    before = {n: r["pid"] for n, r in wait_for(lambda: fleet.all_running(["a", "b", "c", "lone"])).items()}
    kill(fleet, "b")
    after = wait_for(lambda: changed(fleet, before, restarted), 30, f"{sorted(restarted)} restarted")
    # Let any restart that should not happen have its chance to show.
    wait_for(lambda: fleet.all_running(["a", "b", "c", "lone"]), 10)
    after = {n: r["pid"] for n, r in fleet.rows().items()}
    assert {n for n in after if after[n] != before[n]} == restarted


def test_a_spent_group_budget_gives_the_whole_group_up(
    tmp_path: Path,
    fleets: list[RunningFleet],
) -> None:
    """With a shared budget of 2 restarts, the third death gives up every member, and only them."""
    body = group_file("one_for_one", 'budget = { restarts = 2, within = "60s" }\n')
    fleet = RunningFleet(tmp_path, body).start()
    fleets.append(fleet)
    wait_for(lambda: fleet.all_running(["a", "b", "c", "lone"]))
    for victim in ("a", "b"):
        pid = kill(fleet, victim)
        wait_for(lambda v=victim, p=pid: (r := fleet.rows()[v])["phase"] == "running" and r["pid"] != p, 30)
    kill(fleet, "c")
    rows = wait_for(
        lambda: (r := fleet.rows()) and all(r[n]["phase"] == "given-up" for n in "abc") and r,
        30,
        "group given up",
    )
    assert rows["lone"]["phase"] == "running"
    assert "group" in (rows["a"]["reason"] or "")
