"""Every design on this machine, side by side: a CPU-bound fixture made 3 % slower and 3 %
faster, judged in the docker sandbox (not a test: pytest does not collect it; ``make perf``
runs it).

The fixture's work does not depend on the seed: whatever varies between runs is the machine.
Each replicate is a fresh state directory and repository; the commit under test changes the
amount of work by ``--change`` (3 % by default) one way or the other. Designs:

- ``paired``: what ``bench init`` writes (``metric_source = "harness_cpu"``, ``design =
  "paired"``): ``run --until-decided`` runs the pointer's commit and HEAD in pairs, in random
  order, until the paired sequential test decides;
- ``duet``: the same pairs with both halves at the same time on disjoint cores
  (``compare --duet --until-decided``);
- ``unpaired``: the classic design: a 10-run baseline, then ``run --until-decided``;
- ``instructions``: ``metric_source = "harness_instructions"`` with a ``resolution``: the
  exact decision at two runs a side (Valgrind makes each run tens of times slower, so it plays
  ``--instruction-replicates`` replicates).

All use ``gate_policy = "welch"``, ``log_scale``, alpha 0.01 and ``max_repetitions = 20``. A
slower commit counts as a success only when it is REJECTed as significantly worse (not by
futility or at the horizon); a faster one only when it is PROMOTEd. Printed per design: the
successes of each direction, the container runs each decision took (a side), and the verdicts.

Target (exit 1 when missed): the ``paired`` design, the default, decides both directions
correctly in at least 8 of 10 replicates, within 20 container runs a side.

Run: python tests/perf/perf_designs.py [--replicates 10] [--designs paired,unpaired]
     (about half an hour with every design at 10 replicates)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchstone import api

WORK = 1_500_000
HORIZON = 20
DESIGNS = ("paired", "duet", "unpaired", "instructions")
SUCCESS_TARGET = 0.8

MANIFEST = """
[project]
name = "cpuwork"
language = "python"
invocation = "python3 bench/runner.py --config={{config_path}} --output={{output_path}}"

