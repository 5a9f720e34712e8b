"""The ``relaunch`` command line, through its real entry points (the console script and ``-m``)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from relaunch import Policy, presets
from relaunch.policyfile import preset_names

BIN = Path(sys.executable).parent
SCRIPT = str(BIN / "relaunch")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PRESETS = ", ".join(preset_names())


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def fails(*args: str, cwd: Path | None = None) -> str:
    """Run a command that must fail: exit 2, nothing on stdout, one line and no traceback on stderr."""
    result = run(*args, cwd=cwd)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.rstrip("\n")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- every command has help, and the two entry points agree -----------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["check"], ["simulate"], ["compare"], ["presets"], ["presets", "show"], ["supervise"], ["status"]],
    ids=lambda command: " ".join(command) or "relaunch",
)
def test_every_command_has_help(command: list[str]) -> None:
    """--help prints the command's usage and exits 0."""
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: {' '.join(['relaunch', *command])}")


def test_python_dash_m_is_the_same_command_line() -> None:
    """``python -m relaunch`` runs the same main as the ``relaunch`` script."""
    by_module = subprocess.run([sys.executable, "-m", "relaunch", "presets"], capture_output=True, text=True)
    assert by_module.returncode == 0
    assert by_module.stdout == run("presets").stdout


def test_version() -> None:
    assert run("--version").stdout == "relaunch 0.1.0\n"


def test_no_command_is_a_usage_error() -> None:
    assert fails() == "relaunch: error: the following arguments are required: COMMAND (see relaunch --help)"


def test_an_unknown_command_is_a_usage_error() -> None:
    assert fails("frobnicate").startswith("relaunch: error: argument COMMAND: invalid choice: 'frobnicate'")


# -- presets ---------------------------------------------------------------------------------------------


def test_presets_lists_every_preset_with_one_line() -> None:
    """One line per preset: its name and the first line of its docstring."""
    lines = run("presets").stdout.splitlines()
    assert [line.split()[0] for line in lines] == preset_names()
    assert any(line.startswith("toolhive ") and "PR #5172" in line for line in lines)


def test_presets_json() -> None:
    assert list(json.loads(run("presets", "--json").stdout)) == preset_names()


def test_presets_show_prints_parameters_and_the_crash_loop_delays() -> None:
    out = run("presets", "show", "toolhive").stdout
    keywords = out.split("# its keywords, as a policy file:\n")[1].split("\n\n")[0]
    assert tomllib.loads(keywords) == {
        "preset": "toolhive",
        "max_retries": 10,
        "initial_delay": 5.0,
        "max_backoff": 60.0,
        "stable_run_threshold": 30.0,
    }
    assert "budget: at most 9 restarts; when used up: give-up" in out
    assert out.endswith(
        "crash loop (exit 1 after 0.5s): 5.0s, 10.0s, 20.0s, 40.0s, 1m00s, 1m00s, 1m00s, 1m00s, 1m00s, "
        "then gives up (9 restarts)\n"
    )


def test_presets_show_takes_keywords() -> None:
    data = json.loads(run("presets", "show", "toolhive", "--set", "max_retries=3", "--json").stdout)
    assert data["parameters"]["max_retries"] == 3
    assert data["crash_loop"] == {"delays": [5.0, 10.0], "gives_up": True}
    assert Policy.from_dict(data["policy"]) == presets.toolhive(max_retries=3)


def test_presets_show_an_unknown_preset() -> None:
    assert fails("presets", "show", "nope") == (
        f"relaunch presets: error: unknown preset 'nope', expected one of {PRESETS}"
    )


# -- check -----------------------------------------------------------------------------------------------


def test_check_prints_the_resolved_policy_as_a_policy_file() -> None:
    """check validates, describes, and prints the policy spelled out; that text is itself a policy file."""
    result = run("check", str(EXAMPLES / "toolhive-3.toml"))
    assert result.returncode == 0
    assert result.stdout.startswith(f"{EXAMPLES / 'toolhive-3.toml'}: ok, resolves to 'toolhive':\n")
    spelled_out = result.stdout.split("# the same policy spelled out, as a policy file:\n")[1]
    assert Policy.from_dict(tomllib.loads(spelled_out)) == presets.toolhive(max_retries=3)


