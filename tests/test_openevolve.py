"""The OpenEvolve evaluator, called by the real OpenEvolve package the way it calls evaluators:
``openevolve.evaluator.Evaluator`` loads the evaluation file and ``evaluate_program`` writes the
candidate code to a temporary file and calls ``evaluate(program_path)``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from conftest import git

openevolve = pytest.importorskip("openevolve", reason="the openevolve extra is not installed")
from openevolve.config import EvaluatorConfig  # noqa: E402
from openevolve.evaluator import Evaluator  # noqa: E402

BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "process"]
BRANCH = "benchstone/openevolve"


def program(body: str) -> str:
    return f"# EVOLVE-BLOCK-START\ndef cost():\n    {body}\n# EVOLVE-BLOCK-END\n"


def _user_state(root: Path) -> dict[str, str]:
    """Everything of the user's repository the evaluator must leave alone."""
    return {
        "head": git(root, "rev-parse", "HEAD"),
        "branch": git(root, "symbolic-ref", "HEAD"),
        "status": git(root, "status", "--porcelain"),
        "index": hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest(),
        "program": (root / "program.py").read_text(),
        "branches": git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main"),
    }


@pytest.fixture
def evolve_project(bench, make_project) -> Path:
    root = make_project("evolve")
    assert bench("register", str(root)).returncode == 0
    return root


def _load(tmp_path: Path, source: str, **config: object) -> Evaluator:
    evaluation_file = tmp_path / "evaluator.py"
    evaluation_file.write_text(textwrap.dedent(source))
    return Evaluator(EvaluatorConfig(timeout=300, max_retries=0, **config), str(evaluation_file))


def _evaluate(evaluator: Evaluator, code: str, program_id: str) -> tuple[dict, dict]:
    metrics = asyncio.run(evaluator.evaluate_program(code, program_id=program_id))
    return metrics, evaluator.get_pending_artifacts(program_id) or {}


@pytest.fixture(params=BACKENDS)
def sandbox(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_client")
    return request.param


@pytest.mark.slow
def test_openevolve_calls_the_evaluator_and_gets_gated_metrics(
        bench, evolve_project: Path, tmp_path: Path, sandbox: str) -> None:
    root = evolve_project
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", sandbox).returncode == 0
    base = git(root, "rev-parse", "HEAD")
    # the user is in the middle of something: an edit, a staged file, an untracked file
    (root / "program.py").write_text(program("return 0.5  # my own idea, not committed"))
    (root / "staged.txt").write_text("staged\n")
    git(root, "add", "staged.txt")
    (root / "notes.txt").write_text("untracked\n")
    before = _user_state(root)

    evaluator = _load(tmp_path, f"""
        from benchstone.integrations.openevolve import BenchstoneEvaluator

        evaluate = BenchstoneEvaluator("evolve", "cost", target="program.py", sandbox="{sandbox}")
    """)
    faster, artifacts = _evaluate(evaluator, program("return 0.8"), "faster")
    assert artifacts["verdict"] == "PROMOTE", artifacts
    assert faster["promote"] == 1.0 and faster["verdict_exit_code"] == 0.0
    assert faster["combined_score"] == pytest.approx(1.25, rel=0.04)
    assert faster["metric"] == pytest.approx(0.8, rel=0.02)
    assert faster["baseline_metric"] == pytest.approx(1.0, rel=0.02)
    assert faster["improvement"] == pytest.approx(0.2, abs=0.04)
    assert faster["statistic"] > faster["threshold"] == 2.0
    assert faster["runs_ok"] == 3.0 and faster["runs_failed"] == 0.0
    assert all(isinstance(value, float) for value in faster.values())

    slower, artifacts = _evaluate(evaluator, program("return 1.2"), "slower")
    assert artifacts["verdict"] == "REJECT"
    assert slower["promote"] == 0.0 and slower["verdict_exit_code"] == 1.0
    assert slower["combined_score"] == pytest.approx(1 / 1.2, rel=0.04)
    assert slower["statistic"] < 0

    broken, artifacts = _evaluate(evaluator, program("raise RuntimeError('typo')"), "broken")
    assert artifacts["verdict"] == "NEEDS_MORE_DATA"
    # a candidate that cannot run stops at its first failed repetition (fail_fast)
    assert broken["combined_score"] == 0.0 and broken["runs_failed"] == 1.0
    assert "RuntimeError: typo" in artifacts["errors"]
    assert artifacts["stopped"].startswith("the first repetition failed, so the other 2")

    assert _user_state(root) == before  # working tree, index, HEAD and main untouched
    commits = git(root, "rev-list", f"{base}..{BRANCH}").splitlines()
    assert len(commits) == 3
    for sha, body in zip(commits, ["raise RuntimeError('typo')", "return 1.2", "return 0.8"],
                         strict=True):
        assert git(root, "show", f"{sha}:program.py") == program(body).rstrip("\n")
        assert git(root, "diff", "--name-only", base, sha) == "program.py"
        assert f"base: {base}" in git(root, "log", "-1", "--format=%B", sha)
    timeline = json.loads(bench("history", "evolve", "cost", "--json").stdout)
    measured = [entry["run_set"]["git_sha"] for entry in timeline["entries"]]
    assert measured == [*commits, base]
    assert {entry["run_set"]["sandbox"] for entry in timeline["entries"]} == {sandbox}


def test_evaluator_args_configure_the_module_level_evaluate(bench, evolve_project: Path,
                                                             tmp_path: Path) -> None:
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    evaluator = _load(
        tmp_path, "from benchstone.integrations.openevolve import evaluate  # noqa: F401\n",
        evaluator_args={"project": "evolve", "benchmark": "cost", "target": "program.py",
                        "sandbox": "process", "repetitions": 2},
    )
    metrics, artifacts = _evaluate(evaluator, program("return 0.5"), "half")
    assert metrics["runs_ok"] == 2.0 and metrics["combined_score"] == pytest.approx(2.0, rel=0.04)
    # 2 candidate runs against 3 baseline runs: the floor is the run set's own size, met here
    assert artifacts["verdict"] == "PROMOTE", artifacts


@pytest.mark.slow
def test_a_calibrated_gate_is_evaluated_over_the_candidates_runs(bench, evolve_project: Path,
                                                                   tmp_path: Path) -> None:
    """gate_policy welch (what `bench init` scaffolds) gates every run at the candidate's
    commit, not one run set: the evaluator must not ask for a single run set."""
    root = evolve_project
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        "promotion_sigma = 2.0", 'gate_policy = "welch"\nlog_scale = true\nalpha = 0.05'))
    git(root, "commit", "-qam", "gate with welch")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    evaluator = _load(tmp_path, """
        from benchstone.integrations.openevolve import BenchstoneEvaluator

        evaluate = BenchstoneEvaluator("evolve", "cost", target="program.py", sandbox="process")
    """)
    metrics, artifacts = _evaluate(evaluator, program("return 0.5"), "half")
    assert artifacts["verdict"] in ("PROMOTE", "NEEDS_MORE_DATA"), artifacts
    assert "welch (sequential" in artifacts["reason"], artifacts
    assert metrics["runs_ok"] == 3.0 and metrics["combined_score"] == pytest.approx(2.0, rel=0.04)
    assert 0 < metrics["p_value"] < 0.05 and 0 < metrics["threshold"] <= 0.05
    assert "statistic" not in metrics  # a p-value gate has no z or sigma


