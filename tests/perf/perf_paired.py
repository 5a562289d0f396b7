"""Paired, interleaved `compare` against unpaired `run` + `evaluate`, for real: a CPU-bound
fixture in the docker sandbox on this shared machine, with a 3 % slowdown injected in the
candidate commit.

The fixture reports the CPU time of a pure-Python loop; its seed changes the amount of work by
up to +-2 % (as a seeded input would). Both designs use the manifest defaults (gate_policy
welch with log_scale, alpha 0.01, max_repetitions 20) and stop as soon as the gate decides:

- unpaired: `baseline establish` (10 runs), then `run --until-decided` at the slower commit;
- paired: `compare --until-decided` (two container runs a pair, same seed, random order).

The figure is the number of container runs each needs to REJECT the slower commit (the
baseline's runs counted, and also shown apart, since a baseline can serve many candidates).
A PROMOTE of the slower commit is a wrong answer and counts as a miss. The spread of single
runs and of the paired ratios is printed too: on a drifting machine the pairs cancel what the
two halves share.

Target (exit 1 when missed): the paired design rejects the slower commit with fewer runs.

Run: python tests/perf/perf_paired.py   (a few minutes)
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchstone import api

BASELINE_RUNS = 10
WORK = 1_500_000
SLOWDOWN = 1.03

MANIFEST = """
[project]
name = "cpuload"
language = "python"
invocation = "python3 bench/runner.py --config={{config_path}} --output={{output_path}}"

[[benchmarks]]
name = "loop"
tier = "performance"
metric_direction = "minimize"
expected_runtime_seconds = 1
repetitions = 5
baseline_seeds = [{seeds}]
gate_policy = "welch"
log_scale = true

"""

RUNNER = '''"""A CPU-bound benchmark: the CPU time of a pure-Python loop whose length the seed varies."""
import argparse
import json
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--output")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
work = int(Path("src/work.txt").read_text())
work = int(work * (1 + 0.02 * ((config["seed"] * 2654435761) % 1001 - 500) / 500))
started = time.process_time()
total = 0
for i in range(work):
    total = (total + i * i) % 1000003
elapsed = time.process_time() - started
Path(args.output).write_text(json.dumps({"status": "ok", "metric": elapsed,
                                         "metadata": {"work": work, "total": total}}))
'''


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def make_fixture(root: Path) -> None:
    (root / "bench").mkdir(parents=True)
    (root / "src").mkdir()
    seeds = ", ".join(str(seed) for seed in range(1, BASELINE_RUNS + 1))
    (root / "bench" / "manifest.toml").write_text(MANIFEST.format(seeds=seeds))
    (root / "bench" / "runner.py").write_text(RUNNER)
    (root / "src" / "work.txt").write_text(f"{WORK}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")


def spread(values: list[float]) -> float:
    logs = [math.log(v) for v in values]
    centre = sum(logs) / len(logs)
    return math.sqrt(sum((x - centre) ** 2 for x in logs) / (len(logs) - 1))


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def replicate(tmp: Path) -> dict:
    """One experiment in a fresh state directory and repository."""
    home, root = tmp / "home", tmp / "cpuload"
    make_fixture(root)
    api.register(root, home=home)
    baseline = api.establish_baseline("cpuload", "loop", home=home)
    (root / "src" / "work.txt").write_text(f"{int(WORK * SLOWDOWN)}\n")
    git(root, "commit", "-q", "-am", "3 % more work")
    unpaired = api.run_until_decided("cpuload", "loop", home=home)
    paired = api.compare("cpuload", "loop", until_decided=True, home=home)
    b_values = [r.metric for r in baseline.report.runs if r.status == "ok"]
    c_values = [r.metric for r in unpaired.report.runs if r.status == "ok"] \
        if unpaired.report else []
    pb = paired.verdict.baseline.values if paired.verdict.baseline else []
    pc = paired.verdict.candidate.values if paired.verdict.candidate else []
    ratios = [c / b for b, c in zip(pb, pc, strict=True)]
    return {
        "unpaired": (unpaired.verdict.kind, len(b_values) + unpaired.repetitions,
                     unpaired.repetitions, unpaired.verdict.reason),
        "paired": (paired.verdict.kind, 2 * paired.pairs_run, 2 * paired.pairs_run,
                   paired.verdict.reason),
        "unpaired_shift": geometric_mean(c_values) / geometric_mean(b_values) - 1
        if c_values and b_values else math.nan,
        "paired_shift": geometric_mean(ratios) - 1 if ratios else math.nan,
        "run_spread": spread(b_values + c_values) if len(b_values + c_values) > 2 else math.nan,
        "ratio_spread": spread(ratios) if len(ratios) > 2 else math.nan,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=3)
    args = parser.parse_args()
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        os.environ.setdefault(key, "perf")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        os.environ.setdefault(key, "perf@example.invalid")
    started = time.monotonic()
    results = []
    for _ in range(args.replicates):
        with tempfile.TemporaryDirectory(prefix="benchstone-perf-paired-") as tmp:
            results.append(replicate(Path(tmp)))
    print(f"\nA {SLOWDOWN - 1:.0%} slowdown of a CPU-bound loop in the docker sandbox, alpha "
          f"0.01, max_repetitions 20, {args.replicates} replicate(s) "
          f"({time.monotonic() - started:.0f} s)")
    print(f"   {'replicate':<10}{'unpaired':>10}{'runs':>6}{'(no baseline)':>14}{'seen':>8}"
          f"{'paired':>9}{'runs':>6}{'seen':>8}{'run spread':>12}{'pair spread':>13}")
    for index, r in enumerate(results, start=1):
        print(f"   {index:<10}{r['unpaired'][0]:>10}{r['unpaired'][1]:>6}{r['unpaired'][2]:>14}"
              f"{r['unpaired_shift']:>+8.1%}{r['paired'][0]:>9}{r['paired'][1]:>6}"
              f"{r['paired_shift']:>+8.1%}{r['run_spread']:>12.1%}{r['ratio_spread']:>13.1%}")
    print("   (seen: the candidate's change in geometric mean as each design measured it; truth "
          f"{SLOWDOWN - 1:+.0%})")
    for index, r in enumerate(results, start=1):
        print(f"   {index} unpaired: {r['unpaired'][3]}")
        print(f"   {index} paired:   {r['paired'][3]}")
    unpaired_runs = sorted(r["unpaired"][1] if r["unpaired"][0] == "REJECT" else math.inf
                           for r in results)
    paired_runs = sorted(r["paired"][1] if r["paired"][0] == "REJECT" else math.inf
                         for r in results)
    middle = len(results) // 2
    ok = paired_runs[middle] < unpaired_runs[middle] and not any(
        r["paired"][0] == "PROMOTE" for r in results)
    print(f"   median container runs to reject: unpaired {unpaired_runs[middle]}, paired "
          f"{paired_runs[middle]} (a PROMOTE of the slower commit counts as never)")
    print(f"   target: paired rejects the slower commit with fewer runs: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
