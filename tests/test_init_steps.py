"""``bench init``'s next steps, followed as printed: every command it prints is run through a
shell, as a user would paste it, on a fresh git repository (process sandbox). Adding a second
benchmark says that the first one's runs turn TAMPERED, and its printed steps clear that."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git

STEP = re.compile(r"^  (\d+)\. (.*)$")
BODY = "       "
# The solver's loop: about 0.1 s of CPU, several times the runner's own start, so that the
# version ten times faster is a clear gain on CPU seconds, however loaded the machine.
SLOW_STEPS = 1_000_000


def steps_of(output: str) -> list[tuple[str, list[str]]]:
    """The numbered steps after ``next``: each step's text (wrapped lines joined) and the lines
    indented under it (commands, or lines to add to a make file)."""
    steps: list[tuple[str, list[str]]] = []
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("next"))
    for line in lines[start + 1:]:
        if match := STEP.match(line):
            steps.append((match.group(2), []))
        elif line.startswith(BODY):
            steps[-1][1].append(line[len(BODY):])
        elif line.startswith("     "):  # the step's text, wrapped
            steps[-1] = (steps[-1][0] + " " + line.strip(), steps[-1][1])
        else:
            raise AssertionError(f"unexpected line in the next steps: {line!r}")
    assert [int(STEP.match(line).group(1)) for line in lines if STEP.match(line)] == list(
        range(1, len(steps) + 1))
    return steps


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``bench`` is this package's CLI, on the process sandbox."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "bench"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m benchstone "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "BENCHSTONE_SANDBOX": "process"}


def sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _fresh_repository(root: Path, makefile: str | None) -> None:
    root.mkdir()
    (root / "README").write_text("an existing project\n")
    if makefile is not None:
        (root / "Makefile").write_text(makefile)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")


def _point_workload_at(root: Path, steps: int) -> None:
    """A solver that computes: the template gates on CPU seconds, which a sleep does not use."""
    (root / "solve.py").write_text(
        f"def solve():\n    total = 0\n    for i in range({steps}):\n        total += i * i\n"
        "    return total\n")


def follow(steps: list[tuple[str, list[str]]], root: Path, cwd: Path,
           env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Do each step: the manual ones as a user would, every printed command as printed."""
    done = []
    for text, body in steps:
        if text.startswith("put the code you want measured into workload()"):
            runner = root / "bench" / "runner.py"
            source = runner.read_text()
            body_of_workload = ("    rng = random.Random(seed)\n"
                                "    sorted(rng.random() for _ in range(100_000))\n")
            assert body_of_workload in source
            runner.write_text(source.replace(body_of_workload, "    import solve\n\n"
                                             "    solve.solve()\n", 1))
            _point_workload_at(root, SLOW_STEPS)
            continue
        if text.startswith("add this target to "):
            makefile = root / text.removeprefix("add this target to ").split(";")[0]
            makefile.write_text(makefile.read_text() + "\n" + "\n".join(body) + "\n")
            continue
        if text.startswith("change your code and commit it"):
            _point_workload_at(root, SLOW_STEPS // 10)  # ten times faster
            commit_all(root, "solve it ten times faster")
        assert body, f"a step with nothing to run: {text}"
        for command in body:
            result = sh(command, cwd, env)
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            done.append(result)
    return done


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["here", "elsewhere-with-a-makefile"])
def test_the_printed_next_steps_work_as_written(tmp_path: Path, shell_env: dict[str, str],
                                                layout: str) -> None:
    if layout == "here":  # `bench init` in the project's directory, which has no make file
        root = tmp_path / "solver"
        _fresh_repository(root, None)
        cwd, init = root, "bench init"
    else:  # `bench init "my project"` from its parent; the project has a Makefile of its own
        root = tmp_path / "my project"
        _fresh_repository(root, "all:\n\t@true\n")
        cwd, init = tmp_path, "bench init 'my project'"
    scaffolded = sh(init, cwd, shell_env)
    assert scaffolded.returncode == 0, scaffolded.stderr
    assert ("created Makefile" in scaffolded.stdout) == (layout == "here")
    steps = steps_of(scaffolded.stdout)
    commands = [command for _text, body in steps for command in body]
    assert any(command.startswith("bench register ") for command in commands)
    assert commands[-1].endswith("bench") and "make" in commands[-1]

    done = follow(steps, root, cwd, shell_env)
    gated = done[-1]  # make bench: bench run --until-decided, then bench evaluate
    assert "verdict: PROMOTE" in gated.stdout, gated.stdout + gated.stderr
    assert git(root, "status", "--porcelain") == ""  # nothing was left uncommitted
    assert git(root, "ls-files", "Makefile") == "Makefile"


