"""``supervise``'s health flags: Docker's names, loopback-only probes, and one line (exit 2) for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_cli import fails, run

FOREVER = ["--", "sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"]
GIVE_UP_AFTER_ONE = ["--preset", "docker", "--set", "policy=on-failure", "--set", "max_retries=1"]


def test_an_exec_workload_whose_health_cmd_fails_is_restarted_as_unhealthy_then_given_up(
    tmp_path: Path,
) -> None:
    """--health-cmd with short timings: each run is killed as unhealthy; the second is the give-up."""
    result = run(
        "supervise", "job", "--exec", "--json", *GIVE_UP_AFTER_ONE,
        "--health-cmd", "echo not ready; exit 1", "--health-interval", "100ms", "--health-retries", "1",
        *FOREVER, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["cause"], r["action"]) for r in records] == [("unhealthy", "retry"), ("unhealthy", "give-up")]
    assert records[0]["health"] == {"verdict": "unhealthy", "failures": 1, "output": "not ready"}


def test_the_text_line_of_a_health_kill_shows_the_probe_output(tmp_path: Path) -> None:
    """Without --json the decision line says how many probes failed and what the last one said."""
    result = run(
        "supervise", "job", "--exec", *GIVE_UP_AFTER_ONE, "--health-tcp", "1",
        "--health-interval", "0.1", "--health-retries", "2", *FOREVER, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "(2 failed probes: connect to 127.0.0.1:1: Connection refused)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exec", "--health-cmd", "true", "--health-interval", "5x"],
         "--health-interval: must be a duration such as 90, '45s', '10m' or '2h', got '5x'"),
        (["--exec", "--health-cmd", "true", "--health-timeout", "soon"],
         "--health-timeout: must be a duration such as 90, '45s', '10m' or '2h', got 'soon'"),
        (["--exec", "--health-cmd", "true", "--health-start-period", "0.0001"],
         "--health-start-period: must be 0 (Docker's default) or at least 1ms, got '0.0001'"),
        (["--exec", "--health-cmd", "true", "--health-retries", "two"],
         "--health-retries: must be a whole number >= 0, got 'two'"),
        (["--exec", "--health-interval", "5s"],
         "--health-interval: needs --health-cmd, --health-tcp or --health-http with --exec"),
        (["--exec", "--health-tcp", "http"], "--health-tcp: must be a port number 1-65535, got 'http'"),
        (["--exec", "--health-http", "http://10.0.0.1/healthz"],
         "--health-http: must be a loopback address (127.0.0.0/8, ::1 or localhost), got '10.0.0.1'"),
        (["--exec", "--health-http", "ftp://127.0.0.1/"],
         "--health-http: must be an http:// URL with a host, got 'ftp://127.0.0.1/'"),
        (["--image", "busybox", "--health-tcp", "80"], "--health-tcp 80: only for --exec, not --image"),
        (["--image", "busybox", "--health-http", "http://127.0.0.1/"],
         "--health-http http://127.0.0.1/: only for --exec, not --image"),
    ],
)  # fmt: skip
def test_a_bad_health_flag_is_one_line_naming_the_flag_and_the_value(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Each bad health value: exit 2 and one line naming the flag and the value."""
    assert (
        fails("supervise", "job", *args, "--", "true", cwd=tmp_path)
        == f"relaunch supervise: error: {message}"
    )
