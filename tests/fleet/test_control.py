"""The control socket and the ctl commands, over real unix sockets against an in-memory fleet."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relaunch.fleet import control, wire
from relaunch.fleet.api import STATUS_KEYS, FleetError
from relaunch.fleet.commands import COMMANDS, get_commands
from relaunch.fleet.commands.status import Status
from relaunch.fleet.control import ControlServer
from relaunch.fleet.ctl import ctl_main
from relaunch.fleet.wire import ControlError, NoDaemon, request, stream

from .double import MemoryFleet, row

NOBODY = 65534


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Short on purpose: a socket path holds at most 107 bytes, and pytest's tmp_path can be long.
    where = Path(tempfile.mkdtemp(prefix="rl-ctl-", dir="/tmp"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def fleet(sock_dir: Path) -> MemoryFleet:
    logs = {("web", "stdout"): sock_dir / "web.out", ("web", "stderr"): sock_dir / "web.err"}
    return MemoryFleet(
        [
            row("web", uptime=75.0, restarts=2, budget_left=3.0),
            row(
                "db",
                group="data",
                phase="backing-off",
                pid=None,
                started_at=None,
                uptime=None,
                restarts=7,
                attempt=2,
                budget_left=None,
                restart_at=2_000_000_030.0,
                reason="ran 2.0s, exit 1; retry 2 of 5 in 30.0s",
                rule="backoff",
            ),
            row("cache", kind="container", pid=None, container="relaunch-cache", health="healthy"),
        ],
        logs,
    )


@pytest.fixture
def server(sock_dir: Path, fleet: MemoryFleet) -> Iterator[ControlServer]:
    with ControlServer(sock_dir / "fleet.sock", fleet, get_commands()) as srv:
        yield srv


def raw(path: Path, data: bytes, *, half_close: bool = False) -> dict[str, Any]:
    """Send ``data`` as it is and return the one reply line, parsed."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        reply = sock.makefile("rb").readline()
    parsed: dict[str, Any] = json.loads(reply)
    return parsed


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# -- the socket: binding, mode, closing -------------------------------------------------------


def test_socket_file_is_mode_0600_even_under_a_permissive_umask(sock_dir: Path, fleet: MemoryFleet) -> None:
    """The socket file is created owner-only whatever the umask."""
    old = os.umask(0)
    try:
        with ControlServer(sock_dir / "fleet.sock", fleet, get_commands()):
            mode = os.stat(sock_dir / "fleet.sock").st_mode
    finally:
        os.umask(old)
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_close_unlinks_its_socket_within_a_second_with_connections_open(
    server: ControlServer, fleet: MemoryFleet
) -> None:
    """close() ends an idle connection and a follow stream, removes the socket, and returns within a second."""
    fleet.logs["web", "stdout"].write_text("one\n")
    follow = stream(server.path, "logs", {"name": "web", "follow": True})
    assert next(follow)["lines"] == ["one"]
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(str(server.path))
    began = time.monotonic()
    server.close()
    assert time.monotonic() - began < 1.0
    assert not server.path.exists()
    assert list(follow) == []  # the stream ended: the daemon closed it
    idle.close()
    server.close()  # idempotent


def test_close_leaves_a_socket_file_it_did_not_create(server: ControlServer) -> None:
    """close() removes only the socket file it bound, checked by inode."""
    server.path.unlink()
    server.path.write_text("someone else's")
    server.close()
    assert server.path.read_text() == "someone else's"


def test_a_stale_socket_is_replaced_and_a_live_one_refused(sock_dir: Path, fleet: MemoryFleet) -> None:
    """A socket file nobody listens on is taken over; one a live server listens on is refused by name."""
    path = sock_dir / "fleet.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, as a SIGKILLed daemon leaves it
    with ControlServer(path, fleet, get_commands()):
        assert request(path, "status")["ok"]
        with pytest.raises(ControlError, match="another relaunch run is listening on it"):
            ControlServer(path, fleet, get_commands())
        assert request(path, "status")["ok"]