@pytest.mark.slow
def test_under_the_paired_design_a_candidate_is_gated_on_pairs(bench, evolve_project: Path,
                                                                tmp_path: Path) -> None:
    """design = "paired" (what `bench init` scaffolds): each candidate commit is measured in
    pairs with the baseline commit, and the evaluator reads the verdict on those pairs."""
    root = evolve_project
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        "promotion_sigma = 2.0", 'design = "paired"\ngate_policy = "welch"'))
    git(root, "commit", "-qam", "the paired design")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    base = git(root, "rev-parse", "HEAD")
    evaluator = _load(tmp_path, """
        from benchstone.integrations.openevolve import BenchstoneEvaluator

        evaluate = BenchstoneEvaluator("evolve", "cost", target="program.py", sandbox="process")
    """)
    metrics, artifacts = _evaluate(evaluator, program("return 0.5"), "half")
    assert "paired_t (sequential" in artifacts["reason"], artifacts
    assert metrics["runs_ok"] == 3.0 and metrics["combined_score"] == pytest.approx(2.0, rel=0.04)
    timeline = json.loads(bench("history", "evolve", "cost", "--json").stdout)["entries"]
    halves = {entry["run_set"]["side"]: entry["run_set"]["git_sha"] for entry in timeline
              if entry["run_set"]["kind"] == "compare"}
    assert halves["baseline"] == base and halves["candidate"] != base
    assert git(root, "rev-parse", "HEAD") == base  # the candidate ran pinned, off the user's HEAD


@pytest.mark.slow
def test_a_pickled_evaluator_works_through_run_evolutions_wrapper(bench, evolve_project: Path,
                                                                 tmp_path: Path) -> None:
    """run_evolution(evaluator=callable) pickles the callable into a generated evaluation file."""
    from openevolve.api import _prepare_evaluator

    from benchstone.integrations.openevolve import BenchstoneEvaluator

    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    callable_evaluator = BenchstoneEvaluator("evolve", "cost", "program.py", sandbox="process")
    evaluation_file = _prepare_evaluator(callable_evaluator, str(tmp_path), [])
    evaluator = Evaluator(EvaluatorConfig(timeout=300, max_retries=0), evaluation_file)
    metrics, _artifacts = _evaluate(evaluator, program("return 2.0"), "worse")
    assert metrics["verdict_exit_code"] == 1.0
    assert metrics["combined_score"] == pytest.approx(0.5, rel=0.04)


def test_setup_errors_stop_openevolve_at_start_up(bench, evolve_project: Path,
                                                  tmp_path: Path) -> None:
    source = """
        from benchstone.integrations.openevolve import BenchstoneEvaluator

        evaluate = BenchstoneEvaluator("evolve", "cost", target={target!r}{extra})
    """
    with pytest.raises(Exception, match="has no baseline"):
        _load(tmp_path, source.format(target="program.py", extra=""))
    assert bench("baseline", "establish", "evolve", "cost", "--sandbox", "process").returncode == 0
    with pytest.raises(Exception, match=r"bench/runner\.py is protected"):
        _load(tmp_path, source.format(target="bench/runner.py", extra=""))
    with pytest.raises(Exception, match="not a path inside the project"):
        _load(tmp_path, source.format(target="../outside.py", extra=""))
    with pytest.raises(Exception, match="main is the branch checked out"):
        _load(tmp_path, source.format(target="program.py", extra=", branch='main'"))
    with pytest.raises(Exception, match="no benchmark 'nope'"):
        _load(tmp_path, source.format(target="program.py", extra="").replace('"cost"', '"nope"'))
    assert git(evolve_project, "branch", "--list", BRANCH) == ""
