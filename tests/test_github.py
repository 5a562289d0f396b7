"""``bench evaluate --format github``: a job summary appended to $GITHUB_STEP_SUMMARY, ::error
annotations for REJECT/FAIL/TAMPERED, and the exit codes of the other formats."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git

from benchstone.gates.verdict import Sample, Verdict
from benchstone.report.github import annotations, publish, summary_markdown


def _verdict(kind: str, reason: str = "because", **extra) -> Verdict:
    return Verdict(kind=kind, project="p", benchmark="b", tier="performance", reason=reason,
                   **extra)


def test_summary_has_one_row_per_verdict_with_both_sides() -> None:
    base = Sample(git_sha="a" * 40, run_set_ids=[1], n=5, mean=2.0)
    cand = Sample(git_sha="c" * 40, run_set_ids=[2], n=5, mean=1.5)
    promoted = _verdict("PROMOTE", "z above | threshold", policy="sigma", direction="minimize",
                        statistic=4.2, statistic_name="sigma", threshold=2.0, baseline=base,
                        candidate=cand)
    rejected = _verdict("REJECT", "p too high", policy="welch", statistic=1.05,
                        statistic_name="t", threshold=0.01, p_value=0.164, alpha=0.01)
    waiting = _verdict("NO_BASELINE", "no baseline\nyet")
    markdown = summary_markdown([promoted, rejected, waiting])
    lines = markdown.splitlines()
    assert lines[0] == "### benchstone" and lines[2] == "1 PROMOTE, 1 REJECT, 1 NO_BASELINE"
    assert lines[6] == ("| ✅ | p/b | **PROMOTE** | 2 (`aaaaaaaaaa`, n=5) | 1.5 (`cccccccccc`, n=5) "
                        "| +25.00% (better) | sigma=+4.2, threshold 2 | z above \\| threshold |")
    assert lines[7] == ("| ❌ | p/b | **REJECT** | - | - | - | welch, t=+1.05, p=0.164 (alpha 0.01) "
                        "| p too high |")
    assert lines[8] == "| ⏳ | p/b | **NO_BASELINE** | - | - | - | - | no baseline yet |"
    assert len(lines) == 9


def test_annotations_are_escaped_workflow_commands() -> None:
    lines = annotations([
        _verdict("PROMOTE"),
        _verdict("REJECT", "50% slower,\nsee: log", baseline_mean=1.0, candidate_mean=1.5),
        _verdict("TAMPERED", "bench/runner.py changed"),
        _verdict("FAIL", "differs"),
        _verdict("NEEDS_MORE_DATA", "2 runs"),
    ])
    assert lines == [
        "::error title=benchstone REJECT%3A p/b::50%25 slower,%0Asee: log "
        "(baseline mean 1, candidate mean 1.5)",
        "::error title=benchstone TAMPERED%3A p/b::bench/runner.py changed",
        "::error title=benchstone FAIL%3A p/b::differs",
        "::warning title=benchstone NEEDS_MORE_DATA%3A p/b::2 runs",
    ]


def test_publish_appends_to_the_summary_file_or_prints(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("an earlier step\n")
    printed = publish([_verdict("REJECT")], {"GITHUB_STEP_SUMMARY": str(summary)})
    assert printed == ["::error title=benchstone REJECT%3A p/b::because"]
    text = summary.read_text()
    assert text.startswith("an earlier step\n### benchstone\n") and "**REJECT**" in text
    printed = publish([_verdict("REJECT")], {})
    assert printed[0] == "### benchstone" and printed[-1].startswith("::error ")


@pytest.mark.slow
def test_evaluate_format_github_end_to_end(bench, make_project, tmp_path: Path) -> None:
    root = make_project("toy")
    summary = tmp_path / "step-summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "BENCHSTONE_SANDBOX": "process"}
    assert bench("register", str(root)).returncode == 0

    no_baseline = bench("evaluate", "toy", "speed", "--format", "github", env=env)
    assert no_baseline.returncode == 2
    assert "::warning title=benchstone NO_BASELINE%3A toy/speed::" in no_baseline.stdout

    assert bench("baseline", "establish", "toy", "speed", env=env).returncode == 0
    (root / "src" / "speed.txt").write_text("0.8\n")
    commit_all(root, "faster")
    assert bench("run", "toy", "speed", env=env).returncode == 0
    promoted = bench("evaluate", "toy", "speed", "--format", "github", env=env)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert promoted.stdout.startswith("verdict: PROMOTE")
    assert "::" not in promoted.stdout
    assert bench("promote", "toy", "speed").returncode == 0

    (root / "src" / "speed.txt").write_text("0.95\n")
    commit_all(root, "slower")
    assert bench("run", "toy", "speed", env=env).returncode == 0
    rejected = bench("evaluate", "toy", "speed", "--format", "github", env=env)
    assert rejected.returncode == 1
    assert "\n::error title=benchstone REJECT%3A toy/speed::" in rejected.stdout

    (root / "bench" / "runner.py").write_text(
        (root / "bench" / "runner.py").read_text().replace("wobble = 1 +", "wobble = 0.5 +"))
    commit_all(root, "a runner that reports half the time")
    assert bench("run", "toy", "speed", env=env).returncode == 0
    tampered = bench("evaluate", "toy", "speed", "--format", "GitHub", env=env)
    assert tampered.returncode == 1
    assert "::error title=benchstone TAMPERED%3A toy/speed::protected files changed" in tampered.stdout

    tables = summary.read_text().split("### benchstone")[1:]
    assert [next(kind for kind in ("NO_BASELINE", "PROMOTE", "REJECT", "TAMPERED")
                 if f"**{kind}**" in table) for table in tables] == [
        "NO_BASELINE", "PROMOTE", "REJECT", "TAMPERED"]

    outside_actions = bench("evaluate", "toy", "speed", "--format", "github",
                            env={"GITHUB_STEP_SUMMARY": ""})
    assert outside_actions.returncode == 1
    assert "| ❌ | toy/speed | **TAMPERED** |" in outside_actions.stdout
    as_json = bench("evaluate", "toy", "speed", "--format", "json")
    assert as_json.returncode == 1 and '"kind": "TAMPERED"' in as_json.stdout
    both = bench("evaluate", "toy", "speed", "--format", "github", "--json")
    assert both.returncode != 0 and both.stdout == ""
    assert "--json and --format github cannot be combined" in both.stderr


WORKFLOW = Path(__file__).parent / "fixtures" / "ci" / "benchstone.yml"
# Not run here: installing the package (the one under test is on PYTHONPATH), starting an engine
# and building the runner image (the machine's engine and image are shared; `bench doctor` in
# the workflow checks both are there).
SKIPPED_STEPS = ("Install benchstone", "Install and start the Docker engine", "Build the runner")


def _run_job(repo: Path, base_sha: str, summary: Path, bin_dir: Path) -> list[tuple[str, int, str]]:
    """The workflow's shell steps as GitHub runs them (bash -eo pipefail), until one fails."""
    import re

    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    context = {"github.workspace": str(repo), "github.event.pull_request.base.sha": base_sha}

    def expand(value: object) -> str:
        return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", lambda m: context[m.group(1)], str(value))

    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_STEP_SUMMARY": str(summary),
           **{key: expand(value) for key, value in workflow["env"].items()},
           "PROJECT": "toy", "BENCHMARK": "speed"}
    results = []
    failed = False
    for step in workflow["jobs"]["gate"]["steps"]:
        if "run" not in step or step["name"].startswith(SKIPPED_STEPS):
            continue
        if failed and step.get("if") != "always()":
            continue
        step_env = {**env, **{key: expand(value) for key, value in step.get("env", {}).items()}}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=repo, env=step_env, capture_output=True,
                              text=True, timeout=600)
        results.append((step["name"], done.returncode, done.stdout + done.stderr))
        failed = failed or done.returncode != 0
    return results


