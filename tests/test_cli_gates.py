"""The gate commands through the real CLI: run --until-decided, compare, evaluate --all with
Benjamini-Hochberg, explain, and the usage errors of evaluate.

The toy project's metrics come from files in src/ with a fixed wobble per seed; the welch and
rank benchmarks used here are added to its manifest before registering.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit_all, git

CALIBRATED = """
[[benchmarks]]
name = "speedw"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
gate_policy = "welch"
log_scale = true
max_repetitions = 12

[[benchmarks]]
name = "qualityr"
entry_point = "quality"
tier = "quality"
metric_direction = "maximize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
gate_policy = "rank"
max_repetitions = 12
"""


def _calibrated_toy(make_project, bench, sandbox: str = "process",
                    names: tuple[str, ...] = ("speedw",)) -> Path:
    root = make_project("toy")
    with (root / "bench" / "manifest.toml").open("a") as manifest:
        manifest.write(CALIBRATED)
    commit_all(root, "calibrated benchmarks")
    assert bench("register", str(root)).returncode == 0
    for name in names:
        established = bench("baseline", "establish", "toy", name, "--sandbox", sandbox)
        assert established.returncode == 0, established.stderr
    return root


def _set(root: Path, relative: str, text: str, message: str) -> str:
    (root / relative).write_text(text)
    return commit_all(root, message)


def _json(result) -> dict:
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_run_until_decided_stops_at_the_decision(bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    _set(root, "src/speed.txt", "0.8\n", "faster")
    ran = bench("run", "toy", "speedw", "--until-decided", "--sandbox", "process", "--json")
    assert ran.returncode == 0, ran.stderr
    result = _json(ran)
    assert result["verdict"]["kind"] == "PROMOTE"
    assert 2 <= result["repetitions"] < 12 and result["total"] == result["repetitions"]
    assert len(result["report"]["runs"]) == result["repetitions"]
    assert result["verdict"]["sequential"]["horizon"] == 12
    # evaluate afterwards says the same, from the same runs
    evaluated = bench("evaluate", "toy", "speedw", "--json")
    assert evaluated.returncode == 0 and _json(evaluated)["kind"] == "PROMOTE"
    text = bench("run", "toy", "speedw", "--until-decided", "--sandbox", "process")
    assert text.returncode == 0
    assert "decided after 0 repetition(s) in this run" in text.stdout  # nothing left to run


def test_run_until_decided_judges_the_commit_it_began_at(bench, make_project,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout while it runs would have the runs of one commit stop on, and exit with, the
    verdict of another: HEAD is read once, and runs of another commit are refused."""
    from benchstone.evaluate import single

    root = _calibrated_toy(make_project, bench)
    begun = _set(root, "README", "docs only\n", "no change to the program")
    faster = _set(root, "src/speed.txt", "0.5\n", "twice as fast")
    git(root, "checkout", "-q", begun)
    read_head = single.head_sha

    def head_then_moved(project):
        sha = read_head(project)
        git(root, "checkout", "-q", faster)
        return sha

    monkeypatch.setattr(single, "head_sha", head_then_moved)
    ran = bench("run", "toy", "speedw", "--until-decided", "--sandbox", "process")
    assert ran.returncode == 5, ran.stdout + ran.stderr
    assert f"error: HEAD moved from {begun[:10]} to {faster[:10]} while bench run " \
           "--until-decided ran" in ran.stderr
    assert "PROMOTE" not in ran.stdout


