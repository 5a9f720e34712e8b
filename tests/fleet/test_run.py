"""``relaunch run FILE`` end to end: real processes, a real control socket, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fleet.fleetkit import RunningFleet, exec_table, marked, toml_string, wait_for
from relaunch.fleet.wire import request

SLEEP = ["sleep", "1000"]
FAST = 'policy = { preset = "recommended" }'


def fleet_file(n: int, argv: list[str] = SLEEP, header: str = "") -> str:
    body = '[fleet]\nstop_grace = "2s"\n' + header + "\n"
    return body + "".join(exec_table(f"w{i:02d}", argv) for i in range(n))


def names(n: int) -> list[str]:
    return [f"w{i:02d}" for i in range(n)]


def test_fifty_workloads_start_and_ctl_acts_on_exactly_one(
    tmp_path: Path, fleets: list[RunningFleet]
) -> None:
    """A file of 50 commands starts them all; stop, start and restart each touch one workload."""
    fleet = RunningFleet(tmp_path, fleet_file(50)).start()
    fleets.append(fleet)
    rows = wait_for(lambda: fleet.all_running(names(50)), 60, "50 workloads running")
    before = {n: r["pid"] for n, r in rows.items()}
    assert len(set(before.values())) == 50

    fleet.ctl("stop", name="w07")
    rows = wait_for(lambda: (r := fleet.rows())["w07"]["phase"] == "stopped" and r, 20, "w07 stopped")
    assert marked("w07", tmp_path) == []
    assert {n: r["pid"] for n, r in rows.items() if n != "w07"} == {
        n: p for n, p in before.items() if n != "w07"
    }

    fleet.ctl("start", name="w07")
    rows = wait_for(lambda: fleet.all_running(names(50)), 20, "w07 running again")
    assert rows["w07"]["pid"] != before["w07"]
    assert {n: r["pid"] for n, r in rows.items() if n != "w07"} == {
        n: p for n, p in before.items() if n != "w07"
    }

    restarted_from = rows["w13"]["pid"]
    restarts = rows["w13"]["restarts"]
    fleet.ctl("restart", name="w13")
    rows = wait_for(
        lambda: (r := fleet.all_running(names(50))) and r["w13"]["pid"] != restarted_from and r,
        20,
        "w13 restarted",
    )
    assert rows["w13"]["restarts"] == restarts  # an operator's restart spends no budget
    assert marked("w13", tmp_path) == [rows["w13"]["pid"]]
    others = {n: r["pid"] for n, r in rows.items() if n not in ("w07", "w13")}
    assert others == {n: p for n, p in before.items() if n not in ("w07", "w13")}


def test_reload_restarts_only_the_changed_workload(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """After one entry is edited, reload restarts it alone, adds the new and removes the gone."""
    fleet = RunningFleet(tmp_path, fleet_file(6)).start()
    fleets.append(fleet)
    before = wait_for(lambda: fleet.all_running(names(6)), 30, "6 running")
    body = fleet_file(6).replace(exec_table("w02", SLEEP), exec_table("w02", ["sleep", "999"]))
    body = body.replace(exec_table("w05", SLEEP), "") + exec_table("extra", SLEEP)
    fleet.file.write_text(body)

    reply = fleet.ctl("reload")
    assert (reply["restarted"], reply["added"], reply["removed"]) == (["w02"], ["extra"], ["w05"])
    wanted = ["w00", "w01", "w02", "w03", "w04", "extra"]
    rows = wait_for(lambda: fleet.all_running(wanted), 30, "reloaded fleet running")
    assert "w05" not in rows
    assert marked("w05", tmp_path) == []
    assert rows["w02"]["pid"] != before["w02"]["pid"]
    for n in ("w00", "w01", "w03", "w04"):
        assert rows[n]["pid"] == before[n]["pid"]


def test_reload_of_a_bad_file_applies_nothing(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """A reload of a file with one bad key is refused with the file's line and changes nothing."""
    fleet = RunningFleet(tmp_path, fleet_file(3)).start()
    fleets.append(fleet)
    before = wait_for(lambda: fleet.all_running(names(3)), 30, "3 running")
    fleet.file.write_text(fleet_file(3) + exec_table("w09", SLEEP) + "bogus = 1\n")

    reply = request(fleet.socket, "reload", {})
    assert reply["ok"] is False
    assert "[workload.w09] bogus" in reply["error"]
    assert {n: r["pid"] for n, r in fleet.rows().items()} == {n: r["pid"] for n, r in before.items()}


