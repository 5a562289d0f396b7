"""Coefficient of variation of each metric source for a CPU-bound benchmark, 20 repetitions in
the docker sandbox, measured in one run:

- runner:       the runner's own perf_counter() around its work (what the original gates on),
- harness_wall: the container's run time from the engine (StartedAt to FinishedAt),
- harness_cpu:  the container's CPU time from its cgroup,
- harness_instructions: the instructions Valgrind counts in the whole process tree (a run set
  of its own, fewer repetitions: each is several times slower).

The harness sources include interpreter start-up, so their means are higher; what matters for a
gate is the spread. Target: the instruction count's CV at most 0.1 %; the other figures tell a
user which source to choose.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPETITIONS = 20
COUNTED_REPETITIONS = 8
INSTRUCTIONS_CV_TARGET = 0.001
COUNTED = """
[[benchmarks]]
name = "counted"
entry_point = "probe"
tier = "performance"
metric_direction = "minimize"
timeout_seconds = 600
repetitions = 2
baseline_seeds = [1, 2]
metric_source = "harness_instructions"
"""
RUNNER = """import json, sys, time
config, output = sys.argv[1], sys.argv[2]
started = time.perf_counter()
total = 0
for i in range(3_000_000):
    total += i * i
elapsed = time.perf_counter() - started
open(output, "w").write(json.dumps({"status": "ok", "metric": elapsed}))
"""


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="benchstone-perf-sources-"))
    try:
        project = workdir / "cpu"
        shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "shellproj", project)
        (project / "bench" / "work.py").write_text(RUNNER)
        (project / "bench" / "run.sh").write_text('exec python3 bench/work.py "$2" "$3"\n')
        manifest = project / "bench" / "manifest.toml"
        manifest.write_text(manifest.read_text() + COUNTED)
        environment = {**os.environ, "BENCHSTONE_HOME": str(workdir / "home"),
                       "GIT_AUTHOR_NAME": "perf", "GIT_AUTHOR_EMAIL": "perf@example.invalid",
                       "GIT_COMMITTER_NAME": "perf", "GIT_COMMITTER_EMAIL": "perf@example.invalid"}
        for command in (["git", "init", "-q"], ["git", "add", "-A"],
                        ["git", "commit", "-qm", "cpu-bound"]):
            subprocess.run(command, cwd=project, check=True, env=environment)
        bench = [sys.executable, "-m", "benchstone"]
        subprocess.run([*bench, "register", str(project)], check=True, env=environment,
                       capture_output=True)
        subprocess.run([*bench, "run", "shellproj", "probe", "-n", str(REPETITIONS)], check=True,
                       env=environment, capture_output=True)
        history = subprocess.run([*bench, "history", "shellproj", "probe", "--json"], check=True,
                                 env=environment, capture_output=True, text=True)
        runs = json.loads(history.stdout)["entries"][0]["runs"]
        started = time.monotonic()
        subprocess.run([*bench, "run", "shellproj", "counted", "-n", str(COUNTED_REPETITIONS)],
                       check=False, env=environment, capture_output=True)
        counted_seconds = time.monotonic() - started
        history = subprocess.run([*bench, "history", "shellproj", "counted", "--json"],
                                 check=True, env=environment, capture_output=True, text=True)
        counted = json.loads(history.stdout)["entries"][0]["runs"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    columns = {"runner": "metric", "harness_wall": "harness_wall_seconds",
               "harness_cpu": "harness_cpu_seconds"}
    print(f"CPU-bound fixture, {REPETITIONS} repetitions, docker sandbox, one core pinned")
    print(f"  {'metric_source':<14} {'mean':>9} {'stdev':>9} {'CV':>7}")
    for source, column in columns.items():
        values = [run[column] for run in runs if run.get(column) is not None]
        if len(values) < 2:
            print(f"  {source:<14} not measured on this host")
            continue
        mean, stdev = statistics.fmean(values), statistics.stdev(values)
        print(f"  {source:<14} {mean:8.4f}s {stdev:8.4f}s {stdev / mean:6.2%}")
    values = [run["harness_instructions"] for run in counted
              if run.get("status") == "ok" and run.get("harness_instructions") is not None]
    if len(values) < 2:
        problems = {run.get("message") for run in counted if run.get("status") != "ok"}
        print(f"  harness_instructions not measured: {'; '.join(map(str, problems)) or 'no runs'}")
        return 1
    mean, stdev = statistics.fmean(values), statistics.stdev(values)
    cv = stdev / mean
    print(f"  harness_instructions {mean:,.0f} instructions, stdev {stdev:,.0f}, "
          f"CV {cv * 100:.7f}% over {len(values)} repetitions "
          f"(target <= {INSTRUCTIONS_CV_TARGET:.1%})")
    wall = statistics.fmean(run["harness_wall_seconds"] for run in counted)
    plain = statistics.fmean(run["harness_wall_seconds"] for run in runs)
    print(f"  under Valgrind a repetition took {wall:.1f}s against {plain:.2f}s without "
          f"({wall / plain:.0f}x; {counted_seconds:.0f}s for the run set)")
    return 0 if cv <= INSTRUCTIONS_CV_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