@pytest.mark.parametrize("name", ["toolhive-3.toml", "systemd-like.toml"])
def test_check_json_is_the_policy_dict(name: str) -> None:
    data = json.loads(run("check", str(EXAMPLES / name), "--json").stdout)
    assert Policy.from_dict(data).to_dict() == data


def test_check_a_preset_with_a_none_keyword(tmp_path: Path) -> None:
    """TOML has no null: "none" passes None to a keyword that takes it."""
    path = write(tmp_path, "p.toml", 'preset = "toolhive"\nstable_run_threshold = "none"\n')
    assert Policy.from_dict(json.loads(run("check", str(path), "--json").stdout)) == presets.toolhive_legacy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[backoff]\nkind = "exponential"\ninitial = 1\nfactor = 0.5\n',
            "backoff.factor: must be >= 1, got 0.5",
        ),
        (
            'mode = "sometimes"\n',
            "mode: unknown 'sometimes', expected one of always, on-failure, "
            "on-success, on-abnormal, on-watchdog, on-abort, never",
        ),
        ("count_lost = 1\n", "count_lost: must be true or false, got 1"),
        (
            'preset = "toolhive"\nmax_retry = 3\n',
            "max_retry: unknown keyword of preset toolhive, expected one of max_retries, initial_delay, "
            "max_backoff, stable_run_threshold",
        ),
        ('preset = "toolhive"\nmax_retries = 0\n', "max_retries: must be an integer >= 1, got 0"),
        ('preset = "nope"\n', f"unknown preset 'nope', expected one of {PRESETS}"),
        ("mode = \n", "not valid TOML: Invalid value (at line 1, column 8)"),
    ],
)
def test_check_rejects_a_bad_file_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    """A bad key, type or value: one line naming the file, the key path and what is allowed; exit 2."""
    path = write(tmp_path, "policy.toml", text)
    assert fails("check", str(path)) == f"relaunch check: error: {path}: {message}"


def test_check_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert (
        fails("check", str(path)) == f"relaunch check: error: {path}: cannot read: No such file or directory"
    )


# -- simulate ---------------------------------------------------------------------------------------------


def test_simulate_prints_the_timeline_and_a_summary() -> None:
    out = run("simulate", "--preset", "toolhive", "--set", "max_retries=3", "--scenario", "crash-loop").stdout
    lines = out.splitlines()
    assert lines[0] == "crash-loop under toolhive (1h00m00s of virtual time, seed 0)"
    assert lines[3].split() == ["run", "start", "duration", "ended", "decision", "delay", "reason"]
    assert lines[4].split()[:6] == ["1", "0.0s", "0.5s", "exit", "1", "retry"]
    assert lines[6].split()[:7] == ["3", "16.0s", "0.5s", "exit", "1", "give-up", "-"]
    assert lines[6].endswith("giving up: its budget (at most 2 restarts) is used up")
    assert lines[-2:] == [
        "  runs 3, restarts 2, uptime 1.5s, downtime 59m58s, availability 0.0%",
        "  longest outage 59m44s; gave up at 16.5s",
    ]


def test_simulate_json_has_every_decision() -> None:
    data = json.loads(run("simulate", "--preset", "toolhive_legacy", "--json").stdout)
    assert data["scenario"]["name"] == "daemon-flaps"
    assert [step["action"] for step in data["timeline"]] == ["retry"] * 9 + ["give-up"]
    assert {step["ending"]["cause"] for step in data["timeline"]} == {"lost"}
    assert data["summary"]["gave_up"] is True
    assert data["summary"]["restarts"] == 9
    assert Policy.from_dict(data["policy"]) == presets.toolhive_legacy()


