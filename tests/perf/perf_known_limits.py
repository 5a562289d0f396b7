"""The gates' known limits and the baseline-shopping defence, measured by simulation through the
project's own gate functions (not a test: pytest does not collect it; ``make perf`` runs it).

Printed, each with its trial count and one Monte Carlo standard error, beside alpha:

1. Baseline shopping, an unchanged candidate run to the horizon (20) and evaluated after every
   run: against the last establishment alone (10 runs, re-established until its mean is in its
   slowest 1 %), as before pooling; and against every establishment pooled, as ``evaluate``
   does now, re-established (at most 10 times) until the pool's mean is in its slowest 10 %.
2. A constant candidate at the baseline's centre, not better (the ``rank`` lump of about 2^-n).
3. A ``resolution`` below the real noise: 2 runs a side, jitter of 0.75 x resolution.
4. ``deterministic = true`` and a program that draws its own randomness: a third cheaper half
   of the time, twice as costly otherwise (1.33 x the baseline on average, worse), judged
   exactly at 2 runs a side.
5. A baseline that fails whenever it would be cheap (its cost uniform on 0.1 to 0.5, failing
   below 0.34, 24 repetitions), against the same program without the failure (20 runs): what
   the gate says of the survivors alone, and the verdict once the baseline's failures withhold
   ``PROMOTE`` as ``evaluate`` now does.

Exits 0; the figures are for docs/gates.md ("Establishing a baseline again", "Known limits").
Run: python tests/perf/perf_known_limits.py [--trials N]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ALPHA = 0.01
HORIZON = 20
CV = 0.03


def _rate(hits: int, trials: int) -> str:
    p = hits / trials
    se = math.sqrt(max(p * (1 - p), 1e-12) / trials)
    return f"{hits}/{trials} = {p:.2%} +- {se:.2%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    import numpy as np

    from benchstone.evaluate.boundary_cache import StateDirectoryBoundaries
    from benchstone.gates.policies import GateSettings
    from benchstone.gates.sequential import decide_sequential
    from benchstone.kinds import VerdictKind
    from benchstone.stats import sequential

    class _Home:
        root = Path(tempfile.mkdtemp(prefix="benchstone-perf-limits-"))

    sequential.use_store(StateDirectoryBoundaries(_Home()))
    promote = VerdictKind.PROMOTE
    rng = np.random.default_rng(29)
    sigma = math.sqrt(math.log1p(CV * CV))

    def draw(n: int, centre: float = 100.0) -> list[float]:
        return list(centre * np.exp(sigma * rng.standard_normal(n)))

    trials = args.trials
    print(f"alpha {ALPHA}, horizon {HORIZON}, CV {CV:.0%}, log-normal; {trials} trials a line")
    for policy in ("welch", "rank"):
        settings = GateSettings(policy=policy, direction="minimize", alpha=ALPHA, log_scale=True)
        last_alone = pooled = shopped = 0
        for _ in range(trials):
            while True:  # the last establishment alone is the baseline (before pooling)
                shopped += 1
                latest = draw(10)
                if np.mean(np.log(latest)) - math.log(100) > 2.33 * sigma / math.sqrt(10):
                    break
            last_alone += decide_sequential(latest, draw(HORIZON), settings,
                                            HORIZON).kind == promote
            everything: list[float] = []
            for _establishment in range(10):  # pooled: shop on the pool's own mean
                everything += draw(10)
                slow = 1.28 * sigma / math.sqrt(len(everything))
                if np.mean(np.log(everything)) - math.log(100) > slow:
                    break
            pooled += decide_sequential(everything, draw(HORIZON), settings,
                                        HORIZON).kind == promote
        print(f"1. {policy}: re-establishing until the baseline is in its slowest 1 % (mean "
              f"{shopped / trials:.0f} establishments), the last alone: "
              f"{_rate(last_alone, trials)}; pooled, re-establishing (at most 10 times) until "
              f"the pool is in its slowest 10 %: {_rate(pooled, trials)}")

    for n in (5, 8, 10):
        settings = GateSettings(policy="rank", direction="minimize", alpha=ALPHA, log_scale=True)
        hits = sum(decide_sequential(draw(n), [100.0] * HORIZON, settings, HORIZON).kind
                   == promote for _ in range(trials))
        print(f"2. rank, a constant candidate at the baseline's centre, {n} baseline runs: "
              f"{_rate(hits, trials)} (2^-n = {0.5 ** n:.2%})")

    resolution = 0.001
    settings = GateSettings(policy="welch", direction="minimize", alpha=ALPHA, log_scale=True,
                            resolution=resolution)
    jitter = 0.75 * resolution
    hits = 0
    for _ in range(trials):  # evaluated after every candidate run, as a loop would
        baseline = list(100 * (1 + jitter * rng.standard_normal(2)))
        candidate = list(100 * (1 + jitter * rng.standard_normal(HORIZON)))
        hits += any(decide_sequential(baseline, candidate[:m], settings, HORIZON).kind == promote
                    for m in range(2, HORIZON + 1))
    print(f"3. welch, resolution {resolution}, jitter 0.75 x resolution, 2 baseline runs, "
          f"evaluated after every run: {_rate(hits, trials)}")

    settings = GateSettings(policy="welch", direction="minimize", alpha=ALPHA,
                            deterministic=True)
    exact_trials = 20 * trials
    hits = sum(decide_sequential([100.0, 100.0],
                                 [100.0 * (2 / 3 if rng.random() < 0.5 else 2.0)
                                  for _ in range(2)], settings, HORIZON).kind == promote
               for _ in range(exact_trials))
    print(f"4. welch, deterministic = true, a candidate 2/3 or 2 x the baseline at random "
          f"(worse on average), 2 runs a side: {_rate(hits, exact_trials)}")

    from benchstone.evaluate.checks import withheld_for_baseline_failures

    settings = GateSettings(policy="welch", direction="minimize", alpha=ALPHA)
    survivors_alone = withheld = 0
    for _ in range(trials):
        costs = 0.1 + 0.4 * rng.random(24)
        kept = costs[costs >= 0.34]
        baseline = list(kept * (1 + 0.02 * rng.standard_normal(len(kept))))
        candidate = list((0.1 + 0.4 * rng.random(HORIZON))
                         * (1 + 0.02 * rng.standard_normal(HORIZON)))
        decision = decide_sequential(baseline, candidate, settings, HORIZON)
        survivors_alone += decision.kind == promote
        withheld += withheld_for_baseline_failures(decision, 24 - len(kept),
                                                   "0" * 40).kind == promote
    print(f"5. welch, a baseline failing its cheap runs (below 0.34 of U(0.1, 0.5), 24 "
          f"repetitions), the same program without the failure as the candidate: the "
          f"survivors alone {_rate(survivors_alone, trials)}; with the baseline's failures "
          f"withholding PROMOTE {_rate(withheld, trials)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