def test_a_file_that_is_not_a_socket_is_never_replaced(sock_dir: Path, fleet: MemoryFleet) -> None:
    """A regular file at the socket path is refused and kept."""
    path = sock_dir / "fleet.sock"
    path.write_text("keep me")
    with pytest.raises(ControlError, match="exists and is not a socket"):
        ControlServer(path, fleet, get_commands())
    assert path.read_text() == "keep me"


def test_a_path_over_107_bytes_is_refused_by_name(sock_dir: Path, fleet: MemoryFleet) -> None:
    """Both ends refuse a socket path longer than a unix address holds, naming it."""
    path = sock_dir / ("x" * (107 - len(str(sock_dir))))
    assert len(str(path)) == 108
    with pytest.raises(ControlError, match=f"{path}: the path is 108 bytes"):
        ControlServer(path, fleet, get_commands())
    with pytest.raises(ControlError, match="108 bytes"):
        request(path, "status")
    exactly = sock_dir / ("x" * (106 - len(str(sock_dir))))
    with ControlServer(exactly, fleet, get_commands()):
        assert request(exactly, "status")["ok"]


def test_no_daemon_is_named(sock_dir: Path) -> None:
    """A missing socket and a socket nobody listens on both say no relaunch run is listening there."""
    missing = sock_dir / "none.sock"
    with pytest.raises(NoDaemon, match=f"no relaunch run is listening on {missing}"):
        request(missing, "status")
    stale = sock_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(stale))
    with pytest.raises(NoDaemon, match=f"no relaunch run is listening on {stale}"):
        request(stale, "status")


# -- peers of another uid -----------------------------------------------------------------------


def _as_nobody(job: Callable[[], str], setuid: bool = True) -> str:
    """Run ``job`` in a forked child (as uid 65534 if ``setuid``) and return what it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only sockets and a pipe, then _exit
        os.close(read_end)
        try:
            if setuid:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            result = job()
        except BaseException as exc:  # noqa: BLE001 - the forked child must reach os._exit whatever happens
            result = f"{type(exc).__name__}: {exc}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")


@needs_root
def test_a_peer_of_another_uid_is_refused_naming_both_uids(server: ControlServer, fleet: MemoryFleet) -> None:
    """SO_PEERCRED: a client of uid 65534 gets an error reply naming its uid and the daemon's, and nothing runs."""
    # Let uid 65534 reach and connect to the socket, so that the peer check is what refuses it.
    os.chmod(server.path.parent, 0o711)
    os.chmod(server.path, 0o666)
    fleet.calls.clear()

    def stop_web() -> str:
        return json.dumps(request(server.path, "stop", {"name": "web"}))

    refused = json.loads(_as_nobody(stop_web))
    assert refused["ok"] is False
    assert "uid 65534" in refused["error"]
    assert f"uid {os.geteuid()}" in refused["error"]
    assert fleet.calls == []
    # The same client as the daemon's own uid is served: the refusal is the uid's doing.
    assert json.loads(_as_nobody(stop_web, setuid=False)) == {"ok": True, "name": "web"}
    assert fleet.calls == [("stop", "web")]


@needs_root
def test_the_0600_mode_keeps_other_users_out(server: ControlServer) -> None:
    """Another uid cannot even connect to the socket file: the client says permission denied."""
    os.chmod(server.path.parent, 0o711)  # the folder lets it through: the socket's own mode stops it
    out = _as_nobody(lambda: json.dumps(request(server.path, "status")))
    assert out.startswith("ControlError: ")
    assert "permission denied" in out


# -- the wire: malformed requests never stop the server --------------------------------------


