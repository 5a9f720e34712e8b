"""README.md's crash-loop table is exactly what the presets produce today."""

from __future__ import annotations

import pathlib

import pytest

from relaunch.readme_table import END_MARKER, START_MARKER, crash_loop_table, embed

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_table_matches_the_presets() -> None:
    """The table between the README's markers is the generator's output, byte for byte."""
    readme = README.read_text(encoding="utf-8")
    assert embed(readme, crash_loop_table()) == readme, (
        "README.md's crash-loop table is out of date: run `python scripts/crash_loop_table.py --write`"
    )


def test_embed_replaces_only_the_block_between_the_markers() -> None:
    """embed keeps everything outside the markers and is idempotent."""
    document = f"# Title\n\n{START_MARKER}\nold\n{END_MARKER}\n\nAfter.\n"
    once = embed(document, "| new |\n")
    assert once == f"# Title\n\n{START_MARKER}\n| new |\n{END_MARKER}\n\nAfter.\n"
    assert embed(once, "| new |\n") == once


def test_embed_needs_both_markers() -> None:
    """A document without the markers is an error, not a silent no-op."""
    with pytest.raises(ValueError, match="substring not found"):
        embed("no markers here\n", "| table |\n")