[[benchmarks]]
name = "loop"
tier = "performance"
metric_direction = "minimize"
expected_runtime_seconds = 1
timeout_seconds = 600
repetitions = 2
baseline_seeds = [{seeds}]
gate_policy = "welch"
log_scale = true
max_repetitions = {horizon}
{extra}
"""

EXTRA = {
    "paired": 'metric_source = "harness_cpu"\ndesign = "paired"',
    "duet": 'metric_source = "harness_cpu"\ndesign = "paired"',
    "unpaired": 'metric_source = "harness_cpu"',
    "instructions": 'metric_source = "harness_instructions"\nresolution = 0.0001',
}
BASELINE_RUNS = {"paired": 2, "duet": 2, "unpaired": 10, "instructions": 2}

RUNNER = '''"""A CPU-bound loop of the length in src/work.txt; the harness measures it."""
import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--output")
args = parser.parse_args()
total = 0
for i in range(int(Path("src/work.txt").read_text())):
    total = (total + i * i) % 1000003
Path(args.output).write_text(json.dumps({"status": "ok", "metric": 1.0,
                                         "metadata": {"total": total}}))
'''


@dataclass
class Outcome:
    kind: str
    correct: bool
    runs_a_side: int
    reason: str


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def make_fixture(root: Path, design: str, work: int) -> None:
    (root / "bench").mkdir(parents=True)
    (root / "src").mkdir()
    seeds = ", ".join(str(seed) for seed in range(1, BASELINE_RUNS[design] + 1))
    (root / "bench" / "manifest.toml").write_text(
        MANIFEST.format(seeds=seeds, horizon=HORIZON, extra=EXTRA[design]))
    (root / "bench" / "runner.py").write_text(RUNNER)
    (root / "src" / "work.txt").write_text(f"{work}\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")


def judged_correctly(kind: str, reason: str, effect: float | None, faster: bool) -> bool:
    if faster:
        return kind == "PROMOTE"
    if kind != "REJECT":
        return False
    if "(exact," in reason:
        return effect is not None and effect < 0
    return "the candidate is worse" in reason


def replicate(tmp: Path, design: str, change: float, faster: bool, work: int) -> Outcome:
    home, root = tmp / "home", tmp / "cpuwork"
    make_fixture(root, design, work)
    api.register(root, home=home)
    api.establish_baseline("cpuwork", "loop", home=home)
    factor = 1 - change if faster else 1 + change
    (root / "src" / "work.txt").write_text(f"{int(work * factor)}\n")
    git(root, "commit", "-q", "-am", "faster" if faster else "slower")
    if design == "duet":
        paired = api.compare("cpuwork", "loop", until_decided=True, duet=True, home=home)
        verdict, runs = paired.verdict, paired.pairs_run
    elif design == "paired":
        result = api.run_until_decided("cpuwork", "loop", home=home)
        verdict, runs = result.verdict, result.total
    elif design == "instructions":
        api.run("cpuwork", "loop", home=home)
        verdict = api.evaluate("cpuwork", "loop", home=home)
        runs = verdict.candidate.n if verdict.candidate else 0
        runs = max(runs, verdict.baseline.n if verdict.baseline else 0)
    else:  # unpaired: the candidate's runs, beside a baseline of BASELINE_RUNS
        result = api.run_until_decided("cpuwork", "loop", home=home)
        verdict, runs = result.verdict, result.total
    kind = str(verdict.kind)
    return Outcome(kind, judged_correctly(kind, verdict.reason, verdict.effect, faster), runs,
                   verdict.reason)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--instruction-replicates", type=int, default=2)
    parser.add_argument("--designs", default=",".join(DESIGNS),
                        help=f"a comma-separated subset of {', '.join(DESIGNS)}")
    parser.add_argument("--change", type=float, default=0.03)
    parser.add_argument("--work", type=int, default=WORK)
    parser.add_argument("--verbose", action="store_true", help="print every verdict's reason")
    args = parser.parse_args()
    designs = [d for d in args.designs.split(",") if d]
    unknown = sorted(set(designs) - set(DESIGNS))
    if unknown:
        parser.error(f"unknown design(s) {', '.join(unknown)}: choose from {', '.join(DESIGNS)}")
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        os.environ.setdefault(key, "perf")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        os.environ.setdefault(key, "perf@example.invalid")
    print(f"A CPU-bound loop of {args.work} iterations made {args.change:.0%} slower and "
          f"{args.change:.0%} faster, in the docker sandbox; welch, log_scale, alpha 0.01, at "
          f"most {HORIZON} runs a side", flush=True)
    print(f"   {'design':<14}{'direction':<10}{'correct':>9}{'runs a side (median, max)':>28}"
          f"   verdicts   seconds", flush=True)
    ok = True
    for design in designs:
        count = args.instruction_replicates if design == "instructions" else args.replicates
        for faster in (False, True):
            started = time.monotonic()
            outcomes = []
            for _ in range(count):
                with tempfile.TemporaryDirectory(prefix="benchstone-perf-designs-") as tmp:
                    outcomes.append(replicate(Path(tmp), design, args.change, faster,
                                              args.work))
            correct = sum(o.correct for o in outcomes)
            runs = [o.runs_a_side for o in outcomes]
            kinds = {k: sum(o.kind == k for o in outcomes) for k in
                     ("PROMOTE", "REJECT", "NEEDS_MORE_DATA") if any(o.kind == k
                                                                   for o in outcomes)}
            shown = ", ".join(f"{k} {v}" for k, v in kinds.items())
            direction = "faster" if faster else "slower"
            print(f"   {design:<14}{direction:<10}{correct:>5} / {count:<3}"
                  f"{statistics.median(runs):>16.1f}, {max(runs):<9}   {shown}   "
                  f"{time.monotonic() - started:.0f}", flush=True)
            if args.verbose:
                for o in outcomes:
                    print(f"      {o.kind}: {o.reason}")
            if design == "paired":  # max_repetitions keeps each within HORIZON runs a side
                ok &= correct >= SUCCESS_TARGET * count
    print("   (slower: correct = REJECTed as significantly worse; faster: correct = PROMOTEd; "
          f"unpaired: candidate runs, beside a baseline of {BASELINE_RUNS['unpaired']})")
    if "paired" in designs:
        print(f"   target: the paired design correct in >= {SUCCESS_TARGET:.0%} of replicates "
              f"each way, within {HORIZON} runs a side: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