@pytest.mark.parametrize(
    ("data", "half_close", "expected"),
    [
        (b"not json\n", False, "malformed request: not JSON"),
        (b"\xff\xfe\n", False, "malformed request: not JSON"),
        (b"[1, 2]\n", False, "must be a JSON object, got list"),
        (b'{"command": "status"}\n', False, "protocol version (v) None is not 1"),
        (b'{"v": 2, "command": "status"}\n', False, "protocol version (v) 2 is not 1"),
        (b'{"v": true, "command": "status"}\n', False, "protocol version (v) True is not 1"),
        (b'{"v": 1, "command": "status", "extra": 1}\n', False, "unknown key 'extra'"),
        (b'{"v": 1, "command": "bogus"}\n', False, "unknown command 'bogus' (commands: status, start"),
        (b'{"v": 1}\n', False, "unknown command None"),
        (b'{"v": 1, "command": "status", "args": [1]}\n', False, "args must be a JSON object"),
        (b'{"v": 1, "command": "status"}', True, "the connection ended before a newline"),
        (b"x" * (wire.MAX_REQUEST_BYTES + 2), False, "longer than 65536 bytes"),
    ],
)
def test_a_malformed_request_gets_an_error_naming_it_and_the_server_goes_on(
    server: ControlServer, data: bytes, half_close: bool, expected: str
) -> None:
    """Each malformed request gets one error reply saying what is wrong, and the next request is served."""
    reply = raw(server.path, data, half_close=half_close)
    assert reply["ok"] is False
    assert expected in reply["error"]
    assert request(server.path, "status")["ok"]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("status", {"names": "web"}, "status: args.names: must be a list of workload names, got 'web'"),
        ("status", {"name": "web"}, "status: unknown argument 'name' (it takes: names)"),
        ("start", {}, "start: args.name: must be a workload name, got None"),
        ("stop", {"name": 5}, "stop: args.name: must be a workload name, got 5"),
        ("restart", {"name": ""}, "restart: args.name: must be a workload name, got ''"),
        ("reload", {"force": True}, "reload: unknown argument 'force' (it takes: none)"),
        (
            "logs",
            {"name": "web", "stream": "both"},
            "logs: args.stream: must be one of stdout, stderr, got 'both'",
        ),
        (
            "logs",
            {"name": "web", "lines": -1},
            "logs: args.lines: must be an integer from 0 to 10000, got -1",
        ),
        (
            "logs",
            {"name": "web", "lines": True},
            "logs: args.lines: must be an integer from 0 to 10000, got True",
        ),
        ("logs", {"name": "web", "follow": "yes"}, "logs: args.follow: must be true or false, got 'yes'"),
    ],
)
def test_a_bad_argument_is_named_with_its_value(
    server: ControlServer, fleet: MemoryFleet, command: str, args: dict[str, Any], expected: str
) -> None:
    """A bad argument gets an error reply naming the command, the field and the value; the fleet is not asked."""
    fleet.calls.clear()
    assert request(server.path, command, args) == {"ok": False, "error": expected}
    assert [c for c in fleet.calls if c[0] != "status"] == []


def test_a_failing_fleet_costs_one_error_reply(sock_dir: Path, fleet: MemoryFleet) -> None:
    """An exception from the fleet, or a reply JSON cannot hold, is an error reply, not a dead server."""

    def broken() -> list[dict[str, Any]]:
        raise RuntimeError("the table is on fire")

    fleet.status = broken  # type: ignore[method-assign]
    with ControlServer(sock_dir / "f.sock", fleet, get_commands()) as srv:
        reply = request(srv.path, "status")
        assert reply == {"ok": False, "error": "status: internal error: RuntimeError: the table is on fire"}
        fleet.status = lambda: [row("web", budget_left=math.inf)]  # type: ignore[method-assign]
        reply = request(srv.path, "status")
        assert reply["ok"] is False
        assert "the reply is not JSON" in reply["error"]
        assert request(srv.path, "stop", {"name": "web"}) == {"ok": True, "name": "web"}