def test_simulate_a_policy_file_on_a_scenario_file() -> None:
    result = run(
        "simulate",
        "--policy",
        str(EXAMPLES / "systemd-like.toml"),
        "--scenario",
        str(EXAMPLES / "flaps-then-crash.jsonl"),
        "--until",
        "30m",
        "--json",
    )
    data = json.loads(result.stdout)
    assert data["until"] == 1800.0
    assert len(data["timeline"]) == 8
    assert data["timeline"][-1]["action"] is None  # still running at the horizon


def test_simulate_set_reaches_into_a_policy_file() -> None:
    data = json.loads(
        run(
            "simulate",
            "--policy",
            str(EXAMPLES / "systemd-like.toml"),
            "--set",
            "backoff.steps=2",
            "--json",
            "--until",
            "1m",
        ).stdout
    )
    assert data["policy"]["backoff"]["steps"] == 2


def test_simulate_seeds_differ() -> None:
    first = run("simulate", "--preset", "recommended", "--scenario", "flaky", "--seed", "1", "--json").stdout
    assert (
        first
        == run("simulate", "--preset", "recommended", "--scenario", "flaky", "--seed", "1", "--json").stdout
    )
    assert (
        first
        != run("simulate", "--preset", "recommended", "--scenario", "flaky", "--seed", "2", "--json").stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "nope"], f"relaunch simulate: error: unknown preset 'nope', expected one of {PRESETS}"),
        (
            ["--preset", "toolhive", "--set", "max_retries=0"],
            "relaunch simulate: error: --set max_retries: must be an integer >= 1, got 0",
        ),
        (
            ["--preset", "toolhive", "--set", "retries"],
            "relaunch simulate: error: --set 'retries': expected key=value",
        ),
        (
            ["--preset", "toolhive", "--scenario", "meltdown"],
            "relaunch simulate: error: unknown scenario 'meltdown', expected one of crash-loop, "
            "daemon-flaps, flaky, bad-deploy, oom-creep, hang or a .jsonl or .toml file",
        ),
        (
            ["--preset", "toolhive", "--until", "soon"],
            "relaunch simulate: error: --until: must be a duration such as 90, '45s', '10m' or '2h', "
            "got 'soon'",
        ),
        (
            ["--preset", "toolhive", "--seed", "x"],
            "relaunch simulate: error: argument --seed: invalid int value: 'x' "
            "(see relaunch simulate --help)",
        ),
        (
            [],
            "relaunch simulate: error: one of the arguments --preset --policy is required "
            "(see relaunch simulate --help)",
        ),
        (
            ["--preset", "toolhive", "--policy", "p.toml"],
            "relaunch simulate: error: argument --policy: not allowed with argument --preset "
            "(see relaunch simulate --help)",
        ),
    ],
)
def test_simulate_bad_input(args: list[str], message: str) -> None:
    assert fails("simulate", *args) == message


def test_simulate_a_malformed_scenario_line(tmp_path: Path) -> None:
    path = write(tmp_path, "runs.jsonl", '{"duration": 1}\n{"duration": 1, "exit_code": "one"}\n')
    assert fails("simulate", "--preset", "toolhive", "--scenario", str(path)) == (
        f"relaunch simulate: error: {path}:2: exit_code: must be an integer in 0..255, got 'one'"
    )


def test_simulate_a_missing_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    assert fails("simulate", "--preset", "toolhive", "--scenario", str(path)) == (
        f"relaunch simulate: error: {path}: cannot read: No such file or directory"
    )


# -- compare ----------------------------------------------------------------------------------------------


def test_compare_defaults_to_the_5171_story() -> None:
    """The default comparison on daemon-flaps: one row per policy, then the headline."""
    out = run("compare").stdout
    lines = out.splitlines()
    assert lines[0].startswith("daemon-flaps: a healthy service killed by a daemon disruption")
    rows = {line.split()[0]: line.split() for line in lines[4:] if line and not line.endswith(".")}
    assert {"toolhive_legacy", "toolhive", "recommended"} <= set(rows)
    assert rows["toolhive_legacy"][1:4] == ["5.7%", "9", "13m02s"]
    assert rows["toolhive"][3] == "never"
    assert lines[-1].startswith("toolhive_legacy gives up after 13m02s (5.7% available); ")


