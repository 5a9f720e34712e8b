"""Each kernel module imports on its own; the leaf and the top of its import graph are where they should be.

That no module of relaunch is in an import circle is ``tests/test_import_graph.py``'s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_import_graph import import_graph

KERNEL = Path(__file__).resolve().parents[2] / "src" / "relaunch" / "kernel"
MODULES = sorted(path.stem for path in KERNEL.glob("*.py") if path.stem != "__init__")


def test_the_vocabulary_is_a_leaf() -> None:
    """The shared vocabulary imports no other module of relaunch, not even for type checking."""
    assert import_graph()["relaunch.kernel.vocabulary"] == set()


def test_the_words_for_decisions_sit_above_the_decisions() -> None:
    """Of the kernel, only policy.py imports _explain.py, and decision.py imports neither of them."""
    graph = import_graph()
    importers = {name for name, targets in graph.items() if "relaunch.kernel._explain" in targets}
    assert {name for name in importers if name.startswith("relaunch.kernel.")} == {"relaunch.kernel.policy"}
    assert not {"relaunch.kernel.policy", "relaunch.kernel._explain"} & graph["relaunch.kernel.decision"]


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