def test_a_silent_client_is_answered_after_the_deadline(server: ControlServer, monkeypatch: Any) -> None:
    """A client that connects and sends nothing gets an error when the request deadline passes."""
    monkeypatch.setattr(control, "IO_TIMEOUT_S", 0.2)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(server.path))
        reply = json.loads(sock.makefile("rb").readline())
    assert reply == {"ok": False, "error": "malformed request: no complete line within 0.2s"}


def test_connections_beyond_the_bound_are_refused_until_one_ends(sock_dir: Path, fleet: MemoryFleet) -> None:
    """With max_connections open, the next connection is told the server is busy; once one ends, it is served."""
    with ControlServer(sock_dir / "f.sock", fleet, get_commands(), max_connections=2) as srv:
        idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
        for sock in idle:
            sock.connect(str(srv.path))
        eventually(lambda: len(srv._open) == 2)
        busy = request(srv.path, "status")
        assert busy["ok"] is False
        assert busy["error"].startswith("busy: 2 control connections are open")
        idle[0].close()
        eventually(lambda: len(srv._open) == 1)
        assert request(srv.path, "status")["ok"]
        idle[1].close()


# -- the commands, end to end ---------------------------------------------------------------------


def test_status_round_trip(server: ControlServer, fleet: MemoryFleet) -> None:
    """status returns every row, in file order, with exactly the documented keys."""
    reply = request(server.path, "status")
    assert reply["ok"] is True
    assert reply["workloads"] == fleet.rows
    assert all(tuple(r) == STATUS_KEYS for r in reply["workloads"])
    assert isinstance(reply["now"], float)


def test_status_of_named_workloads(server: ControlServer) -> None:
    """status NAME... keeps file order and refuses an unknown name."""
    reply = request(server.path, "status", {"names": ["cache", "web"]})
    assert [r["name"] for r in reply["workloads"]] == ["web", "cache"]
    assert request(server.path, "status", {"names": ["web", "nope"]}) == {
        "ok": False,
        "error": "status: no workload named 'nope'",
    }


