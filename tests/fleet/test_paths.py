"""The control socket of a fleet file, found by ``relaunch ctl`` without parsing the whole file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaunch.fleet.paths import DEFAULT_STORE, socket_path

# Pieces of fleet files, chosen for the cuts a line-based reading could get wrong: headers inside
# multi-line strings, arrays whose lines start with "[", the fleet table written other ways
# (dotted keys, inline, quoted, sub-tables), comments after headers, and the table last.
FRAGMENTS = (
    '[fleet]\nstore = "a.db"\n',
    '[fleet] # the daemon\nstore = "b.db"\nstop_grace = "2s"\n',
    '[ fleet ]\nstore = "c.db"\n',
    '["fleet"]\nstore = "d.db"\n',
    "[fleet.extra]\nx = 1\n",
    "[fleet]\n",
    'fleet.store = "e.db"\n',
    'fleet = { store = "f.db" }\n',
    '[workload.a]\nexec = ["sh", "-c", "exit 1"]\n',
    '[workload.b]\nexec = [\n  "sh",\n  "-c",\n]\n',
    '[workload.c]\nenv = { X = "[fleet]" }\nexec = ["true"]\n',
    '[workload.d]\nexec = ["sh", "-c", """\n[fleet]\nstore = "trap.db"\n[x]\n"""]\n',
    "[workload.e]\nexec = ['''\n[fleet]\nstore = 'trap2.db'\n[x]\n''']\n",
    "[workload.f]\nmatrix = [\n[1, 2],\n[3],\n]\n",
    '[[jobs]]\nname = "x"\n',
    "# a comment\n",
    "\n",
    'store = "top.db"\n',
    "[fleet]\nstore = 'literal.db'\nlog_backups = 3 # three\nstop_grace = \"2s\"\n",
    '[fleet]\nwhat = [\n[1]\n]\nstore = "after-an-array.db"\n',
    '[fleet]\n"store" = "quoted-key.db"\n',
    '[fleet]\nstore = "esc\\u0061ped.db"\n',
    "[fleet]\nstore = 5\n",
    '[fleet]\nstore = ""\n',
)


INVALID = object()  # the file is not TOML: what ctl finds then is not compared
BAD_STORE = object()  # valid TOML whose [fleet] store is no file name


def full_parse(text: str, file: Path) -> object:
    """What the whole file says the socket is, read as config.py reads it."""
    try:
        fleet = tomllib.loads(text).get("fleet", {})
    except tomllib.TOMLDecodeError:
        return INVALID
    if not isinstance(fleet, dict):
        return BAD_STORE
    store = fleet.get("store", DEFAULT_STORE)
    if not isinstance(store, str) or not store:
        return BAD_STORE
    return str(file.parent / (store + ".sock"))


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=6))
@settings(max_examples=500)
def test_the_fast_reading_agrees_with_the_whole_file(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str]
) -> None:
    """For every file assembled from these pieces that is valid TOML, the socket found without
    parsing the whole file is the one the whole file names."""
    text = "".join(parts)
    file = tmp_path_factory.mktemp("fleet") / "relaunch.toml"
    file.write_text(text, encoding="utf-8")
    expected = full_parse(text, file)
    if expected is INVALID:
        return
    if expected is BAD_STORE:
        with pytest.raises(ValueError, match=r"relaunch\.toml: (\[fleet\] store|fleet): must be"):
            socket_path(file)
    else:
        assert socket_path(file) == expected


def test_a_large_file_is_read_by_its_fleet_table(tmp_path: Path) -> None:
    """The fast path answers for the file ``relaunch ctl`` meets most: [fleet] then many workloads."""
    workloads = "".join(f'[workload.w{i}]\nexec = ["sh", "-c", "exit 1"]\n' for i in range(2000))
    file = tmp_path / "relaunch.toml"
    file.write_text('[fleet]\nstore = "s.db"\n' + workloads, encoding="utf-8")
    assert socket_path(file) == str(tmp_path / "s.db.sock")
    # A duplicate workload makes the file invalid TOML: the fast path still finds the socket (the
    # daemon runs the file it read before, and is the one to say what is wrong with this one).
    file.write_text(
        '[fleet]\nstore = "s.db"\n' + workloads + '[workload.w0]\nexec = ["x"]\n', encoding="utf-8"
    )
    assert socket_path(file) == str(tmp_path / "s.db.sock")


def test_an_unreadable_file_is_one_error_naming_it(tmp_path: Path) -> None:
    file = tmp_path / "relaunch.toml"
    with pytest.raises(ValueError, match=r"relaunch\.toml: no such fleet file"):
        socket_path(file)
    file.write_text('[fleet]\nstore = """x\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"relaunch\.toml: cannot read the fleet file"):
        socket_path(file)
    file.write_text("[fleet]\nstore = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"relaunch\.toml: \[fleet\] store: must be a file name, got 3"):
        socket_path(file)
