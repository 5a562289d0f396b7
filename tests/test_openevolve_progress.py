"""The OpenEvolve evaluator on a candidate that cannot run: it stops at the first failed
repetition instead of paying for every one, and says what runs while it runs (the real
OpenEvolve package calls it; process sandbox)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import git

pytest.importorskip("openevolve", reason="the openevolve extra is not installed")
from test_openevolve import _evaluate, _load, evolve_project, program  # noqa: F401


@pytest.fixture
def short_timeout(bench, evolve_project: Path) -> Path:  # noqa: F811
    """The evolve project with a 2 s timeout and its baseline."""
    manifest = evolve_project / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("timeout_seconds = 60", "timeout_seconds = 2"))
    git(evolve_project, "commit", "-qam", "a short timeout")
    assert bench("register", str(evolve_project)).returncode == 0
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    return evolve_project


def _rows_of_newest_run_set(bench) -> list[dict]:
    timeline = json.loads(bench("history", "evolve", "cost", "--json").stdout)
    return timeline["entries"][0]["runs"]


@pytest.mark.slow
def test_a_candidate_that_hangs_stops_after_one_timeout_and_shows_progress(
        bench, short_timeout: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    evaluator = _load(tmp_path, """
        from benchstone.integrations.openevolve import BenchstoneEvaluator

        evaluate = BenchstoneEvaluator("evolve", "cost", target="program.py", sandbox="process",
                                       progress_every=0.5)
    """)
    capfd.readouterr()
    metrics, artifacts = _evaluate(evaluator, "import time\ntime.sleep(30)\n" + program(
        "return 1.0"), "hangs")
    err = capfd.readouterr().err
    assert metrics["runs_failed"] == 1.0 and metrics["combined_score"] == 0.0
    assert artifacts["verdict"] == "NEEDS_MORE_DATA", artifacts
    assert "timeout after 2 s" in artifacts["errors"]
    assert artifacts["stopped"] == ("the first repetition failed, so the other 2 were not run: "
                                    "the candidate does not run as it is")
    rows = _rows_of_newest_run_set(bench)
    assert [row["failure"] for row in rows] == ["timeout"]

    lines = [line.removeprefix("benchstone: ") for line in err.splitlines()
             if line.startswith("benchstone: ")]
    assert lines[0].startswith("warning: sandbox 'process' runs the benchmark on the host")
    assert re.match(r"evolve/cost at [0-9a-f]{10}: 3 repetition\(s\)$", lines[1]), err
    assert [line for line in lines if re.match(r"rep=0 seed=\d+ running for 1s  \[1/3\]$", line)]
    failed = next(i for i, line in enumerate(lines) if " error (timeout): " in line)
    assert lines[failed].endswith("[1/3]")
    assert lines[failed + 1] == (f"logs: stderr {rows[0]['stderr_path']}, "
                                 f"stdout {rows[0]['stdout_path']}")
    assert lines[-1].endswith(": NEEDS_MORE_DATA (0 ok, 1 failed; stopped after the first "
                              "repetition failed (2 not run))"), lines[-1]


@pytest.mark.slow
def test_fail_fast_off_records_every_repetition_and_progress_off_is_silent(
        bench, short_timeout: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    evaluator = _load(
        tmp_path, "from benchstone.integrations.openevolve import evaluate  # noqa: F401\n",
        evaluator_args={"project": "evolve", "benchmark": "cost", "target": "program.py",
                        "sandbox": "process", "fail_fast": False, "progress": False},
    )
    capfd.readouterr()
    metrics, artifacts = _evaluate(evaluator, program("raise ImportError('no fastpath')"), "bad")
    assert "benchstone:" not in capfd.readouterr().err
    assert metrics["runs_failed"] == 3.0 and "stopped" not in artifacts
    assert [row["failure"] for row in _rows_of_newest_run_set(bench)] == ["runner_error"] * 3
    # a good candidate is never stopped: all of its repetitions run
    metrics, artifacts = _evaluate(evaluator, program("return 0.5"), "good")
    assert metrics["runs_ok"] == 3.0 and "stopped" not in artifacts
