"""Duet pairs against alternating pairs, for real: the spread of the pair ratio
(candidate / baseline, per pair) of one unchanged CPU-bound program, in the docker sandbox on
this machine, both designs measured in the same run.

The candidate commit holds the same program as the baseline commit (only a note differs), so
every pair ratio's true value is 1 and its spread is pure measurement noise: what the paired
gate has to see through. The designs take turns in rounds (alternating pairs, then duet pairs,
the order flipping every round) so both meet the same moods of the machine:

- alternating: `bench compare`: the two halves one after the other, in random order, each
  pinned to the same core(s) of the comparison's lease;
- duet: `bench compare --duet`: the two halves at once, on two disjoint core sets of one lease,
  the sets swapped within every two pairs (Bulej et al. 2020).

Printed per design and metric source (the runner's CPU time of the loop, the harness's wall
clock): the number of complete pairs, the coefficient of variation of the pair ratio with its
standard error (CV / sqrt(2 (n - 1)), for roughly normal ratios), the mean ratio, and the
mean value of a half (a duet's halves share a machine, which may slow both). There is no target:
which design wins depends on what else this machine runs; the figures say what it was here.

Run: python tests/perf/perf_duet.py [--pairs-per-round 5 --rounds 4]   (a few minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchstone import api
from benchstone.evaluate.compare import CompareResult

WORK = 4_000_000

MANIFEST = """
[project]
name = "cpuload"
language = "python"
invocation = "python3 bench/runner.py --config={config_path} --output={output_path}"

[[benchmarks]]
name = "loop"
tier = "performance"
metric_direction = "minimize"
expected_runtime_seconds = 1
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5]
max_repetitions = 100
"""

RUNNER = '''"""A CPU-bound benchmark: the CPU time of a pure-Python loop."""
import argparse
import json
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--output")
args = parser.parse_args()
work = int(Path("src/work.txt").read_text())
started = time.process_time()
total = 0
for i in range(work):
    total = (total + i * i) % 1000003
elapsed = time.process_time() - started
Path(args.output).write_text(json.dumps({"status": "ok", "metric": elapsed,
                                         "metadata": {"total": total}}))
'''

SOURCES = {"runner CPU time": lambda run: run.metric,
           "harness wall": lambda run: run.harness_wall_seconds}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def make_fixture(root: Path) -> str:
    """The repository with two commits of the same program; returns the first one's SHA."""
    (root / "bench").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "bench" / "manifest.toml").write_text(MANIFEST)
    (root / "bench" / "runner.py").write_text(RUNNER)
    (root / "src" / "work.txt").write_text(f"{WORK}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    baseline = git(root, "rev-parse", "HEAD")
    (root / "NOTES").write_text("the same program\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "candidate: the same program")
    return baseline


def pair_values(result: CompareResult, source: str) -> list[tuple[float, float]]:
    """(baseline, candidate) of each pair of this comparison whose halves are both ok."""
    assert result.baseline is not None and result.candidate is not None
    value = SOURCES[source]
    halves = [{run.repetition: value(run) for run in report.runs if run.status == "ok"}
              for report in (result.baseline, result.candidate)]
    return [(halves[0][i], halves[1][i]) for i in sorted(halves[0]) if i in halves[1]]


def start_skews(result: CompareResult) -> list[float]:
    """Seconds between the starts of the two halves of each pair (as the sandbox recorded
    them): how close to "at the same time" a duet got."""
    assert result.baseline is not None and result.candidate is not None
    starts = [{run.repetition: dt.datetime.fromisoformat(run.started_at.replace("Z", "+00:00"))
               for run in report.runs if run.started_at}
              for report in (result.baseline, result.candidate)]
    return [abs((starts[0][i] - starts[1][i]).total_seconds())
            for i in sorted(starts[0]) if i in starts[1]]


def describe(pairs: list[tuple[float, float]]) -> tuple[int, float, float, float, float]:
    ratios = [c / b for b, c in pairs]
    n = len(ratios)
    mean = statistics.fmean(ratios) if ratios else math.nan
    cv = statistics.stdev(ratios) / mean if n > 1 else math.nan
    error = cv / math.sqrt(2 * (n - 1)) if n > 1 else math.nan
    level = statistics.fmean(v for pair in pairs for v in pair) if pairs else math.nan
    return n, cv, error, mean, level


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-per-round", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        os.environ.setdefault(key, "perf")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        os.environ.setdefault(key, "perf@example.invalid")
    started = time.monotonic()
    collected: dict[str, dict[str, list[tuple[float, float]]]] = {
        design: {source: [] for source in SOURCES} for design in ("alternating", "duet")}
    seconds = {"alternating": 0.0, "duet": 0.0}
    skews: list[float] = []
    with tempfile.TemporaryDirectory(prefix="benchstone-perf-duet-") as tmp:
        home, root = Path(tmp) / "home", Path(tmp) / "cpuload"
        against = make_fixture(root)
        api.register(root, home=home)
        previous = Path.cwd()
        os.chdir(root)
        try:
            for round_index in range(args.rounds):
                designs = ["alternating", "duet"]
                if round_index % 2:
                    designs.reverse()
                for design in designs:
                    begun = time.monotonic()
                    result = api.compare("cpuload", "loop", against=against,
                                         pairs=args.pairs_per_round, duet=design == "duet",
                                         sandbox="docker", home=home)
                    seconds[design] += time.monotonic() - begun
                    if design == "duet":
                        skews.extend(start_skews(result))
                    for source in SOURCES:
                        collected[design][source].extend(pair_values(result, source))
        finally:
            os.chdir(previous)
    print(f"\nPair ratio (candidate / baseline) of an unchanged CPU-bound program, docker "
          f"sandbox, {args.rounds} round(s) of {args.pairs_per_round} pair(s) per design, "
          f"designs interleaved ({time.monotonic() - started:.0f} s, "
          f"{len(os.sched_getaffinity(0))} core(s) visible)")
    print(f"   {'design':<13}{'metric':<17}{'pairs':>6}{'ratio CV':>10}{'+-':>8}"
          f"{'mean ratio':>12}{'mean half':>11}{'s/pair':>8}")
    for source in SOURCES:
        for design in ("alternating", "duet"):
            n, cv, error, mean, level = describe(collected[design][source])
            per_pair = seconds[design] / max(1, args.rounds * args.pairs_per_round)
            print(f"   {design:<13}{source:<17}{n:>6}{cv:>10.2%}{error:>8.2%}{mean:>12.4f}"
                  f"{level:>10.3f}s{per_pair:>7.1f}s")
    if skews:
        print(f"   duet halves' start skew: median {statistics.median(skews) * 1000:.0f} ms, "
              f"largest {max(skews) * 1000:.0f} ms")
    for source in SOURCES:
        alternating = describe(collected["alternating"][source])[1]
        duet = describe(collected["duet"][source])[1]
        print(f"   {source}: alternating / duet CV ratio {alternating / duet:.2f}"
              if duet else f"   {source}: no duet spread to compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