def test_compare_json_and_chosen_presets() -> None:
    data = json.loads(
        run("compare", "--presets", "toolhive,recommended", "--scenario", "crash-loop", "--json").stdout
    )
    assert [entry["policy"] for entry in data["policies"]] == ["toolhive", "recommended"]
    assert all(entry["summary"]["gave_up"] for entry in data["policies"])


def test_compare_on_a_hanging_scenario_shows_each_policy_without_and_with_a_health_check() -> None:
    """On hang, each policy has two rows: without a check it stays hung; with one it is restarted."""
    lines = run("compare", "--presets", "toolhive,recommended", "--scenario", "hang").stdout.splitlines()
    rows = [line.rsplit(None, 4) for line in lines[4:8]]
    assert [row[0] for row in rows] == [
        "toolhive",
        "toolhive + health check",
        "recommended",
        "recommended + health check",
    ]
    for without, with_check in (rows[0:2], rows[2:4]):
        assert float(without[1].rstrip("%")) < 15.0
        assert without[2] == "0"
        assert float(with_check[1].rstrip("%")) > 95.0
        assert int(with_check[2]) > 3


def test_compare_with_health_flags_on_a_scenario_without_hangs_changes_nothing() -> None:
    """A health check only kills what hangs: on crash-loop its rows equal the ones without it."""
    plain = run("compare", "--presets", "toolhive", "--scenario", "crash-loop").stdout.splitlines()
    assert len(plain) == 7  # title, horizon, blank, header, one row, blank, headline
    checked = run(
        "compare", "--presets", "toolhive", "--scenario", "crash-loop", "--health-interval", "5s"
    ).stdout.splitlines()
    without, with_check = checked[4].split(), checked[5].split()
    assert with_check[:4] == ["toolhive", "+", "health", "check"]
    assert without[1:] == with_check[4:]


def test_compare_json_names_the_health_check() -> None:
    """compare --json: each row says its health check (null without), spelled as HealthCheck.to_dict."""
    data = json.loads(
        run("compare", "--presets", "docker", "--scenario", "hang", "--health-retries", "2", "--json").stdout
    )
    assert data["scenario"]["hangs"] is True
    checks = [entry["health_check"] for entry in data["policies"]]
    assert checks[0] is None
    assert checks[1]["retries"] == 2
    assert checks[1]["interval"] == 30.0


def test_simulate_a_hang_with_and_without_a_health_check() -> None:
    """simulate: without --health-* the hung run stays down; with them each hung run ends unhealthy."""
    args = ("simulate", "--preset", "recommended", "--scenario", "hang")
    plain = run(*args).stdout
    assert "(hung)" in plain
    assert "no health check sees it" in plain
    checked = json.loads(run(*args, "--health-interval", "10s", "--health-timeout", "2s", "--json").stdout)
    assert checked["health_check"]["interval"] == 10.0
    ended = [step for step in checked["timeline"] if step["ending"] is not None]
    assert ended
    for step in ended:
        assert step["ending"]["cause"] == "unhealthy"
        # The first probe after the hang within 10 s, then 3 timeouts of 2 s, 10 s apart.
        assert step["ended_at"] - step["hung_at"] <= 10.0 + 3 * 2.0 + 2 * 10.0 + 1e-6


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--health-retries", "x"],
            "relaunch simulate: error: --health-retries: must be a whole number >= 0, got 'x'",
        ),
        (
            ["--health-interval", "0.0001"],
            "relaunch simulate: error: --health-interval: must be 0 (Docker's default) or at least 1ms, "
            "got '0.0001'",
        ),
        (
            ["--health-timeout", "soon"],
            "relaunch simulate: error: --health-timeout: must be a duration such as 90, '45s', '10m' "
            "or '2h', got 'soon'",
        ),
    ],
)
def test_simulate_bad_health_flags(flags: list[str], message: str) -> None:
    """A bad --health-* timing is one line naming the flag and the value, as with supervise."""
    assert fails("simulate", "--preset", "recommended", "--scenario", "hang", *flags) == message