@pytest.mark.slow
def test_outside_a_repository_the_commit_step_begins_with_git_init(
        tmp_path: Path, shell_env: dict[str, str]) -> None:
    root = tmp_path / "loose"
    root.mkdir()
    scaffolded = sh("bench init", root, shell_env)
    assert scaffolded.returncode == 0, scaffolded.stderr
    steps = steps_of(scaffolded.stdout)
    assert steps[1][0].startswith("make the directory a git repository and commit them")
    assert steps[1][1] == ["git init . && git add -A && git commit -m 'Add a benchstone benchmark'"]
    follow(steps[:3], root, root, shell_env)  # the code, the commit, bench register
    assert git(root, "status", "--porcelain") == ""
    again = tmp_path / "again"  # the step of a directory that is a repository already
    again.mkdir()
    git(again, "init", "-q")
    assert steps_of(sh("bench init", again, shell_env).stdout)[1][1] == [
        "git add -A && git commit -m 'Add a benchstone benchmark'"]


@pytest.mark.slow
def test_adding_a_benchmark_says_the_first_turns_tampered_and_how_to_fix_it(
        tmp_path: Path, shell_env: dict[str, str]) -> None:
    root = tmp_path / "solver"
    _fresh_repository(root, None)
    follow(steps_of(sh("bench init", root, shell_env).stdout)[:-1], root, root, shell_env)

    added = sh("bench init --benchmark second", root, shell_env)
    assert added.returncode == 0, added.stderr
    text = " ".join(added.stdout.split())
    assert "added benchmark second to bench/manifest.toml" in text
    assert "added entry point second to bench/runner.py" in text
    assert ("note: this changed bench/manifest.toml, which the benchmark speed protects "
            "(protected_paths): until the new manifest is registered and its baseline is "
            "established again (steps 3 and 4 below), its runs are TAMPERED") in text
    steps = steps_of(added.stdout)
    assert [body for _text, body in steps[2:4]] == [
        ["bench register ."],
        ["bench baseline establish solver speed", "bench baseline establish solver second"]]

    # what happens without steps 4: the first benchmark's runs are TAMPERED, and the verdict
    # names the fix
    for command in steps[1][1] + steps[2][1]:
        assert sh(command, root, shell_env).returncode == 0, command
    # under the scaffold's paired design no pair runs: bench run says so, and exits as evaluate
    ran = sh("bench run solver speed", root, shell_env)
    assert ran.returncode == 1 and ran.stdout.startswith("verdict: TAMPERED"), ran.stdout
    evaluated = sh("bench evaluate solver speed --json", root, shell_env)
    verdict = json.loads(evaluated.stdout)
    assert (evaluated.returncode, verdict["kind"]) == (1, "TAMPERED")
    assert verdict["reason"] == (
        "protected files changed since the baseline: bench/manifest.toml, bench/runner.py (the "
        "manifest among them: a benchmark added by bench init, or a setting changed). If the "
        f"change is intended, pin it (bench register {root}), then measure a new baseline (bench "
        "baseline establish solver speed)")

    for command in steps[3][1]:  # the new baselines
        assert sh(command, root, shell_env).returncode == 0, command
    for name in ("speed", "second"):
        ran = sh(f"bench run solver {name}", root, shell_env)
        assert ran.returncode == 0 and " error " not in ran.stdout, ran.stdout + ran.stderr
        verdict = json.loads(sh(f"bench evaluate solver {name} --json", root, shell_env).stdout)
        assert verdict["kind"] != "TAMPERED", verdict["reason"]


def test_adding_a_benchmark_that_exists_refuses_and_writes_nothing(bench, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    assert bench("init", str(root), "--language", "shell").returncode == 0
    before = {path.name: path.read_text() for path in (root / "bench").iterdir()}
    again = bench("init", str(root))
    assert again.returncode == 5
    assert "benchmark 'speed' is in the manifest already" in again.stderr
    assert "fix: pass --benchmark NAME to add another benchmark" in again.stderr
    assert {path.name: path.read_text() for path in (root / "bench").iterdir()} == before
    added = json.loads(bench("init", str(root), "--benchmark", "other", "--json").stdout)
    assert added["added_to_existing"] is True and added["language"] == "shell"
    assert added["other_benchmarks"] == ["speed"]
    assert "    other) ;;\n" in (root / "bench" / "run.sh").read_text()


@pytest.mark.slow
def test_a_manifest_only_change_is_tampered_with_the_fix_named(bench, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text() + "\n[[benchmarks]]\nname = \"later\"\n"
                        "entry_point = \"speed\"\ntier = \"performance\"\n"
                        "metric_direction = \"minimize\"\nbaseline_seeds = [1, 2]\n")
    commit_all(root, "another benchmark")
    refused = bench("run", "toy", "speed", "--sandbox", "process")
    assert refused.returncode == 5 and f"bench register {root}" in refused.stderr
    assert bench("register", str(root)).returncode == 0
    assert bench("run", "toy", "speed", "--sandbox", "process").returncode == 0
    shown = bench("evaluate", "toy", "speed")
    assert shown.returncode == 1
    assert shown.stdout.startswith(
        "verdict: TAMPERED  protected files changed since the baseline: bench/manifest.toml "
        "(only the manifest: a benchmark added by bench init, or a setting changed). If the "
        f"change is intended, pin it (bench register {root}), then measure a new baseline "
        "(bench baseline establish toy speed)\n"), shown.stdout
    # the fix it names works
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    assert bench("run", "toy", "speed", "--sandbox", "process").returncode == 0
    assert json.loads(bench("evaluate", "toy", "speed", "--json").stdout)["kind"] != "TAMPERED"
