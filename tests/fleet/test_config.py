"""The fleet file: what it accepts, and the one line naming file, table and key for what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaunch.fleet.config import ConfigError, ContainerWorkload, ExecWorkload, load
from relaunch.fleet.paths import socket_path
from relaunch.kernel import SlidingWindow, Strategy

GOOD = """
[fleet]
store = "state.db"
logs = "out"
log_max_bytes = "1MiB"
log_backups = 2

[workload.web]
exec = ["python3", "-m", "http.server"]
env = { PORT = "8000" }
policy = { preset = "kubernetes" }
health = { http = "http://127.0.0.1:8000/", interval = "5s", retries = 2 }

[workload.worker]
exec = ["sh", "-c", "exit 1"]
stderr = "stdout"
policy = { mode = "on-failure", backoff = { kind = "constant", seconds = "2s" } }

[workload.box]
image = "busybox"
command = ["sleep", "10"]

[group.g]
strategy = "rest_for_one"
members = ["worker", "web"]
budget = { restarts = 3, within = "1m" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relaunch.toml"
    path.write_text(text)
    return path


def test_a_good_file(tmp_path: Path) -> None:
    """Every kind of entry reads into its value, with paths relative to the file's folder."""
    config = load(write(tmp_path, GOOD))
    assert config.store == tmp_path / "state.db"
    assert config.socket == tmp_path / "state.db.sock" == Path(socket_path(tmp_path / "relaunch.toml"))
    web, worker, box = config.workloads
    assert isinstance(web, ExecWorkload)
    assert web.argv == ("python3", "-m", "http.server")
    assert web.env == {"PORT": "8000"}
    assert web.policy.name == "kubernetes"
    assert web.health is not None
    assert (web.health.probe, web.health.retries) == ("http", 2)
    assert web.stdout is not None
    assert (web.stdout.path, web.stdout.max_bytes, web.stdout.backups) == (
        tmp_path / "out" / "web.stdout.log",
        2**20,
        2,
    )
    assert isinstance(worker, ExecWorkload)
    assert worker.stderr == "stdout"
    assert worker.group == web.group == "g"
    assert isinstance(box, ContainerWorkload)
    assert (box.network, box.group) == ("none", None)
    (group,) = config.groups
    assert group.strategy is Strategy.REST_FOR_ONE
    assert group.members == ("worker", "web")
    assert group.budget == SlidingWindow(max_restarts=3, period=60.0)


def test_definitions_tell_a_changed_entry(tmp_path: Path) -> None:
    """Two reads of one file give equal definitions; an edited entry's differs, the others' do not."""
    first = load(write(tmp_path, GOOD))
    again = load(write(tmp_path, GOOD))
    edited = load(write(tmp_path, GOOD.replace('"sh", "-c", "exit 1"', '"sh", "-c", "exit 2"')))
    assert [w.definition for w in first.workloads] == [w.definition for w in again.workloads]
    changed = [
        a.name for a, b in zip(first.workloads, edited.workloads, strict=True) if a.definition != b.definition
    ]
    assert changed == ["worker"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[workload.a]\nexec = ["x"]\nbogus = 1\n', "[workload.a] bogus: unknown key"),
        (
            '[workload.a]\nexec = ["x"]\n[workload.a]\nexec = ["y"]\n',
            "[workload.a] declared twice (at line 3)",
        ),
        ('[workload.a]\nexec = ["x"]\npolicy = "nope"\n', "[workload.a] policy:"),
        (
            '[workload.a]\nexec = ["x"]\npreset = "kubernetes"\npolicy = "docker"\n',
            "[workload.a] preset: give policy or preset",
        ),
        (
            '[workload.a]\nexec = ["x"]\npolicy = { preset = "kubernetes", initial_delay = "ten" }\n',
            "[workload.a] policy:",
        ),
        ('[fleet]\nstop_grace = "soon"\n[workload.a]\nexec = ["x"]\n', "[fleet] stop_grace:"),
        ("[workload.a]\nexec = []\n", "[workload.a] exec: must be a non-empty list"),
        ('[workload.a]\nimage = "x"\nexec = ["x"]\n', "[workload.a] exec: a workload is a command"),
        ('[workload."a b"]\nexec = ["x"]\n', "[workload.a b] name: must be"),
        ('[workload.a]\nexec = ["x"]\ncwd = "/no/such/dir"\n', "[workload.a] cwd: no such folder"),
        ('[workload.a]\nexec = ["x"]\nuser = "no-such-user-here"\n', "[workload.a] user: no such user"),
        ('[workload.a]\nexec = ["x"]\nhealth = { tcp = 99999 }\n', "[workload.a] health.tcp: must be a port"),
        (
            '[workload.a]\nimage = "x"\nhealth = { tcp = 80 }\n',
            "[workload.a] health.tcp: a container's health",
        ),
        (
            '[workload.a]\nexec = ["x"]\n[group.g]\nmembers = ["a", "b"]\n',
            "[group.g] members: no workload 'b'",
        ),
        (
            '[workload.a]\nexec = ["x"]\n[group.g]\nmembers = ["a"]\nstrategy = "all"\n',
            "[group.g] strategy: must be one of",
        ),
        (
            '[workload.a]\nexec = ["x"]\n[group.g]\nmembers = ["a"]\n[group.h]\nmembers = ["a"]\n',
            "[group.h] members: 'a' is already in group 'g'",
        ),
        (
            '[workload.a]\nexec = ["x"]\nlog_max_bytes = "lots"\n',
            "[workload.a] log_max_bytes: must be a size",
        ),
        (
            '[fleet]\nlogs = "none"\n[workload.a]\nexec = ["x"]\nstdout = "file"\n',
            "[workload.a] stdout: 'file' needs",
        ),
        ("[fleet]\n", "workload: the file names no workload"),
        ("workloads = 1\n", "workloads: unknown table or key"),
        ('[workload.a]\nexec = ["x"\n', "not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """Each mistake is refused with one line that starts with the file and names table and key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}:")
    assert message in line


def test_a_missing_file(tmp_path: Path) -> None:
    """A file that is not there says so, naming it."""
    with pytest.raises(ConfigError, match="no such fleet file"):
        load(tmp_path / "nope.toml")


def test_identical_policy_tables_are_decoded_once(tmp_path: Path) -> None:
    """Workloads with the same policy table share one Policy; a different table gets its own."""
    table = '{ mode = "always", backoff = { kind = "constant", seconds = 0.5 } }'
    text = "".join(f'[workload.w{i}]\nexec = ["true"]\npolicy = {table}\n' for i in range(3))
    text += '[workload.other]\nexec = ["true"]\npolicy = { mode = "always", backoff = { kind = "constant", seconds = 1 } }\n'
    w0, w1, w2, other = load(write(tmp_path, text)).workloads
    assert w0.policy is w1.policy is w2.policy
    assert other.policy is not w0.policy
    assert other.policy != w0.policy