@pytest.mark.docker
def test_an_unwritable_summary_file_is_a_one_line_error(bench, make_project,
                                                       tmp_path: Path) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    missing = tmp_path / "no-such-dir" / "summary.md"
    result = bench("evaluate", "toy", "speed", "--format", "github",
                   env={"GITHUB_STEP_SUMMARY": str(missing)})
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    error, fix = result.stderr.strip().splitlines()
    assert error.startswith("error: cannot append the job summary to $GITHUB_STEP_SUMMARY")
    assert fix.startswith("  fix: point GITHUB_STEP_SUMMARY at a writable file")


@pytest.mark.docker
def test_the_workflow_gates_pull_requests(make_project, docker_client, tmp_path: Path) -> None:
    root = make_project("toy")
    base = git(root, "rev-parse", "HEAD")
    (root / "src" / "speed.txt").write_text("0.8\n")
    commit_all(root, "faster")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bench").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m benchstone "$@"\n')
    (bin_dir / "bench").chmod(0o755)
    summary = tmp_path / "summary.md"

    job = _run_job(root, base, summary, bin_dir)
    assert [code for _name, code, _output in job] == [0, 0, 0, 0, 0], job
    assert "verdict: PROMOTE" in job[3][2] and "**PROMOTE**" in summary.read_text()
    assert (root / "benchstone-history.svg").read_text().lstrip().startswith("<?xml")
    assert git(root, "rev-parse", "HEAD") != base  # the job left the candidate checked out

    (root / "src" / "speed.txt").write_text("1.3\n")
    commit_all(root, "slower")
    job = _run_job(root, base, summary, bin_dir)
    names = [name for name, _code, _output in job]
    assert [code for _name, code, _output in job] == [0, 0, 0, 1, 0], job
    assert names[3].startswith("Evaluate") and names[4] == "Plot the history"
    assert "::error title=benchstone REJECT%3A toy/speed::" in job[3][2]

    (root / "bench" / "manifest.toml").write_text(
        (root / "bench" / "manifest.toml").read_text().replace("promotion_sigma = 2.0",
                                                               "promotion_sigma = 0.1"))
    commit_all(root, "slower, and a looser gate")
    job = _run_job(root, base, summary, bin_dir)
    assert [code for _name, code, _output in job] == [0, 0, 5, 0], job
    assert "different bench/manifest.toml than the registered copy" in job[2][2]


