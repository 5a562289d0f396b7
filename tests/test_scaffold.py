"""``bench init``: a scaffolded project registers, runs and gates as it is, on both backends and
with both runners, and the ``make bench`` target it prints passes evaluate's exit code on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git


def _empty_repository(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "README").write_text("an existing project\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("language", ["python", "shell"])
def test_a_scaffolded_project_registers_runs_and_gates(bench, tmp_path: Path, sandbox: str,
                                                      language: str) -> None:
    root = _empty_repository(tmp_path, "my project")
    scaffolded = bench("init", str(root), "--language", language)
    assert scaffolded.returncode == 0, scaffolded.stderr
    runner = "bench/runner.py" if language == "python" else "bench/run.sh"
    assert f"created bench/manifest.toml\ncreated {runner}\n" in scaffolded.stdout
    assert "project my-project, benchmark speed" in scaffolded.stdout
    if language == "shell":
        code = [line for line in (root / runner).read_text().splitlines()
                if not line.lstrip().startswith("#")]
        assert not [line for line in code if "python" in line.lower()]
    commit_all(root, "Add a benchstone benchmark")

    env = {"BENCHSTONE_SANDBOX": sandbox}
    registered = bench("register", str(root))
    assert registered.returncode == 0, registered.stderr
    assert registered.stderr == ""  # the template manifest draws no warning
    established = bench("baseline", "establish", "my-project", "speed", env=env)
    assert established.returncode == 0, established.stderr
    assert established.stdout.count(" metric=") == 5
    ran = bench("run", "my-project", "speed", env=env)
    assert ran.returncode == 0, ran.stderr
    # design = paired: 5 pairs, each the baseline commit and HEAD
    assert ran.stdout.count(" metric=") == 10 and " error " not in ran.stdout

    evaluated = bench("evaluate", "my-project", "speed", "--json")
    verdict = json.loads(evaluated.stdout)
    # the same program against itself, through the sequential gate: decided either way, or
    # (with timing noise at 5 runs a side) undecided
    codes = {"PROMOTE": 0, "REJECT": 1, "NEEDS_MORE_DATA": 2}
    assert verdict["kind"] in codes, verdict["reason"]
    assert evaluated.returncode == codes[verdict["kind"]]
    assert verdict["baseline"]["n"] == verdict["candidate"]["n"] == 5
    assert all(value > 0 for value in verdict["candidate"]["values"])
    assert verdict["metric_source"] == "harness_cpu"  # the kernel's count, not the runner's
    timeline = json.loads(bench("history", "my-project", "speed", "--json").stdout)
    assert {run["sandbox"] for entry in timeline["entries"] for run in entry["runs"]} == {sandbox}


def test_init_refuses_to_overwrite_and_writes_nothing(bench, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "run.sh").write_text("# mine\n")
    refused = bench("init", str(root), "--language", "shell")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: refusing to overwrite bench/run.sh")
    assert "Traceback" not in refused.stderr
    assert sorted(p.name for p in (root / "bench").iterdir()) == ["run.sh"]
    assert (root / "bench" / "run.sh").read_text() == "# mine\n"
    # the Python runner does not collide with run.sh, but the manifest still would after one init
    assert bench("init", str(root)).returncode == 0
    again = bench("init", str(root))
    assert again.returncode == 5 and "bench/manifest.toml, bench/runner.py" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["no-such-dir"], "is not a directory"),
    ([".", "--name", "../escape"], "project name '../escape' is not a safe name"),
    ([".", "--benchmark", "a b"], "benchmark name 'a b' is not a safe name"),
    ([".", "--language", "cobol"], "'cobol' is not one of"),
])
def test_init_bad_input_is_one_line(bench, tmp_path: Path, args: list[str], message: str) -> None:
    result = bench("init", *args)
    assert result.returncode in (5, 64)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bench").exists()


# The solver's loop: about 0.1 s of CPU, several times the runner's own start, so that the
# version ten times faster is a clear gain on CPU seconds, however loaded the machine.
SLOW_STEPS = 1_000_000


def _make(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "bench", f"BENCHSTONE={sys.executable} -m benchstone"],
                          cwd=root, capture_output=True, text=True, timeout=600)


def _solve_in(root: Path, steps: int) -> None:
    """A solver that computes (the template gates on CPU seconds, which a sleep does not use)."""
    (root / "solve.py").write_text(
        f"def solve():\n    total = 0\n    for i in range({steps}):\n        total += i * i\n"
        "    return total\n")


@pytest.mark.slow
def test_make_bench_passes_evaluates_exit_code_through(bench, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCHSTONE_SANDBOX", "process")
    root = _empty_repository(tmp_path, "solver")
    scaffolded = bench("init", str(root))
    assert scaffolded.returncode == 0, scaffolded.stderr
    # what a user does next: point workload() at the project's code, which lives outside bench/
    runner = root / "bench" / "runner.py"
    text = runner.read_text()
    body = ("    rng = random.Random(seed)\n"
            "    sorted(rng.random() for _ in range(100_000))\n")
    assert body in text
    runner.write_text(text.replace(body, "    import solve\n\n    solve.solve()\n"))
    _solve_in(root, SLOW_STEPS)
    assert "created Makefile" in scaffolded.stdout  # the project had no make file
    target = (root / "Makefile").read_text()
    assert target.startswith("# benchstone: measure HEAD")
    (root / "Makefile").write_text("all:\n\t@true\n\n" + target)
    commit_all(root, "benchmark the solver")
    assert bench("register", str(root)).returncode == 0

    no_baseline = _make(root)  # bench run works, bench evaluate says NO_BASELINE: exit 2
    assert no_baseline.returncode != 0
    assert "verdict: NO_BASELINE" in no_baseline.stdout
    assert "] Error 2" in no_baseline.stderr, no_baseline.stderr

    assert bench("baseline", "establish", "solver", "speed").returncode == 0
    _solve_in(root, SLOW_STEPS // 10)
    commit_all(root, "ten times faster")
    promoted = _make(root)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "verdict: PROMOTE" in promoted.stdout
    assert bench("promote", "solver", "speed").returncode == 0

    _solve_in(root, SLOW_STEPS)
    commit_all(root, "slow again")
    rejected = _make(root)
    assert rejected.returncode != 0
    assert "verdict: REJECT" in rejected.stdout
    assert "] Error 1" in rejected.stderr, rejected.stderr
    assert git(root, "status", "--porcelain") == ""
