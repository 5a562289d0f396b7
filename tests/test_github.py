"""``bench evaluate --format github``: a job summary appended to $GITHUB_STEP_SUMMARY, ::error
annotations for REJECT/FAIL/TAMPERED, and the exit codes of the other formats."""

from __future__ import annotations

from pathlib import Path

from conftest import commit_all

from benchstone.github import annotations, publish, summary_markdown
from benchstone.verdict import Sample, Verdict


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
                        "| -25.00% (better) | sigma=+4.2, threshold 2 | z above \\| threshold |")
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
