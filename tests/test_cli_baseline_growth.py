"""``run --until-decided`` with a baseline that grows (``baseline_grows = true``), through the
real CLI on the toy project with the process sandbox: baseline repetitions of the pointer's
commit interleaved with the candidate's, pooled into the gate's baseline; and, after a PROMOTE,
fresh baseline runs of the promoted commit before anything is judged against it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import commit_all

from benchstone import api
from benchstone.paths import Home
from benchstone.store import Store

GROWING = """
[[benchmarks]]
name = "speedg"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 3
baseline_seeds = [1, 2, 3]
gate_policy = "welch"
log_scale = true
max_repetitions = 8
baseline_grows = true
"""


def _json(result) -> dict:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def _growing_toy(make_project, bench) -> Path:
    root = make_project("toy")
    with (root / "bench" / "manifest.toml").open("a") as manifest:
        manifest.write(GROWING)
    commit_all(root, "a benchmark whose baseline grows")
    assert bench("register", str(root)).returncode == 0
    established = bench("baseline", "establish", "toy", "speedg", "--sandbox", "process")
    assert established.returncode == 0, established.stderr
    return root


def _store(home: Path) -> Store:
    return Store(Home(home).database)


def _baseline_sets(home: Path, sha: str) -> list:
    return _store(home).run_sets("toy", "speedg", git_sha=sha, kinds=("baseline",))


@pytest.mark.slow
def test_until_decided_interleaves_baseline_runs_and_pools_them(bench, make_project,
                                                                 home) -> None:
    root = _growing_toy(make_project, bench)
    base_sha = _json(bench("evaluate", "toy", "speedg", "--json"))["baseline"]["git_sha"]
    (root / "src" / "speed.txt").write_text("0.97\n")  # 3 % faster than 1.0
    commit_all(root, "a little faster")
    ran = bench("run", "toy", "speedg", "--until-decided", "--sandbox", "process", "--json")
    assert ran.returncode in (0, 1, 2), ran.stderr
    result = _json(ran)
    # past the third candidate run every look needs one more baseline run: they were run
    assert result["repetitions"] > 3
    assert result["baseline_repetitions"] >= result["repetitions"] - 3
    sets = _baseline_sets(home, base_sha)
    assert len(sets) == 1 + result["baseline_repetitions"]  # established, then one run each
    # harness-seeded like every baseline: a secret meta seed, never the caller's
    assert all(rs.meta_seed is not None and not rs.caller_seeds for rs in sets)
    verdict = _json(bench("evaluate", "toy", "speedg", "--json"))
    assert verdict["baseline"]["git_sha"] == base_sha
    assert verdict["baseline"]["n"] == 3 + result["baseline_repetitions"]
    assert len(verdict["baseline"]["run_set_ids"]) == 1 + result["baseline_repetitions"]
    assert verdict["kind"] == result["verdict"]["kind"]
    # no baseline run moved the pointer
    assert [p.action for p in _store(home).pointers("toy", "speedg")] == ["establish"]


# the same benchmark with a fixed baseline
FIXED = GROWING.replace('"speedg"', '"speedf"').replace("baseline_grows = true\n", "")


def _promoted_fixed_toy(make_project, bench) -> tuple[Path, str]:
    """The toy with a fixed-baseline welch benchmark whose faster commit was just promoted
    (by --until-decided, which ran no baseline repetition): the root and that commit."""
    root = make_project("toy")
    with (root / "bench" / "manifest.toml").open("a") as manifest:
        manifest.write(FIXED)
    commit_all(root, "a calibrated benchmark")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speedf", "--sandbox", "process").returncode == 0
    (root / "src" / "speed.txt").write_text("0.8\n")
    improved = commit_all(root, "faster")
    first = _json(bench("run", "toy", "speedf", "--until-decided", "--sandbox", "process",
                        "--json"))
    assert first["verdict"]["kind"] == "PROMOTE" and first["baseline_repetitions"] == 0
    promoted = bench("promote", "toy", "speedf")
    assert promoted.returncode == 0, promoted.stderr
    return root, improved


@pytest.mark.slow
def test_after_a_promote_until_decided_runs_fresh_baseline_runs_first(bench, make_project,
                                                                     home) -> None:
    root, improved = _promoted_fixed_toy(make_project, bench)
    (root / "README").write_text("docs only\n")
    commit_all(root, "no change to the program")
    before = _json(bench("evaluate", "toy", "speedf", "--json"))
    assert before["kind"] == "NEEDS_MORE_DATA"
    assert "needs 3 fresh baseline run(s) first" in before["reason"]
    ran = bench("run", "toy", "speedf", "--until-decided", "--sandbox", "process", "--json")
    result = _json(ran)
    assert result["baseline_repetitions"] == 3  # as many as baseline establish runs
    fresh = _store(home).run_sets("toy", "speedf", git_sha=improved, kinds=("baseline",))
    assert len(fresh) == 1 and fresh[0].repetitions == 3 and not fresh[0].caller_seeds
    verdict = _json(bench("evaluate", "toy", "speedf", "--json"))
    # judged against the fresh runs of the promoted commit, not the promoted sample
    assert verdict["baseline"]["run_set_ids"] == [fresh[0].id]
    assert verdict["baseline"]["git_sha"] == improved and verdict["baseline"]["n"] == 3
    assert verdict["kind"] != "PROMOTE" and ran.returncode in (1, 2)
    text = bench("run", "toy", "speedf", "--until-decided", "--sandbox", "process")
    assert "baseline repetition(s)" not in text.stdout  # nothing more to run on either side


@pytest.mark.slow
def test_after_a_promote_a_background_run_records_the_fresh_baseline_first(bench, make_project,
                                                                           home) -> None:
    root, improved = _promoted_fixed_toy(make_project, bench)
    (root / "README").write_text("docs only\n")
    commit_all(root, "no change to the program")
    job = _json(bench("run", "toy", "speedf", "--background", "--sandbox", "process", "--json"))
    deadline = time.monotonic() + 120
    while api.status(job["id"], home=home)[0].active:
        assert time.monotonic() < deadline, "the background job did not end"
        time.sleep(0.2)
    assert api.status(job["id"], home=home)[0].state == "done"
    fresh = _store(home).run_sets("toy", "speedf", git_sha=improved, kinds=("baseline",))
    assert len(fresh) == 1 and fresh[0].repetitions == 3
    verdict = _json(bench("evaluate", "toy", "speedf", "--json"))
    assert verdict["baseline"]["run_set_ids"] == [fresh[0].id]
    assert verdict["candidate"]["n"] == 3 and verdict["kind"] != "PROMOTE"
