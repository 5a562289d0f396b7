"""The ``bench`` command line: help on every command, errors without tracebacks, JSON output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import commit_all

from benchstone import cli

CLI_REFERENCE = Path(__file__).parent.parent / "docs" / "cli.md"


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app, as the words that name it (the app itself is ())."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        # duck-typed: typer's groups derive from its bundled click, not from click.Group
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(cli.app), ())
    return paths


ALL_COMMANDS = command_paths()


def test_the_verbs_of_the_design_exist() -> None:
    names = {" ".join(path) for path in ALL_COMMANDS}
    for verb in ("register", "list", "run", "baseline establish", "evaluate", "promote", "history",
                 "freeze-reference", "replace-reference", "corpus-hash"):
        assert verb in names


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "bench")
def test_every_command_has_help_with_an_example(path: tuple[str, ...], capsys) -> None:
    assert cli.main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: bench {' '.join(path)}".rstrip())
    examples = re.findall(r"^\s*Example: (bench .+)$", out, re.MULTILINE)
    assert examples, f"no 'Example: bench ...' in the help of {' '.join(path) or 'bench'}:\n{out}"
    assert examples[0].startswith(" ".join(("bench", *path)))
    help_text = out.split("Options:")[0]
    assert len(help_text.splitlines()) >= 3  # usage, blank, a sentence at least


@pytest.mark.subprocess_cli
def test_help_through_the_real_entry_point(bench) -> None:
    result = bench("--help")
    assert result.returncode == 0 and "Usage: bench" in result.stdout
    result = bench("baseline", "establish", "-h")
    assert result.returncode == 0 and "Example: bench baseline establish" in result.stdout


def test_no_arguments_prints_help(bench) -> None:
    result = bench()
    assert result.returncode == 0 and "Commands:" in result.stdout


def test_every_command_is_in_the_reference() -> None:
    headings = set(CLI_REFERENCE.read_text().splitlines())
    missing = [" ".join(path) for path in ALL_COMMANDS
               if path and f"## bench {' '.join(path)}" not in headings]
    assert not missing, f"docs/cli.md has no section for: {', '.join(missing)} (make docs)"


# Commands that only change state or only act (no record to read back): everything else reads
# something, a store row, a file or the machine, and so prints JSON with --json.
WRITE_ONLY = {("gc",), ("demo",), ("image", "build"), ("service", "run")}


@pytest.mark.parametrize("path", [p for p in ALL_COMMANDS if p], ids=lambda p: " ".join(p))
def test_every_reading_command_has_json(path: tuple[str, ...]) -> None:
    command: Any = typer.main.get_command(cli.app)
    for word in path:
        command = command.commands[word]
    if hasattr(command, "commands") or path in WRITE_ONLY:
        return
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--json" in options, f"bench {' '.join(path)} has no --json"


# ---- errors --------------------------------------------------------------------------------------


def assert_one_error_line(result, *fragments: str) -> str:
    """Exit 5; stderr starts with the one ``error:`` line; only an indented ``fix:`` may follow."""
    assert result.returncode == 5, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert all(line.startswith("  fix: ") for line in lines[1:]), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    commands = {path[0] for path in ALL_COMMANDS if path}
    for advised in re.findall(r"\bbench ([a-z][a-z-]*)", result.stderr):
        assert advised in commands, f"the advice names 'bench {advised}', which does not exist"
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ("evaluate", "ghost", "speed"),
    ("history", "ghost", "speed"),
    ("run", "ghost", "speed"),
    ("baseline", "establish", "ghost", "speed"),
])
@pytest.mark.subprocess_cli
def test_unregistered_project(bench, args: tuple[str, ...]) -> None:
    result = bench(*args)
    assert_one_error_line(result, "project 'ghost' is not registered")
    assert "fix: register it first: bench register PATH" in result.stderr


@pytest.fixture
def registered(bench, make_project) -> Path:
    root = make_project("toy")
    result = bench("register", str(root))
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.subprocess_cli
def test_a_verdict_is_the_exit_status_of_the_process(bench, registered: Path) -> None:
    result = bench("evaluate", "toy", "speed")
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("verdict: NO_BASELINE")


def test_the_bench_console_script_is_the_command_line() -> None:
    script = Path(sys.executable).with_name("bench")
    if not script.is_file():
        pytest.skip("no bench console script beside this interpreter (the package is not installed)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: bench") and "Example: bench " in result.stdout


def test_unknown_benchmark_lists_the_known_ones(bench, registered: Path) -> None:
    for verb in ("evaluate", "run"):
        assert_one_error_line(bench(verb, "toy", "nope"),
                              "project 'toy' has no benchmark 'nope' (it has: speed, quality, output)")


def test_unsafe_project_name_argument(bench) -> None:
    assert_one_error_line(bench("evaluate", "../etc", "speed"), "is not a safe name")


def test_register_a_directory_that_is_not_a_repository(bench, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    (loose / "bench").mkdir(parents=True)
    assert_one_error_line(bench("register", str(loose)), "is not inside a git repository")
    assert_one_error_line(bench("register", str(tmp_path / "absent")), "is not a directory")


def test_a_moved_project_says_how_to_register_it_again(bench, registered: Path) -> None:
    registered.rename(registered.with_name("toy-moved"))
    for args in (("run", "toy", "speed", "--sandbox", "process"), ("evaluate", "toy", "speed")):
        result = bench(*args)
        assert_one_error_line(result, f"{registered} is not a directory")
        assert "fix: " in result.stderr and "bench register" in result.stderr


def test_register_without_a_manifest(bench, make_project) -> None:
    root = make_project("toy")
    (root / "bench" / "manifest.toml").unlink()
    commit_all(root, "no manifest")
    assert_one_error_line(bench("register", str(root)), "has no bench/manifest.toml")


def test_register_an_invalid_manifest(bench, make_project) -> None:
    root = make_project("toy")
    path = root / "bench" / "manifest.toml"
    path.write_text(path.read_text().replace('tier = "quality"', 'tier = "perf"'))
    commit_all(root, "typo")
    line = assert_one_error_line(bench("register", str(root)))
    assert line == ("error: bench/manifest.toml: benchmarks[1].tier must be one of correctness, "
                    "performance, quality (got 'perf')")


def test_register_warnings_go_to_stderr(bench, make_project) -> None:
    root = make_project("toy")
    path = root / "bench" / "manifest.toml"
    path.write_text("surprise = 1\n" + path.read_text())
    commit_all(root, "unknown key")
    result = bench("register", str(root), "--json")
    assert result.returncode == 0
    assert "warning: bench/manifest.toml: surprise is not a known key (ignored)" in result.stderr
    assert json.loads(result.stdout)["warnings"] == [
        "bench/manifest.toml: surprise is not a known key (ignored)"]


@pytest.mark.subprocess_cli
def test_usage_error_exits_64(bench) -> None:
    result = bench("evaluate", "toy")
    assert result.returncode == 64 and "Missing argument" in result.stderr
    assert bench("frobnicate").returncode == 64


# ---- JSON output and the seed's exit codes, end to end ---------------------------------------------


def run_json(bench, *args: str, code: int = 0):
    result = bench(*args, "--json")
    assert result.returncode == code, (args, result.returncode, result.stderr)
    return json.loads(result.stdout)


@pytest.mark.slow
def test_json_outputs_and_evaluate_exit_codes(bench, registered: Path) -> None:
    listed = run_json(bench, "list")
    assert [p["name"] for p in listed] == ["toy"]
    assert [b["name"] for b in listed[0]["benchmarks"]] == ["speed", "quality", "output"]
    assert run_json(bench, "corpus", "list") == []

    no_baseline = run_json(bench, "evaluate", "toy", "speed", code=2)
    assert no_baseline["kind"] == "NO_BASELINE"

    baseline = run_json(bench, "baseline", "establish", "toy", "speed", "--sandbox", "process")
    assert baseline["pointer"]["action"] == "establish"
    # as many runs as baseline_seeds lists, on seeds drawn as a candidate's are
    assert len(baseline["report"]["runs"]) == 5
    assert baseline["report"]["run_set"]["meta_seed"] == baseline["pointer"]["meta_seed"]

    unchanged = run_json(bench, "run", "toy", "speed", "--sandbox", "process")
    assert len(unchanged["runs"]) == 5 and all(r["status"] == "ok" for r in unchanged["runs"])
    verdict = bench("evaluate", "toy", "speed", "--json")
    assert verdict.returncode in (1, 2)
    assert json.loads(verdict.stdout)["kind"] in ("REJECT", "NEEDS_MORE_DATA")

    (registered / "src" / "speed.txt").write_text("0.5\n")  # twice as fast
    commit_all(registered, "faster")
    faster = run_json(bench, "run", "toy", "speed", "--sandbox", "process")
    promoted = run_json(bench, "evaluate", "toy", "speed", code=0)
    assert promoted["kind"] == "PROMOTE" and promoted["sigma"] > 2.0
    assert promoted["baseline_mean"] > promoted["candidate_mean"]
    mismatch = bench("evaluate", "toy", "speed", "--expect", "REJECT")
    assert mismatch.returncode == 4 and "expected REJECT, got PROMOTE" in mismatch.stderr

    pointer = run_json(bench, "promote", "toy", "speed")["pointer"]
    assert (pointer["action"], pointer["meta_seed"]) == ("promote",
                                                         faster["run_set"]["meta_seed"])

    timeline = run_json(bench, "history", "toy", "speed", "--limit", "2")
    assert len(timeline["entries"]) == 2
    assert timeline["current_baseline"]["id"] == pointer["id"]
    assert timeline["entries"][0]["run_set"]["meta_seed"] == faster["run_set"]["meta_seed"]
    assert run_json(bench, "references", "toy", "output") == []


@pytest.mark.parametrize(("args", "both", "code"), [
    (("speed", "--json"), False, 2), (("speed", "--explain"), False, 2),
    (("nosuch",), True, 5), (("speed", "--bogus"), True, 64)])
def test_a_reader_that_leaves_does_not_change_the_exit_code(
        bench, make_project, args: tuple[str, ...], both: bool, code: int) -> None:
    """``bench evaluate P B | head -c 10`` (and ``2>&1 | head``): the write to a pipe nobody
    reads fails, and the command still exits with its own code (2 for NO_BASELINE, 5 for an
    error, 64 for a usage error), not 1, which reads as REJECT."""
    assert bench("register", str(make_project("toy"))).returncode == 0
    read, write = os.pipe()
    os.close(read)  # the reader has left before the first line
    try:
        done = subprocess.run([sys.executable, "-m", "benchstone", "evaluate", "toy", *args],
                              stdout=write, stderr=write if both else subprocess.PIPE,
                              text=True, timeout=120, check=False)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr or "") == (code, "")


def test_a_closed_standard_output_does_not_change_the_exit_code(bench, make_project) -> None:
    assert bench("register", str(make_project("toy"))).returncode == 0
    done = subprocess.run(["sh", "-c", 'exec "$0" -m benchstone evaluate toy speed >&-',
                           sys.executable], capture_output=True, text=True, timeout=120,
                          check=False)
    assert (done.returncode, done.stderr) == (2, "")