@pytest.mark.parametrize(
    ("command", "done"), [("start", "started"), ("stop", "stopped"), ("restart", "restarted")]
)
def test_each_workload_command_acts_on_exactly_that_workload(
    server: ControlServer, fleet: MemoryFleet, capsys: Any, command: str, done: str
) -> None:
    """start, stop and restart NAME call the fleet once for NAME and print "NAME: <done>"."""
    fleet.calls.clear()
    assert ctl_main(["--socket", str(server.path), command, "db"]) == 0
    assert fleet.calls == [(command, "db")]
    assert capsys.readouterr().out == f"db: {done}\n"
    assert ctl_main(["--socket", str(server.path), command, "db", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "name": "db"}


@pytest.mark.parametrize("command", ["start", "stop", "restart"])
def test_an_unknown_workload_is_the_fleets_refusal(server: ControlServer, capsys: Any, command: str) -> None:
    """The fleet's FleetError is the error reply, as it is, and ctl exits 1."""
    assert request(server.path, command, {"name": "nope"}) == {
        "ok": False,
        "error": "no workload named 'nope'",
    }
    assert ctl_main(["--socket", str(server.path), command, "nope"]) == 1
    assert capsys.readouterr().err == f"relaunch ctl {command}: error: no workload named 'nope'\n"


def test_reload_reports_each_change(server: ControlServer, fleet: MemoryFleet, capsys: Any) -> None:
    """reload returns the fleet's four lists and prints the changed ones and a count of the rest."""
    fleet.reload_result = {
        "added": ["new"],
        "removed": ["old1", "old2"],
        "restarted": [],
        "unchanged": ["web"],
    }
    assert request(server.path, "reload") == {
        "ok": True,
        "added": ["new"],
        "removed": ["old1", "old2"],
        "restarted": [],
        "unchanged": ["web"],
    }
    assert ctl_main(["--socket", str(server.path), "reload"]) == 0
    assert capsys.readouterr().out == "added: new\nremoved: old1, old2\nunchanged: 1 workload\n"


def test_reload_of_a_bad_file_is_its_validation_error(
    server: ControlServer, fleet: MemoryFleet, capsys: Any
) -> None:
    """A file that does not validate: the one-line error comes back as it is, ctl exits 1."""
    message = "fleet.toml: [workload.web]: unknown key 'exce'"
    fleet.reload_result = FleetError(message)
    assert request(server.path, "reload") == {"ok": False, "error": message}
    assert ctl_main(["--socket", str(server.path), "reload"]) == 1
    assert capsys.readouterr().err == f"relaunch ctl reload: error: {message}\n"


def test_logs_prints_the_last_lines_of_the_chosen_stream(
    server: ControlServer, fleet: MemoryFleet, capsys: Any
) -> None:
    """logs NAME [-n N] [--stderr] prints the last N lines of that file; a file not written yet is empty."""
    fleet.logs["web", "stdout"].write_text("".join(f"out {i}\n" for i in range(30)) + "partial")
    fleet.logs["web", "stderr"].write_text("err 1\nerr 2\n")
    assert ctl_main(["--socket", str(server.path), "logs", "web"]) == 0
    assert capsys.readouterr().out.splitlines() == [*(f"out {i}" for i in range(21, 30)), "partial"]
    assert ctl_main(["--socket", str(server.path), "logs", "web", "-n", "1", "--stderr"]) == 0
    assert capsys.readouterr().out == "err 2\n"
    reply = request(server.path, "logs", {"name": "web", "stream": "stderr", "lines": 0})
    assert reply == {
        "ok": True,
        "name": "web",
        "stream": "stderr",
        "path": str(fleet.logs["web", "stderr"]),
        "lines": [],
    }
    fleet.logs["web", "stderr"].unlink()
    assert request(server.path, "logs", {"name": "web", "stream": "stderr"})["lines"] == []
    assert fleet.calls[-1] == ("log_path", "web", "stderr")


def test_logs_of_a_workload_without_a_log_file_is_refused(server: ControlServer, capsys: Any) -> None:
    """A workload with no log file (a container, inherited output): the fleet's error, exit 1."""
    assert ctl_main(["--socket", str(server.path), "logs", "cache"]) == 1
    assert "cache: no stdout log" in capsys.readouterr().err


def test_logs_of_a_long_file_reads_only_its_end(server: ControlServer, fleet: MemoryFleet) -> None:
    """The last lines of a file of a million lines; a line longer than the piece size is sent as pieces of it."""
    from relaunch.adapters.logfiles import LINE_LIMIT

    path = fleet.logs["web", "stdout"]
    with path.open("w") as f:
        for i in range(1_000_000):
            f.write(f"{i}\n")
        f.write("y" * (LINE_LIMIT * 2 + 5) + "\nlast\n")
    lines = request(server.path, "logs", {"name": "web", "lines": 5})["lines"]
    assert lines == ["999999", "y" * LINE_LIMIT, "y" * LINE_LIMIT, "yyyyy", "last"]


def test_logs_follow_streams_appended_lines_across_a_rotation(
    server: ControlServer, fleet: MemoryFleet
) -> None:
    """logs -f sends the tail, then each line appended, then the lines of the new file after a rotation."""
    path = fleet.logs["web", "stdout"]
    path.write_text("old\n")
    replies = stream(server.path, "logs", {"name": "web", "lines": 5, "follow": True})
    assert next(replies)["lines"] == ["old"]
    with path.open("a") as f:
        f.write("one\ntw")
        f.flush()
        assert next(replies) == {"ok": True, "line": "one"}
        f.write("o\nthree\n")
    assert next(replies) == {"ok": True, "line": "two"}
    assert next(replies) == {"ok": True, "line": "three"}
    with path.open("a") as f:
        f.write("last of the old file\n")
    path.rename(path.with_suffix(".out.1"))
    path.write_text("first of the new file\n")
    assert next(replies) == {"ok": True, "line": "last of the old file"}
    assert next(replies) == {"ok": True, "line": "first of the new file"}
    replies.close()


def test_a_follow_ends_when_its_client_hangs_up(sock_dir: Path, fleet: MemoryFleet) -> None:
    """The daemon notices a follower's hang-up while nothing is written, and frees its connection."""
    fleet.logs["web", "stdout"].write_text("")
    with ControlServer(sock_dir / "f.sock", fleet, get_commands(), max_connections=1) as srv:
        replies = stream(srv.path, "logs", {"name": "web", "follow": True})
        assert next(replies)["lines"] == []
        assert request(srv.path, "status")["error"].startswith("busy")
        replies.close()
        eventually(lambda: not srv._open)
        assert request(srv.path, "status")["ok"]


# -- rendering and the ctl command line ------------------------------------------------------------


def test_status_table(fleet: MemoryFleet) -> None:
    """The table has one aligned column per field, human durations, the time to the next start and the reason."""
    reply = {"ok": True, "now": 2_000_000_000.0, "workloads": fleet.rows}
    lines = Status().render(reply, as_json=False).splitlines()
    assert lines[0].split() == [
        "NAME", "GROUP", "PHASE", "PID/CONTAINER", "UPTIME", "RESTARTS", "BUDGET", "NEXT", "HEALTH", "REASON"
    ]  # fmt: skip
    assert lines[1].split() == ["web", "-", "running", "1000", "1m15s", "2", "3", "-", "-", "-"]
    assert lines[2].split()[:9] == ["db", "data", "backing-off", "-", "-", "7", "unlimited", "in", "30.0s"]
    assert lines[2].endswith("ran 2.0s, exit 1; retry 2 of 5 in 30.0s")
    assert lines[3].split() == [
        "cache",
        "-",
        "running",
        "relaunch-cache",
        "1m15s",
        "0",
        "5",
        "-",
        "healthy",
        "-",
    ]
    starts = {title: lines[0].index(title) for title in ("PHASE", "BUDGET", "REASON")}
    assert lines[2].index("backing-off") == starts["PHASE"]
    assert lines[2].index("unlimited") == starts["BUDGET"]
    assert lines[2].index("ran 2.0s") == starts["REASON"]


def test_status_table_leaves_out_empty_group_and_health_columns() -> None:
    """GROUP and HEALTH appear only when some workload has one; no workloads says so."""
    reply = {"ok": True, "now": 0.0, "workloads": [row("web")]}
    assert Status().render(reply, as_json=False).splitlines()[0].split() == [
        "NAME", "PHASE", "PID/CONTAINER", "UPTIME", "RESTARTS", "BUDGET", "NEXT", "REASON"
    ]  # fmt: skip
    assert Status().render({"ok": True, "now": 0.0, "workloads": []}, as_json=False) == "no workloads"


def test_ctl_status_prints_the_table_or_json(server: ControlServer, capsys: Any) -> None:
    """relaunch ctl status prints the table; --json prints the reply as one JSON line."""
    assert ctl_main(["--socket", str(server.path), "status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("NAME")
    assert len(out.splitlines()) == 4
    assert ctl_main(["--socket", str(server.path), "status", "web", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert [r["name"] for r in json.loads(out)["workloads"]] == ["web"]


def test_every_registered_command_has_its_parser_and_json(server: ControlServer, capsys: Any) -> None:
    """Each command of the registry is a ctl subcommand taking --json, whose message the daemon executes."""
    assert list(get_commands()) == ["status", "start", "stop", "restart", "reload", "logs"]
    assert [c.name for c in COMMANDS] == list(get_commands())
    argv = {
        "status": [],
        "start": ["web"],
        "stop": ["web"],
        "restart": ["web"],
        "reload": [],
        "logs": ["web"],
    }
    for name, words in argv.items():
        assert ctl_main(["--socket", str(server.path), name, *words, "--json"]) == 0, name
        assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["start"], "the following arguments are required: NAME"),
        (["logs", "web", "-n", "x"], "argument -n/--lines: invalid int value: 'x'"),
        (["--socket", "/tmp/" + "s" * 103, "status"], "the path is 108 bytes"),
        (["--socket", "a", "-c", "b", "status"], "not allowed with argument"),
    ],
)
def test_ctl_bad_usage_exits_2_with_one_line(argv: list[str], expected: str, capsys: Any) -> None:
    """Bad usage is one line on stderr and exit 2, before anything is sent."""
    assert ctl_main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1


def test_ctl_without_a_daemon_exits_3(sock_dir: Path, capsys: Any) -> None:
    """Nothing listening: exit 3 and the one line that says so."""
    path = sock_dir / "none.sock"
    assert ctl_main(["--socket", str(path), "status"]) == 3
    assert capsys.readouterr().err == f"relaunch ctl status: no relaunch run is listening on {path}\n"


def test_ctl_help_exits_0(capsys: Any) -> None:
    """--help lists every command and the exit codes."""
    assert ctl_main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in get_commands():
        assert name in out
    assert "exit codes:" in out


def test_requests_from_many_threads_at_once(server: ControlServer, fleet: MemoryFleet) -> None:
    """Concurrent clients each get their own complete reply (refused as busy at worst, never mixed up)."""
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        with contextlib.suppress(ControlError):
            reply = request(server.path, "status", {"names": [fleet.rows[i % 3]["name"]]})
            with lock:
                results.append(reply)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    served = [r for r in results if r["ok"]]
    assert served
    assert all(len(r["workloads"]) == 1 for r in served)
    assert all(r["error"].startswith("busy") for r in results if not r["ok"])


def test_ctl_finds_the_socket_from_the_fleet_file(
    server: ControlServer, sock_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """-c FILE (default ./relaunch.toml) finds <store>.sock beside the file's store; a bad file is exit 2."""
    # The server's socket is fleet.sock in sock_dir: a fleet file whose store is "fleet" names it.
    (sock_dir / "relaunch.toml").write_text('[fleet]\nstore = "fleet"\n')
    (sock_dir / "other.toml").write_text('[fleet]\nstore = "fleet"\n')
    (sock_dir / "bad.toml").write_text("[fleet]\nstore = 3\n")
    monkeypatch.chdir(sock_dir)
    assert ctl_main(["status"]) == 0
    assert ctl_main(["-c", "other.toml", "status"]) == 0
    capsys.readouterr()
    assert ctl_main(["-c", "missing.toml", "status"]) == 2
    assert capsys.readouterr().err == "missing.toml: no such fleet file\n"
    assert ctl_main(["-c", "bad.toml", "status"]) == 2
    assert capsys.readouterr().err == "bad.toml: [fleet] store: must be a file name, got 3\n"


def test_ctl_imports_only_what_the_client_needs(tmp_path: Path) -> None:
    """`relaunch ctl status` imports neither the kernel, the server nor typing (a tenth of its time)."""
    import subprocess
    import sys

    (tmp_path / "relaunch.toml").write_text('[fleet]\nstore = "s.db"\n', encoding="utf-8")
    probe = (
        "import sys\n"
        "from relaunch.cli import main\n"
        "code = main(['ctl', '-c', sys.argv[1], 'status'])\n"
        "heavy = ['typing', 'tomllib', 'pathlib', 'dataclasses', 'logging', 'threading', 'attrs',\n"
        "         'relaunch.kernel', 'relaunch.fleet.control', 'relaunch.fleet.api', 'relaunch.adapters']\n"
        "print(code, [m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "relaunch.toml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # Exit 3: no daemon listens there; the point is what it took to find that out.
    assert done.stdout.strip() == "3 []"