def test_compare_adds_policy_files() -> None:
    data = json.loads(
        run(
            "compare", "--presets", "toolhive", "--policy", str(EXAMPLES / "systemd-like.toml"), "--json"
        ).stdout
    )
    assert [entry["policy"] for entry in data["policies"]] == ["toolhive", "systemd-like"]


def test_compare_an_unknown_preset() -> None:
    assert fails("compare", "--presets", "toolhive,nope") == (
        f"relaunch compare: error: unknown preset 'nope', expected one of {PRESETS}"
    )


def test_compare_plot_needs_a_known_format(tmp_path: Path) -> None:
    assert fails("compare", "--plot", str(tmp_path / "plot.pdf")) == (
        f"relaunch compare: error: --plot: the file must end in .png or .svg, got '{tmp_path / 'plot.pdf'}'"
    )


def test_compare_plot_without_matplotlib_says_how_to_get_it(tmp_path: Path) -> None:
    """Without matplotlib, --plot is one line naming the extra to install."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # makes `import matplotlib` raise ImportError
        "from relaunch.cli import main\n"
        f"raise SystemExit(main(['compare', '--plot', {str(tmp_path / 'p.png')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        "relaunch compare: error: --plot needs matplotlib, which is not installed: "
        "in the relaunch checkout, pip install -e '.[plot]' (or make demo)\n"
    )


# -- colour only on a terminal -----------------------------------------------------------------------------


def _on_a_terminal(*args: str, no_color: bool = False) -> str:
    leader, follower = pty.openpty()
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    if no_color:
        env["NO_COLOR"] = "1"
    with subprocess.Popen([SCRIPT, *args], stdout=follower, stderr=subprocess.DEVNULL, env=env) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the process exits (EIO on Linux)
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal() -> None:
    """ANSI colour on a terminal; none in a pipe or with NO_COLOR set."""
    assert "\x1b[" in _on_a_terminal("compare", "--scenario", "crash-loop")
    assert "\x1b[" not in _on_a_terminal("compare", "--scenario", "crash-loop", no_color=True)
    assert "\x1b[" not in run("compare", "--scenario", "crash-loop").stdout


# -- the README shows real output ---------------------------------------------------------------------


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_block(after: str) -> str:
    """The fenced block of README.md that starts right after the line ``after``."""
    text = README.read_text()
    return text.split(after + "\n", 1)[1].split("```", 1)[0]


def test_the_readmes_compare_output_is_a_real_run() -> None:
    command = "$ relaunch compare --scenario daemon-flaps --presets toolhive_legacy,toolhive,recommended"
    assert _readme_block(command) == run(*command.split()[2:]).stdout


MAKEFILE = README.parent / "Makefile"


def _demo_commands() -> list[list[str]]:
    """The ``relaunch`` commands of the Makefile's ``demo`` recipe, in order, without --plot."""
    recipe = MAKEFILE.read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    commands = []
    for line in recipe.splitlines():
        words = line.split()
        if words and words[0].endswith("/relaunch"):
            plot = words.index("--plot") if "--plot" in words else len(words)
            commands.append(words[1:plot] + words[plot + 2 :])
    return commands


def test_the_readmes_demo_headlines_are_what_make_demo_prints() -> None:
    """The README quotes the last line of each comparison make demo runs: daemon-flaps, then hang."""
    commands = _demo_commands()
    assert [command[:3] for command in commands] == [
        ["compare", "--scenario", "daemon-flaps"],
        ["compare", "--scenario", "hang"],
    ]
    headlines = [run(*command).stdout.splitlines()[-1] for command in commands]
    assert _readme_block("The two comparisons' last lines:\n\n```text").strip().splitlines() == headlines
