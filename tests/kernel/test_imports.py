"""The kernel's modules import one another without a circle, and each imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

KERNEL = Path(__file__).resolve().parents[2] / "src" / "relaunch" / "kernel"
MODULES = sorted(path.stem for path in KERNEL.glob("*.py") if path.stem != "__init__")


def _imports(module: str) -> set[str]:
    """The kernel modules ``module`` imports at run time, wherever the import statement is.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    tree = ast.parse((KERNEL / f"{module}.py").read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:  # from . import a, b
            found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle in ``graph`` as the list of modules along it, or None (depth-first search)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_import_graph_has_no_circle() -> None:
    """No chain of run-time imports between kernel modules leads back to where it started."""
    graph = {module: _imports(module) for module in MODULES}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_circle() -> None:
    """The graph walk reports a circle when there is one (so the test above can fail)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_vocabulary_is_a_leaf() -> None:
    """The shared vocabulary imports no other kernel module."""
    assert _imports("vocabulary") == set()


#: Runs in a fresh interpreter: stands in empty packages for ``relaunch`` and ``relaunch.kernel``
#: (their ``__init__`` would import every module in its own order first), then imports one module.
_ALONE = """
import importlib, sys, types
for name, path in (("relaunch", {package!r}), ("relaunch.kernel", {kernel!r})):
    stub = types.ModuleType(name)
    stub.__path__ = [path]
    sys.modules[name] = stub
importlib.import_module("relaunch.kernel.{module}")
"""


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module: str) -> None:
    """Each kernel module imports first, alone, in a fresh interpreter, without the package's __init__."""
    code = _ALONE.format(package=str(KERNEL.parent), kernel=str(KERNEL), module=module)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