@pytest.mark.slow
def test_until_decided_on_an_unchanged_program_stays_within_its_budget(bench,
                                                                       make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    _set(root, "README", "docs only\n", "no change to the program")
    ran = bench("run", "toy", "speedw", "--until-decided", "--max-repetitions", "4",
                "--sandbox", "process", "--json")
    result = _json(ran)
    assert ran.returncode in (1, 2) and result["verdict"]["kind"] != "PROMOTE"
    assert result["repetitions"] <= 4
    # re-running until green: every run at the commit is in the one sequential test
    for _ in range(3):
        again = _json(bench("run", "toy", "speedw", "--until-decided", "--sandbox", "process",
                            "--json"))
        assert again["verdict"]["kind"] != "PROMOTE"
    final = _json(bench("evaluate", "toy", "speedw", "--json"))
    assert final["kind"] == "REJECT" and final["sequential"]["runs"] <= 12


def test_until_decided_needs_a_calibrated_policy(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    refused = bench("run", "toy", "speed", "--until-decided", "--sandbox", "process")
    assert refused.returncode == 5
    assert "gate_policy sigma" in refused.stderr and "fix:" in refused.stderr
    usage = bench("run", "toy", "speed", "--max-repetitions", "3")
    assert usage.returncode == 64 and "only applies with --until-decided" in usage.stderr


@pytest.mark.slow
def test_evaluate_all_promotes_only_without_regressions(bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench, names=("speedw", "qualityr"))
    _set(root, "src/speed.txt", "0.8\n", "faster")
    for name in ("speedw", "qualityr"):
        assert bench("run", "toy", name, "--sandbox", "process").returncode == 0
    result = bench("evaluate", "toy", "--all", "--json")
    overall = _json(result)
    assert (result.returncode, overall["kind"]) == (0, "PROMOTE")
    assert overall["fdr"] == 0.01
    kinds = {v["benchmark"]: v["kind"] for v in overall["benchmarks"]}
    assert kinds["speedw"] == "PROMOTE" and kinds["qualityr"] != "PROMOTE"
    assert kinds["speed"] == "NO_BASELINE" and kinds["output"] == "NO_REFERENCE"
    speedw = next(v for v in overall["benchmarks"] if v["benchmark"] == "speedw")
    assert any("Benjamini-Hochberg across 2 benchmark(s)" in d for d in speedw["details"])
    assert any("gate_policy sigma has no p-value" in w for w in overall["warnings"])
    text = bench("evaluate", "toy", "--all")
    assert text.stdout.startswith("overall: PROMOTE")

    _set(root, "src/quality.txt", "8.0\n", "faster but worse quality")
    # 6 runs: against 10, a rank look before the sixth has no boundary that holds for every spread
    for name, runs in (("speedw", "5"), ("qualityr", "6")):
        assert bench("run", "toy", name, "-n", runs, "--sandbox", "process").returncode == 0
    worse = bench("evaluate", "toy", "--all", "--json")
    overall = _json(worse)
    assert (worse.returncode, overall["kind"]) == (1, "REJECT")
    assert overall["regressed"] == ["qualityr"] and "qualityr regressed" in overall["reason"]
    assert bench("evaluate", "toy", "--all", "--expect", "PROMOTE").returncode == 4


def test_evaluate_usage_errors(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    missing = bench("evaluate", "toy")
    assert missing.returncode == 64 and "Missing argument 'BENCHMARK'" in missing.stderr
    both = bench("evaluate", "toy", "speed", "--all")
    assert both.returncode == 64 and "leave out BENCHMARK" in both.stderr
    fdr = bench("evaluate", "toy", "speed", "--fdr", "0.05")
    assert fdr.returncode == 64
    zero = bench("evaluate", "toy", "--all", "--fdr", "0")
    assert zero.returncode == 64 and "0 is not a rate above 0 and at most 1" in zero.stderr
    unchanged = bench("evaluate", "toy", "speed", "--json")  # the seed's form still works
    assert unchanged.returncode == 2 and _json(unchanged)["kind"] == "NO_BASELINE"


@pytest.mark.slow
def test_explain_plots_both_samples_and_states_the_power(bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    _set(root, "src/speed.txt", "0.8\n", "faster")
    assert bench("run", "toy", "speedw", "--sandbox", "process").returncode == 0
    explained = bench("explain", "toy", "speedw")
    assert explained.returncode == 0, explained.stderr
    lines = explained.stdout.splitlines()
    assert lines[0].startswith("verdict: PROMOTE  welch (sequential")
    baseline_row = next(line for line in lines if line.startswith("baseline  ["))
    candidate_row = next(line for line in lines if line.startswith("candidate ["))
    assert "n=10" in baseline_row and "n=5" in candidate_row
    # minimize: the faster candidate's marks sit left of the baseline's
    assert candidate_row.index("[") < candidate_row.find(".", 11) < baseline_row.find(".", 11)
    assert any(line.startswith("test: one-sided Welch t-test") for line in lines)
    assert any("smallest improvement detected with 80% power" in line for line in lines)
    flag = bench("evaluate", "toy", "speedw", "--explain", "--json")
    assert flag.returncode == 0 and _json(flag)["plot"]


@pytest.mark.slow
def test_meta_seed_is_refused_for_calibrated_policies(bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    _set(root, "src/speed.txt", "0.8\n", "faster")
    bench("run", "toy", "speedw", "--sandbox", "process")
    refused = bench("evaluate", "toy", "speedw", "--meta-seed", "1")
    assert refused.returncode == 5 and "does not evaluate a single run set" in refused.stderr


@pytest.mark.docker
def test_compare_runs_pairs_in_containers(bench, make_project, docker_client) -> None:
    root = _calibrated_toy(make_project, bench, sandbox="docker")
    baseline_sha = git(root, "rev-parse", "HEAD")
    candidate_sha = _set(root, "src/speed.txt", "0.8\n", "faster")
    compared = bench("compare", "toy", "speedw", "--pairs", "3", "--json")
    result = _json(compared)
    assert compared.returncode == 2, compared.stderr  # 3 pairs cannot decide at alpha 0.01
    assert result["verdict"]["kind"] == "NEEDS_MORE_DATA"
    assert (result["baseline_sha"], result["candidate_sha"]) == (baseline_sha, candidate_sha)
    assert result["pairs_run"] == 3 and len(result["first_sides"]) == 3
    assert result["verdict"]["policy"] == "paired_t"
    assert result["verdict"]["effect"] == pytest.approx(0.2, abs=1e-6)  # 0.8 v 1.0, same seeds
    b_runs, c_runs = result["baseline"]["runs"], result["candidate"]["runs"]
    assert [r["seed"] for r in b_runs] == [r["seed"] for r in c_runs]  # same seed in a pair
    assert {r["sandbox"] for r in b_runs + c_runs} == {"docker"}
    assert {r["git_sha"] for r in b_runs} == {baseline_sha}
    entries = _json(bench("history", "toy", "speedw", "--json"))["entries"]
    sides = {e["run_set"]["side"]: e["run_set"] for e in entries if e["run_set"]["kind"] == "compare"}
    assert set(sides) == {"baseline", "candidate"}
    assert sides["baseline"]["comparison_id"] == sides["candidate"]["comparison_id"] \
        == result["comparison_id"]
    # compare runs are never candidates for evaluate
    assert _json(bench("evaluate", "toy", "speedw", "--json"))["kind"] == "NEEDS_MORE_DATA"
    # the earlier pairs count: against the same commits, until decided
    again = _json(bench("compare", "toy", "speedw", "--against", baseline_sha,
                        "--until-decided", "--json"))
    assert again["pairs_total"] == 3 + again["pairs_run"]
    assert again["verdict"]["kind"] == "PROMOTE"


@pytest.mark.slow
def test_compare_refuses_changed_protected_files(bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    runner = root / "bench" / "runner.py"
    runner.write_text(runner.read_text() + "\n# an edit to the protected runner\n")
    commit_all(root, "touch the runner")
    result = bench("compare", "toy", "speedw", "--pairs", "2", "--sandbox", "process", "--json")
    assert result.returncode == 1 and _json(result)["verdict"]["kind"] == "TAMPERED"
    assert "bench/runner.py" in _json(result)["verdict"]["reason"]


@pytest.mark.slow
def test_promote_takes_every_run_set_then_fresh_runs_are_the_next_baseline(
        bench, make_project) -> None:
    root = _calibrated_toy(make_project, bench)
    improved = _set(root, "src/speed.txt", "0.8\n", "faster")
    sets = []
    for _ in range(2):  # two run sets at the commit: no --meta-seed needed to promote
        ran = bench("run", "toy", "speedw", "-n", "2", "--sandbox", "process", "--json")
        assert ran.returncode == 0
        sets.append(_json(ran)["run_set"]["id"])
    decided = _json(bench("evaluate", "toy", "speedw", "--json"))
    assert decided["kind"] == "PROMOTE" and decided["candidate"]["run_set_ids"] == sets
    promoted = bench("promote", "toy", "speedw")
    assert promoted.returncode == 0, promoted.stderr
    _set(root, "README", "docs only\n", "no change to the program")
    # the promoted sample stopped when it looked good: a plain run first records fresh runs
    # of the promoted commit (as many as baseline_seeds lists), the next baseline
    ran = bench("run", "toy", "speedw", "-n", "2", "--sandbox", "process")
    assert "first 10 fresh baseline repetition(s) of the promoted commit" in ran.stderr
    verdict = _json(bench("evaluate", "toy", "speedw", "--json"))
    assert verdict["baseline"]["git_sha"] == improved and verdict["baseline"]["n"] == 10
    assert not set(verdict["baseline"]["run_set_ids"]) & set(sets)
    assert verdict["candidate"]["n"] == 2


HIDING_RUNNER = """import argparse, json
from pathlib import Path
parser = argparse.ArgumentParser()
for name in ("--entry", "--config", "--output"):
    parser.add_argument(name)
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
values = [float(v) for v in Path("src/values").read_text().split()]
value = values[config["repetition_index"] % len(values)]
if value > float(Path("src/hide_above").read_text()):
    result = {"status": "error", "message": "lost its input"}
else:
    result = {"status": "ok", "metric": value}
Path(args.output).write_text(json.dumps(result))
"""
HIDING_MANIFEST = """[project]
name = "hiding"
language = "python"
invocation = "python3 bench/runner.py --entry={entry_point} --config={config_path} --output={output_path}"

[[benchmarks]]
name = "speed"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 6
baseline_seeds = [1, 2, 3, 4, 5, 6]
gate_policy = "%s"
alpha = 0.05
"""


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["welch", "rank"])
def test_failing_the_slow_runs_is_never_promoted(bench, tmp_path: Path, policy: str) -> None:
    """A candidate whose slow repetitions fail must not be judged on the fast ones that
    succeed: 0.8 when it works, but 1.5 (and an error) every other run."""
    root = tmp_path / "hiding"
    (root / "bench").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "bench" / "runner.py").write_text(HIDING_RUNNER)
    (root / "bench" / "manifest.toml").write_text(HIDING_MANIFEST % policy)
    (root / "src" / "values").write_text("1.00 1.01 0.99 1.00 1.02 0.98\n")
    (root / "src" / "hide_above").write_text("9\n")
    git(root, "init", "-q")
    commit_all(root, "initial")
    assert bench("register", str(root)).returncode == 0
    established = bench("baseline", "establish", "hiding", "speed", "--sandbox", "process")
    assert established.returncode == 0, established.stderr
    (root / "src" / "values").write_text("0.80 1.50 0.81 1.60 0.79 1.55\n")
    (root / "src" / "hide_above").write_text("1.2\n")
    commit_all(root, "fast when it works")

    ran = bench("run", "hiding", "speed", "--until-decided", "--sandbox", "process", "--json")
    result = _json(ran)
    assert ran.returncode == 1, ran.stderr
    # it stops at the first failure (where that falls follows the drawn slots): no run after
    # it can lead to PROMOTE
    runs = result["report"]["runs"]
    assert result["repetitions"] == len(runs) and runs[-1]["status"] == "error"
    assert all(run["status"] == "ok" for run in runs[:-1])
    for _ in range(2):
        assert bench("run", "hiding", "speed", "--sandbox", "process").returncode == 0
    evaluated = bench("evaluate", "hiding", "speed", "--json")
    verdict = _json(evaluated)
    assert evaluated.returncode == 1 and verdict["kind"] == "REJECT", verdict
    assert verdict["reason"].startswith("7 candidate repetition(s) at ")
    assert "failed" in verdict["reason"] and verdict["candidate"]["n_errors"] == 7
    for fdr in ("0.01", "0.001"):  # Benjamini-Hochberg at any rate promotes nothing either
        overall = bench("evaluate", "hiding", "--all", "--fdr", fdr, "--json")
        assert overall.returncode == 1, overall.stdout + overall.stderr
        assert _json(overall)["benchmarks"][0]["kind"] == "REJECT"
    looser = bench("evaluate", "hiding", "--all", "--fdr", "0.5")  # and none looser is asked
    assert looser.returncode == 5 and "above the alpha the manifest pins" in looser.stderr

    compared = bench("compare", "hiding", "speed", "--pairs", "12", "--sandbox", "process",
                     "--json")
    verdict = _json(compared)["verdict"]
    assert compared.returncode == 1 and verdict["kind"] == "REJECT", verdict
    assert verdict["reason"].startswith("6 candidate repetition(s) at "), verdict["reason"]
