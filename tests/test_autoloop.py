"""The keep-or-revert loop of an agent or a script, end to end, for a few iterations: in shell
driving the real CLI, and through the Python API. The scripts run here are the ones
docs/integrations.md shows, as they are (tests/fixtures/loops/; tests/test_docs.py checks that the
page shows them unchanged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

LOOPS = Path(__file__).parent / "fixtures" / "loops"
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "process"]
# What the stand-in agent proposes, one change a turn (src/solver.txt; the baseline is 1.0):
# faster (PROMOTE), slower than the new baseline (REJECT), a flaky change the gate cannot
# decide twice (NEEDS_MORE_DATA, retried once, then reverted), faster again (PROMOTE).
PROPOSALS = ["0.8", "0.95", "0.5 flaky", "0.6"]
ITERATIONS = 5  # four proposals and one retry


@pytest.fixture(params=BACKENDS)
def sandbox(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_client")
    return request.param


@pytest.fixture
def loop_project(bench, make_project, tmp_path: Path, sandbox: str) -> Path:
    root = make_project("autoloop")
    assert bench("register", str(root)).returncode == 0
    established = bench("baseline", "establish", "loop", "cost", "--sandbox", sandbox)
    assert established.returncode == 0, established.stderr
    return root


def _agent(tmp_path: Path) -> str:
    """A command that stands in for the agent: it applies the next prepared change."""
    queue = tmp_path / "proposals"
    queue.write_text("\n".join(PROPOSALS) + "\n")
    agent = tmp_path / "agent.sh"
    agent.write_text(f'head -n 1 "{queue}" > src/solver.txt\nsed -i 1d "{queue}"\n')
    return f"sh {agent}"


def _bench_on_path(tmp_path: Path) -> dict[str, str]:
    """``bench`` on PATH as the package under test (its console script may be another copy)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "bench"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m benchstone "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _check_outcome(bench, root: Path, output: str) -> None:
    """What the loop kept, what it threw away, and that the store saw every attempt."""
    for verdict, count in (("PROMOTE", 2), ("REJECT", 1), ("NEEDS_MORE_DATA", 2)):
        assert output.count(f"{verdict}  ") == count, (verdict, output)
    assert git(root, "log", "--format=%s") == "candidate 5\ncandidate 1\ninitial"
    assert (root / "src" / "solver.txt").read_text() == "0.6\n"
    assert git(root, "status", "--porcelain") == ""

    timeline = json.loads(bench("history", "loop", "cost", "--json").stdout)
    entries = list(reversed(timeline["entries"]))  # oldest first
    assert [entry["run_set"]["kind"] for entry in entries] == ["baseline"] + ["run"] * 5
    shas = [entry["run_set"]["git_sha"] for entry in entries]
    assert shas[3] == shas[4] and len(set(shas)) == 5  # the undecided candidate, measured twice
    kept = set(git(root, "rev-list", "HEAD").splitlines())
    assert [sha in kept for sha in shas] == [True, True, False, False, False, True]
    errors = [sum(run["status"] == "error" for run in entry["runs"]) for entry in entries]
    assert errors == [0, 0, 0, 1, 1, 0]
    moves = [(event["action"], event["git_sha"]) for entry in entries
             for event in entry["baseline_events"]]
    assert moves == [("establish", shas[0]), ("promote", shas[1]), ("promote", shas[5])]
    assert timeline["current_baseline"]["git_sha"] == git(root, "rev-parse", "HEAD")


@pytest.mark.slow
def test_keep_or_revert_in_shell(bench, loop_project: Path, tmp_path: Path, sandbox: str) -> None:
    env = {**os.environ, **_bench_on_path(tmp_path), "BENCHSTONE_SANDBOX": sandbox}
    result = subprocess.run(
        ["sh", str(LOOPS / "keep_or_revert.sh"), "loop", "cost", str(ITERATIONS),
         _agent(tmp_path)],
        cwd=loop_project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    _check_outcome(bench, loop_project, result.stdout)


@pytest.mark.slow
def test_keep_or_revert_through_the_python_api(bench, loop_project: Path, tmp_path: Path,
                                              sandbox: str) -> None:
    env = {**os.environ, "BENCHSTONE_SANDBOX": sandbox}
    result = subprocess.run(
        [sys.executable, str(LOOPS / "keep_or_revert.py"), "loop", "cost", str(ITERATIONS),
         _agent(tmp_path)],
        cwd=loop_project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    _check_outcome(bench, loop_project, result.stdout)
