"""Print the README's crash-loop table, built from the presets; with --write, update README.md.

    python scripts/crash_loop_table.py            # print the table
    python scripts/crash_loop_table.py --write    # replace it in README.md between its markers

tests/test_readme_table.py fails when README.md differs from what this prints.
"""

from __future__ import annotations

import argparse
import pathlib

from relaunch.readme_table import crash_loop_table, embed

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def main() -> None:
    parser = argparse.ArgumentParser(description="Print or update the README's crash-loop table.")
    parser.add_argument("--write", action="store_true", help=f"update {README.name} in place")
    args = parser.parse_args()
    table = crash_loop_table()
    if args.write:
        README.write_text(embed(README.read_text(encoding="utf-8"), table), encoding="utf-8")
    else:
        print(table, end="")


if __name__ == "__main__":
    main()
