"""Where a failed repetition's output is, and a long repetition that says it is still running:
through the real CLI on the process backend."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import commit_all

SB = ("--sandbox", "process")
RUNNER = """\
#!/bin/sh
# crash: print to both streams and exit 1; slow: take a while; otherwise: a metric
mode=$(cat src/mode)
echo "runner says hello on stdout"
case $mode in
    crash) echo "ImportError: No module named 'fastpath'" >&2; exit 1 ;;
    slow) sleep 2.5 ;;
esac
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""
MANIFEST = """\
[project]
name = "logs"
invocation = "sh bench/run.sh {entry_point} {config_path} {output_path}"

[[benchmarks]]
name = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 2
baseline_seeds = [1, 2]
timeout_seconds = 60
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "bench").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "bench" / "manifest.toml").write_text(MANIFEST)
    (root / "bench" / "run.sh").write_text(RUNNER)
    (root / "src" / "mode").write_text("crash\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")
    return root


LOGS = re.compile(r"^    logs: stderr (\S+), stdout (\S+)$", re.MULTILINE)


def test_an_error_row_names_the_files_its_output_was_kept_in(bench, project: Path) -> None:
    assert bench("register", str(project)).returncode == 0
    ran = bench("run", "logs", "speed", *SB)
    assert ran.returncode == 1, ran.stderr  # every repetition failed
    lines = ran.stdout.splitlines()
    errors = [i for i, line in enumerate(lines) if " error (runner_exit): " in line]
    assert len(errors) == 2
    for index in errors:  # the line after each error row names its logs
        match = LOGS.match(lines[index + 1])
        assert match, lines[index + 1]
        stderr, stdout = Path(match.group(1)), Path(match.group(2))
        assert "ImportError: No module named 'fastpath'" in stderr.read_text()
        assert stdout.read_text() == "runner says hello on stdout\n"
        assert stderr.parent.name == "speed" and stderr.parent.parent.name == "logs"

    history = bench("history", "logs", "speed")
    assert history.returncode == 0
    shown = LOGS.pattern.replace("^    ", "^      ")
    assert len(re.findall(shown, history.stdout, re.MULTILINE)) == 2, history.stdout
    assert history.stdout.count(" error (runner_exit): runner exited with status 1") == 2

    # --json is unchanged: the paths were, and are, fields of each run
    report = json.loads(bench("run", "logs", "speed", *SB, "--json").stdout)
    assert all(Path(run["stderr_path"]).is_file() for run in report["runs"])


@pytest.mark.slow
def test_a_long_repetition_says_on_stderr_that_it_is_still_running(bench, project: Path) -> None:
    (project / "src" / "mode").write_text("slow\n")
    commit_all(project, "slow")
    assert bench("register", str(project)).returncode == 0
    ran = bench("run", "logs", "speed", *SB, "--repetitions", "1", "--json",
                env={"BENCHSTONE_PROGRESS_SECONDS": "1"})
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)  # stdout stays the JSON document alone
    seed = report["runs"][0]["seed"]
    running = re.findall(rf"^  rep=0 seed={seed} running for (\d+)s  \[1/1\]$", ran.stderr,
                         re.MULTILINE)
    assert running[:2] == ["1", "2"], ran.stderr

    quiet = bench("run", "logs", "speed", *SB, "--repetitions", "1",
                  env={"BENCHSTONE_PROGRESS_SECONDS": "0"})
    assert quiet.returncode == 0 and "running for" not in quiet.stderr + quiet.stdout
    # not a terminal and no setting: a line a minute, so none in 2.5 s
    default = bench("run", "logs", "speed", *SB, "--repetitions", "1")
    assert default.returncode == 0 and "running for" not in default.stderr