def test_the_summary_improvement_is_the_number_the_reason_gives() -> None:
    from benchstone.integrations.openevolve import CandidateResult
    from benchstone.report.render import verdict_lines

    base = Sample(git_sha="a" * 40, run_set_ids=[1], n=5, mean=1.0)
    cand = Sample(git_sha="c" * 40, run_set_ids=[2], n=5, mean=1.6424)  # the means: 64 % slower
    verdict = _verdict("REJECT", "improvement -29.59% (the gate's estimate)", policy="welch",
                       direction="minimize", effect=-0.2959, p_value=0.9, alpha=0.01,
                       baseline=base, candidate=cand)
    assert verdict.improvement == -0.2959
    row = summary_markdown([verdict]).splitlines()[6]
    assert "| -29.59% (worse) |" in row and "64.24%" not in row
    assert "improvement -29.59%" in "\n".join(verdict_lines(verdict))
    result = CandidateResult(commit="c" * 40, branch="b", base="a" * 40, verdict=verdict,
                             runs_ok=5, runs_failed=0, errors=[])
    assert result.metrics()["improvement"] == -0.2959
    # without the gate's estimate, the change of the means, oriented so that > 0 is better
    plain = verdict.model_copy(update={"effect": None})
    assert plain.improvement == pytest.approx(-0.6424)
