"""metric_source = "harness_instructions": the count is Valgrind's, of the whole process tree,
the same on every run, and out of the runner's reach."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from benchstone.sandbox.instructions import parse_count
from tests.conftest import BenchCLI, commit_all

# ---- reading Valgrind's logs (no engine) ----------------------------------------------------


def _log(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


MAIN = ("1\t==10== Command: /bin/sh -c work", "1\t==10== I   refs:      1,000")
CHILD = ("2\t==11== Command: python3 -c loop", "2\t==11== I   refs:      250,000", "2\tEOF")


def test_the_count_is_the_sum_over_every_process() -> None:
    count = parse_count(_log(*MAIN, *CHILD, "1\tEOF"))
    assert (count.total, count.processes, count.problem) == (251_000, 2, None)


def test_a_forked_child_reports_on_its_parents_connection() -> None:
    count = parse_count(_log(*MAIN, "1\t==12== I   refs:      5", "1\tEOF"))
    assert count.total == 1_005


def test_injected_lines_can_only_add() -> None:
    injected = ("2\t==10== I   refs:      7", "2\t==10== I   refs:      -900", "1\tI refs: 0")
    count = parse_count(_log(*MAIN, *CHILD, *injected))
    assert count.total == 251_007


def test_a_connection_that_never_names_its_program_makes_the_count_unknown() -> None:
    """A Valgrind told to be quiet (-q in VALGRIND_OPTS or a .valgrindrc) sends neither its
    Command: line nor its count; lines the code sends the collector itself name no program
    either: what those processes ran would go uncounted."""
    for silent in (("3\tEOF",), ("3\t==12== I   refs:      7", "3\tEOF")):
        count = parse_count(_log(*MAIN, *CHILD, *silent, "1\tEOF"))
        assert count.total is None
        assert count.problem.startswith("1 connection(s) to the collector never named")


def test_a_total_no_counter_holds_is_unknown_not_a_crash() -> None:
    forged = ("2\t==11== I   refs:      99,999,999,999,999,999,999,999",)
    count = parse_count(_log(*MAIN, CHILD[0], *forged))
    assert count.total is None and "more than any process runs" in count.problem


def test_a_process_that_never_reported_makes_the_count_unknown() -> None:
    count = parse_count(_log(*MAIN, "2\t==11== Command: python3 -c loop", "2\tEOF"))
    assert count.total is None
    assert "process 11 (python3 -c loop) ended before Valgrind could count it" in count.problem


def test_only_the_invocations_shell_may_exec_its_command() -> None:
    shell = ("1\t==10== Command: /usr/bin/sh -c python3 x", "2\t==10== Command: /usr/bin/python3 x",
             "2\t==10== I   refs:      900")
    assert parse_count(_log(*shell)).total == 900
    python = ("1\t==10== Command: /usr/bin/python3 work.py", "2\t==10== Command: /bin/true",
              "2\t==10== I   refs:      9")
    count = parse_count(_log(*python))
    assert count.total is None and "replaced itself (exec)" in count.problem
    # a shell further down may have run the work itself (a loop, a preloaded library) before
    # its exec: that would go uncounted
    script = (*MAIN, "2\t==11== Command: /bin/sh src/work.sh 20000",
              "3\t==11== Command: /bin/true", "3\t==11== I   refs:      9")
    count = parse_count(_log(*script))
    assert count.total is None and "process 11 (/bin/sh src/work.sh 20000) replaced itself" \
        in count.problem


def test_no_count_from_the_invocation_itself_is_unknown() -> None:
    assert parse_count(_log(*CHILD)).total is None
    assert parse_count("").total is None


def test_an_overflowing_log_is_unknown() -> None:
    count = parse_count(_log(*MAIN, "*\tOVERFLOW"))
    assert count.total is None and "more log" in count.problem


# ---- through the real CLI and engine ----------------------------------------------------------

WORK = "python3 -c 'import sys\nt = 0\nfor i in range(int(sys.argv[1])): t += i * i' 200000"
RUNNERS = {
    # the work in a child of the runner's shell; an honest result
    "honest": f"""
        {WORK}
        printf '{{"status": "ok", "metric": 2.5}}\\n' > "$3"
        """,
    # the same work; it claims a tiny metric and tries to write a count of its own where the
    # collector writes (and where it keeps its marks)
    "liar": f"""
        {WORK}
        forged=no
        if echo '1\t==1== I   refs:      1' >> /benchstone/instr/valgrind.log 2>/dev/null; then
            forged=yes; fi
        if (: > /tmp/.benchstone-instructions/idle) 2>/dev/null; then forged=yes; fi
        printf '{{"status": "ok", "metric": 0.000001, "metadata": {{"forged": "%s"}}}}\\n' \\
            "$forged" > "$3"
        """,
    # the same work two processes further down the tree
    "grandchild": """
        sh -c 'sh bench/work.sh'
        printf '{"status": "ok", "metric": 2.5}\\n' > "$3"
        """,
    # the work timed by the runner itself: a benchmark gated on the runner's metric
    "timed": """
        python3 -c 'import json, sys, time
        started = time.perf_counter()
        t = 0
        for i in range(200000): t += i * i
        seconds = time.perf_counter() - started
        open(sys.argv[1], "w").write(json.dumps({"status": "ok", "metric": seconds}))' "$3"
        """,
    # no work
    "idle": """
        python3 -c 'pass'
        printf '{"status": "ok", "metric": 2.5}\\n' > "$3"
        """,
    # a child killed from outside (by its parent) before Valgrind can report its count; a
    # process that kills itself is let go by Valgrind, which reports its count first
    "killed": """
        python3 -c 'import time; open("/tmp/started", "w").close(); time.sleep(120)' &
        child=$!
        while [ ! -e /tmp/started ]; do sleep 0.1; done
        kill -9 "$child"
        wait "$child"
        printf '{"status": "ok", "metric": 2.5}\\n' > "$3"
        """,
    # the work in a child whose Valgrind is told to be quiet: it would send no count
    "quiet": f"""
        VALGRIND_OPTS=-q {WORK}
        printf '{{"status": "ok", "metric": 2.5}}\\n' > "$3"
        """,
    # the work in a child that Valgrind is told not to trace: the harness's own skip wins
    "skips": """
        VALGRIND_OPTS='--trace-children-skip=*python3*' sh bench/work.sh
        printf '{"status": "ok", "metric": 2.5}\\n' > "$3"
        """,
    # the work in a shell of the benchmark's, which then replaces itself (exec)
    "shell_execs": """
        sh -c 'i=0; while [ "$i" -lt 20000 ]; do i=$((i + 1)); done; exec true'
        printf '{"status": "ok", "metric": 2.5}\\n' > "$3"
        """,
    # the work, a result of its own, then exec: what ran before the exec would go uncounted
    "execs": """
        python3 -c 'import os, sys
        t = 0
        for i in range(200000): t += i * i
        open(sys.argv[1], "w").write("{\\"status\\": \\"ok\\", \\"metric\\": 1}")
        os.execv("/bin/true", ["true"])' "$3"
        """,
}


@pytest.fixture
def instructions_project(make_project: Callable[..., Path]) -> Path:
    root = make_project("shellproj")
    benches = "".join(textwrap.dedent(f"""
        [[benchmarks]]
        name = "{name}"
        entry_point = "{name}"
        tier = "performance"
        metric_direction = "minimize"
        timeout_seconds = 300
        repetitions = 2
        baseline_seeds = [1, 2]
        metric_source = "{'runner' if name == 'timed' else 'harness_instructions'}"
        """) for name in RUNNERS)
    (root / "bench" / "manifest.toml").write_text(textwrap.dedent("""\
        [project]
        name = "instr"
        language = "shell"
        invocation = "sh bench/run.sh {entry_point} {config_path} {output_path}"
        """) + benches)
    cases = "".join(f"{name})\n{textwrap.dedent(body)}\n;;\n" for name, body in RUNNERS.items())
    (root / "bench" / "run.sh").write_text(f'set -u\ncase "$1" in\n{cases}esac\n')
    (root / "bench" / "work.sh").write_text(WORK + "\n")
    commit_all(root, "instruction benchmarks")
    return root


def _runs(bench: BenchCLI, name: str) -> list[dict]:
    result = bench("run", "instr", name, "-n", "2", "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["runs"]


@pytest.mark.docker
def test_the_count_is_deterministic_whole_tree_and_out_of_the_runners_reach(
        bench: BenchCLI, instructions_project: Path, docker_client: object) -> None:
    assert bench("register", str(instructions_project)).returncode == 0
    counts = {}
    for name in ("honest", "liar", "grandchild", "skips", "idle"):
        runs = _runs(bench, name)
        assert [run["status"] for run in runs] == ["ok", "ok"], runs
        first, second = (run["harness_instructions"] for run in runs)
        assert abs(first - second) <= 1e-4 * first, (name, first, second)
        counts[name] = first
        if name == "liar":
            assert {run["metadata"]["forged"] for run in runs} == {"no"}
            assert {run["metric"] for run in runs} == {0.000001}
    # the work is 200,000 Python iterations (over 100 million instructions) in a child
    assert counts["honest"] - counts["idle"] > 100_000_000
    # the liar did the same work: its claim changes nothing; its failed writes add a little
    # (one runs in a forked subshell, which carries the shell's count so far)
    assert counts["honest"] < counts["liar"] < 1.01 * counts["honest"]
    # two processes further down the tree, the work is still counted (two more shells)
    assert abs(counts["grandchild"] - counts["honest"]) < 0.02 * counts["honest"]
    assert counts["grandchild"] > counts["honest"]
    # a child the code asks Valgrind to skip is counted all the same
    assert abs(counts["skips"] - counts["grandchild"]) < 0.02 * counts["honest"]


@pytest.mark.docker
@pytest.mark.parametrize(("name", "reason"), [
    ("killed", "ended before Valgrind could count it"),
    ("execs", "replaced itself (exec) before Valgrind could count it"),
    ("quiet", "connection(s) to the collector never named the program they count"),
    ("shell_execs", "replaced itself (exec) before Valgrind could count it"),
])
def test_a_process_that_escapes_its_count_makes_an_error_row(
        bench: BenchCLI, instructions_project: Path, docker_client: object, name: str,
        reason: str) -> None:
    assert bench("register", str(instructions_project)).returncode == 0
    result = bench("run", "instr", name, "-n", "1", "--json", timeout=900)
    runs = json.loads(result.stdout)["runs"]
    assert [(run["status"], run["failure"]) for run in runs] == [("error", "instruction_count")]
    assert reason in runs[0]["message"]


@pytest.mark.docker
def test_calibrate_measures_every_source_and_the_count_does_not_move(
        bench: BenchCLI, instructions_project: Path, docker_client: object) -> None:
    assert bench("register", str(instructions_project)).returncode == 0
    result = bench("calibrate", "instr", "timed", "-n", "3", "--instruction-repetitions", "2",
                   "--json", timeout=1800)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    sources = {source["source"]: source for source in report["sources"]}
    for name in ("runner", "harness_wall", "harness_cpu"):
        assert sources[name]["n"] == 3 and sources[name]["cv"] is not None, sources[name]
    counted = sources["harness_instructions"]
    assert counted["n"] == 2 and counted["cv"] <= 1e-4, counted
    assert counted["mean"] > 100_000_000
    assert 'metric_source = "harness_instructions"' in report["recommendation"][0]
    assert len(report["run_set_ids"]) == 2 and len(report["needs"]) == 2
    # on record as kind calibrate, never a candidate: the gate has nothing to judge
    verdict = json.loads(bench("evaluate", "instr", "timed", "--json").stdout)
    assert verdict["kind"] in ("NO_BASELINE", "NEEDS_MORE_DATA")


def test_bench_run_prints_the_gated_value_of_a_harness_source() -> None:
    from benchstone.report.render import run_line
    from benchstone.store.records import Run

    run = Run(id=1, run_set_id=1, project="p", benchmark="b", git_sha="a" * 40, git_dirty=False,
              seed=1, repetition=0, status="ok", metric=0.5, harness_wall_seconds=2.0,
              harness_instructions=123_456, sandbox="docker", host="h", started_at="s",
              finished_at="f")
    assert "gated=123456 (harness_instructions)" in run_line(run, "harness_instructions")
    assert "gated" not in run_line(run)


def test_the_process_sandbox_refuses_to_count_instructions(
        bench: BenchCLI, instructions_project: Path) -> None:
    assert bench("register", str(instructions_project)).returncode == 0
    result = bench("run", "instr", "honest", "-n", "1", "--sandbox", "process")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert 'harness_instructions" needs the docker sandbox' in result.stderr
    assert "--sandbox docker" in result.stderr
