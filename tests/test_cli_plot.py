"""``relaunch compare --plot``: a real PNG (or SVG) that decodes, one lane per policy."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

image = pytest.importorskip("matplotlib.image", reason="the plot extra is not installed")

SCRIPT = str(Path(sys.executable).parent / "relaunch")


def test_compare_writes_a_png_that_decodes(tmp_path: Path) -> None:
    """The PNG is written where asked, decodes, and has the figure's size."""
    path = tmp_path / "daemon-flaps.png"
    result = subprocess.run(
        [
            SCRIPT,
            "compare",
            "--scenario",
            "daemon-flaps",
            "--presets",
            "toolhive_legacy,toolhive,recommended",
            "--plot",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.endswith(f"plot written to {path}\n")
    assert path.stat().st_size > 20_000
    pixels = image.imread(path)
    # 12 x (1.3 + 0.75 * 3 lanes) inches at 120 dpi, RGBA.
    assert pixels.shape == (426, 1440, 4)
    # Not a blank canvas: the lanes put many distinct colours on it.
    assert len({tuple(pixel) for pixel in pixels.reshape(-1, 4)[::97]}) > 10


def test_compare_writes_an_svg(tmp_path: Path) -> None:
    path = tmp_path / "crash-loop.svg"
    subprocess.run(
        [SCRIPT, "compare", "--scenario", "crash-loop", "--plot", str(path)], capture_output=True, check=True
    )
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "gave up at" in path.read_text()
