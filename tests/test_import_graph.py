"""No module of ``relaunch`` imports, through any chain of imports, a module that imports it back.

The graph is read from the source with ``ast``, not from ``sys.modules``: every ``import`` and
``from ... import`` statement counts wherever it stands, at the top, inside a function (a lazy
import is a dependency all the same) or under ``if TYPE_CHECKING:``. A circle closed only by a
TYPE_CHECKING import is still a circle: the modules cannot be read or type-checked apart, and the
import is one refactoring away from failing at run time. Relative imports are resolved against
the importing module's package. ``from package import name`` depends on ``package.name`` when that
is a module, else on ``package`` itself; importing ``a.b.c`` is taken to depend on ``a.b.c`` only,
not on the ``__init__`` of ``a`` and ``a.b`` that Python runs first (counting those would make
every package whose ``__init__`` re-exports its modules a circle with each of them). Imports by
name at run time (``importlib.import_module("...")``) are not statements and are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Set
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def module_names(src: Path = SRC, top: str = "relaunch") -> dict[str, Path]:
    """Every module of the package ``top`` under ``src``, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted((src / top).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: Set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (its source at ``path``) imports, anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                targets.add(submodule if submodule in known else origin)
    return {target for target in targets if target in known and target != module}


def import_graph(src: Path = SRC, top: str = "relaunch") -> dict[str, set[str]]:
    """Each module of ``top`` and the modules of ``top`` it imports."""
    modules = module_names(src, top)
    return {name: imported(name, path, modules.keys()) for name, path in modules.items()}


def circles(graph: Mapping[str, Set[str]]) -> list[list[str]]:
    """One circle through each group of modules that import one another (Tarjan's strongly
    connected components), as the modules along it with the first repeated at the end."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_circle_in(graph, group) for group in groups]


def _circle_in(graph: Mapping[str, Set[str]], group: Set[str]) -> list[str]:
    """A circle through the first member of ``group`` (in which every member reaches every other)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first: the shortest way back to the start
        node = frontier.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    raise AssertionError(f"not a strongly connected group: {sorted(group)}")


def test_no_module_of_relaunch_is_in_an_import_circle() -> None:
    """No chain of imports between the modules of relaunch leads back to where it started."""
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in found)


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Imports at the top, in functions, under TYPE_CHECKING, relative and absolute, all count."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from . import a\n",
        "a.py": "def f():\n    from .sub import b\n",
        "b.py": "import pkg.sub.c\n",
        "sub/__init__.py": "",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..b import x\n",
        "sub/c.py": "from .. import a as alias\nfrom pkg import nothing_here\nimport os\n",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    assert import_graph(tmp_path, "pkg") == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.b"},
        "pkg.sub.c": {"pkg.a", "pkg"},
    }
    assert circles(import_graph(tmp_path, "pkg")) == [
        ["pkg", "pkg.a", "pkg.sub.b", "pkg.b", "pkg.sub.c", "pkg"]
    ]


def test_the_circle_finder_finds_every_circle_and_no_other() -> None:
    """A circle is reported once per group of modules importing one another; a chain is not one."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": {"g"}}
    assert sorted(circles(graph)) == [["a", "b", "c", "a"], ["d", "e", "d"], ["g", "g"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