def test_sigterm_leaves_nothing_running(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """SIGTERM stops every workload, then relaunch run exits 0."""
    fleet = RunningFleet(tmp_path, fleet_file(10)).start()
    fleets.append(fleet)
    wait_for(lambda: fleet.all_running(names(10)), 30, "10 running")
    fleet.signal(signal.SIGTERM)
    assert fleet.wait(60) == 0
    assert [n for n in names(10) if marked(n, tmp_path)] == []
    assert not fleet.socket.exists()


def test_sigterm_then_a_new_run_starts_every_workload_with_its_budget(
    tmp_path: Path, fleets: list[RunningFleet]
) -> None:
    """What SIGTERM (or `ctl stop` before it) stopped, the next relaunch run starts, budgets where they were."""
    crash = ["sh", "-c", "sleep 0.2; exit 3"]
    budget = '{ mode = "always", backoff = { kind = "constant", seconds = 0.1 }, budget = { kind = "count", max_restarts = 1000 } }'
    body = fleet_file(4) + exec_table("crashy", crash, policy=budget)
    fleet = RunningFleet(tmp_path, body).start()
    fleets.append(fleet)
    wait_for(lambda: fleet.all_running(names(4)), 30, "4 running")
    wait_for(lambda: fleet.rows()["crashy"]["restarts"] >= 3, 30, "3 restarts of crashy")
    assert request(fleet.socket, "stop", {"name": "w01"})["ok"] is True
    wait_for(lambda: fleet.rows()["w01"]["phase"] == "stopped", 30, "w01 stopped")
    fleet.signal(signal.SIGTERM)
    assert fleet.wait(60) == 0
    assert [n for n in [*names(4), "crashy"] if marked(n, tmp_path)] == []
    again = RunningFleet(tmp_path, body).start()
    fleets.append(again)
    rows = wait_for(lambda: again.all_running(names(4)), 30, "4 running again")
    for n in names(4):
        assert len(marked(n, tmp_path)) == 1, n
    restarts = again.rows()["crashy"]["restarts"]
    assert restarts >= 3  # counted on from the last run's, not from 0
    assert again.rows()["crashy"]["budget_left"] <= 1000 - 3
    assert {n: r["restarts"] for n, r in rows.items() if n != "crashy"} == {n: 0 for n in names(4)}


def test_sigkill_then_a_new_run_adopts_every_workload(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """After a SIGKILL of relaunch run, a new one on the same file adopts each live run: one copy each."""
    fleet = RunningFleet(tmp_path, fleet_file(20)).start()
    fleets.append(fleet)
    before = {
        n: r["pid"] for n, r in wait_for(lambda: fleet.all_running(names(20)), 30, "20 running").items()
    }
    fleet.kill()
    again = RunningFleet(tmp_path, fleet.file.read_text()).start()
    fleets.append(again)
    rows = wait_for(lambda: again.all_running(names(20)), 30, "20 adopted")
    assert {n: r["pid"] for n, r in rows.items()} == before
    for n in names(20):
        assert marked(n, tmp_path) == [before[n]]


def test_a_second_run_on_the_same_store_refuses(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """A second relaunch run on a held store exits 2 with one line, and leaves the first alone."""
    fleet = RunningFleet(tmp_path, fleet_file(2)).start()
    fleets.append(fleet)
    wait_for(lambda: fleet.all_running(names(2)), 30, "2 running")
    second = subprocess.run(
        [sys.executable, "-m", "relaunch", "run", str(fleet.file)],
        capture_output=True,
        text=True,
        timeout=60,
        env=fleet.env(),
    )
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "relaunch.db" in lines[0]
    assert str(fleet.proc.pid) in lines[0]  # type: ignore[union-attr]
    assert fleet.all_running(names(2))


def test_a_bad_file_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    """A fleet file with a bad key exits 2 with one line naming file, table and key."""
    body = exec_table("ok", SLEEP) + exec_table("bad", SLEEP) + 'policy = "no-such-preset"\n'
    path = tmp_path / "relaunch.toml"
    path.write_text(body)
    done = subprocess.run(
        [sys.executable, "-m", "relaunch", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLEET_TEST_DIR": str(tmp_path)},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{path}: [workload.bad] policy:" in lines[0]
    assert marked("ok", tmp_path) == []
    assert not (tmp_path / "relaunch.db").exists()


def test_metrics_parse(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """--metrics serves Prometheus text that prometheus_client's parser reads, with every family."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    crash = ["sh", "-c", "sleep 0.2; exit 3"]
    body = fleet_file(2) + exec_table("crashy", crash, policy='{ preset = "recommended" }')
    fleet = RunningFleet(tmp_path, body, extra_args=["--metrics", f"127.0.0.1:{port}"]).start()
    fleets.append(fleet)
    wait_for(lambda: fleet.rows()["crashy"]["restarts"] >= 1, 30, "a restart")

    def scrape() -> dict[str, list]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        return {f.name: f.samples for f in text_string_to_metric_families(text)}

    families = scrape()
    for name in (
        "relaunch_restarts",
        "relaunch_decisions",
        "relaunch_workload_phase",
        "relaunch_budget_remaining",
        "relaunch_store_commit_seconds",
        "relaunch_store_healthy",
    ):
        assert name in families, sorted(families)
    restarts = [s for s in families["relaunch_restarts"] if s.name == "relaunch_restarts_total"]
    assert any(s.labels["workload"] == "crashy" and s.value >= 1 for s in restarts)
    phases = {
        (s.labels["workload"], s.labels["phase"]): s.value
        for s in families["relaunch_workload_phase"]
        if s.labels["workload"] == "w00"
    }
    assert phases[("w00", "running")] == 1.0
    assert sum(phases.values()) == 1.0
    assert [s.value for s in families["relaunch_store_healthy"]] == [1.0]


def test_control_from_another_uid_is_refused(tmp_path: Path, fleets: list[RunningFleet]) -> None:
    """A client of another uid cannot control the fleet: the socket is 0600 and its peer is checked."""
    fleet = RunningFleet(tmp_path, fleet_file(1)).start()
    fleets.append(fleet)
    assert fleet.socket.stat().st_mode & 0o777 == 0o600
    probe = (
        "import os, sys\n"
        "from relaunch.fleet.wire import request\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        f"    reply = request({toml_string(str(fleet.socket))}, 'stop', {{'name': 'w00'}})\n"
        "except Exception as error:\n"
        "    print('refused:', error); sys.exit(0)\n"
        "print('reply:', reply); sys.exit(0 if reply.get('ok') is False else 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(0.2)
    assert fleet.rows()["w00"]["phase"] == "running"
