"""``bench history --plot``: a PNG or SVG of the metric per run set with the pointer's moves, and
a one-line error naming the extra when matplotlib is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all

pytest.importorskip("matplotlib", reason="the plot extra is not installed")


@pytest.fixture
def promoted_toy(bench, make_project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """toy/speed with a baseline, a promoted candidate and one more candidate after it."""
    monkeypatch.setenv("BENCHSTONE_SANDBOX", "process")
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed").returncode == 0
    (root / "src" / "speed.txt").write_text("0.8\n")
    commit_all(root, "faster")
    assert bench("run", "toy", "speed").returncode == 0
    assert bench("promote", "toy", "speed").returncode == 0
    (root / "src" / "speed.txt").write_text("0.9\n")
    commit_all(root, "slower")
    assert bench("run", "toy", "speed", "-n", "3").returncode == 0
    return root


@pytest.mark.slow
def test_history_plots_png_and_svg(bench, promoted_toy: Path, tmp_path: Path) -> None:
    png = tmp_path / "history.png"
    result = bench("history", "toy", "speed", "--plot", str(png))
    assert result.returncode == 0, result.stderr
    assert "<- baseline (promote" in result.stdout  # the text timeline is still printed
    assert result.stdout.rstrip().endswith(f"plot written: {png}")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert png.stat().st_mode & 0o777 == 0o600

    svg = tmp_path / "history.SVG"
    as_json = bench("history", "toy", "speed", "--plot", str(svg), "--json")
    assert as_json.returncode == 0 and as_json.stdout.lstrip().startswith("{")
    assert "plot written" in as_json.stderr
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # text stays text in the SVG: the pointer's moves and both kinds of run set are named
    for label in ("establish", "promote", "baseline in effect", "baseline run set",
                  "candidate run set", "toy/speed"):
        assert label in text, label

    refused = bench("history", "toy", "speed", "--plot", str(tmp_path / "history.jpg"))
    assert refused.returncode == 5 and refused.stdout == ""
    assert refused.stderr == ("error: cannot plot to history.jpg: the file name must end in .png "
                              "or .svg\n")
    assert not (tmp_path / "history.jpg").exists()


def test_without_matplotlib_the_error_names_the_extra(bench, make_project, tmp_path: Path) -> None:
    assert bench("register", str(make_project("toy"))).returncode == 0
    # The real CLI in a process where importing matplotlib fails, as on an install without it.
    without = ("import sys; sys.modules['matplotlib'] = None; "
               "from benchstone.cli import main; raise SystemExit(main(sys.argv[1:]))")
    target = tmp_path / "history.png"
    result = subprocess.run(
        [sys.executable, "-c", without, "history", "toy", "speed", "--plot", str(target)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 5
    assert result.stderr == ("error: --plot needs matplotlib, which is not installed: "
                             "pip install matplotlib (benchstone's plot extra)\n")
    assert not target.exists()
    # the text timeline does not need the extra
    plain = subprocess.run([sys.executable, "-c", without, "history", "toy", "speed"],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0 and "no runs yet" in plain.stdout
