"""Power of the calibrated gate with a baseline that grows (``baseline_grows``), beside today's
fixed baseline, through the project's own decision function (``decide_sequential``, what
``evaluate`` and ``run --until-decided`` call; see tests/perf/gatesim.py), and the next
baseline after a PROMOTE.

Setting: log-normal noise, CV 3 %, ``welch`` with ``log_scale``, alpha 0.01, a baseline of 5
runs established first, horizon ``max_repetitions`` (20 unless stated), a true 5 % gain.

- *until decided*: ``run --until-decided``: before each candidate run, the baseline runs the
  gate's next look needs (look m uses max(5, m) baseline runs when the baseline grows); stops at
  the first verdict that is not NEEDS_MORE_DATA. Power = its PROMOTE rate; cost = the mean
  number of container runs, both sides, the 5 established ones included.
- *until green*, on an unchanged program: evaluates after every run up to the horizon and
  stops only at PROMOTE (a PROMOTE depends only on looks already made, so the last evaluation
  of the full streams says whether any did). Its PROMOTE rate is the false-promote rate.
- *next baseline*: after a PROMOTE of a true 2 % gain (baseline 10), an unchanged
  next commit judged against the promoted sample (the old rule) or against fresh runs of the
  promoted commit (the new one): how often it is flagged as regressed (``evaluate --all``'s
  ``regressed``) and how often it is promoted, re-run until green.
- the spending function alpha * t^rho for rho in 1, 2, 3 and horizons 15 and 20: the choice of
  ``GROWN_SPENDING_POWER`` (power at equal alpha).

Targets (exit 1 when missed): the growing design promotes a true 5 % gain in >= 90 % of trials;
its false-promote rate, re-running until green, and the next-baseline rates are not above alpha
by more than two Monte Carlo standard errors.

Run: python tests/perf/perf_power.py [--trials N] [--null-trials N] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[2]))  # PYTHONPATH first

import gatesim as gs

from benchstone.gates.sequential import decide_sequential
from benchstone.stats import sequential

ALPHA = 0.01
FIRST = 5
GAIN = 0.05
FAMILY = "lognormal 3%"


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _kind(decision) -> str:
    return str(decision.kind)


def _decide(b: np.ndarray, c: np.ndarray, horizon: int, grows: bool):
    settings = gs.policy("welch log", ALPHA).settings
    return decide_sequential(b.tolist(), c.tolist(), settings, horizon,
                             first_baseline=FIRST if grows else None)


def until_decided(grows: bool, horizon: int, gain: float, trials: int, rho: float
                  ) -> dict[str, float]:
    """The until-decided agent: PROMOTE rate and mean container runs (both sides)."""
    sequential.GROWN_SPENDING_POWER = rho
    rng = np.random.default_rng(_seed("decided", grows, horizon, gain, rho))
    draw = gs.FAMILIES[FAMILY]
    promoted = runs = 0
    for _ in range(trials):
        b = draw(rng, max(FIRST, horizon), "b")
        c = draw(rng, horizon, "c") * (1 - gain)
        kind, used = "NEEDS_MORE_DATA", horizon
        for m in range(2, horizon + 1):
            kind = _kind(_decide(b[: max(FIRST, m) if grows else FIRST], c[:m], horizon, grows))
            if kind != "NEEDS_MORE_DATA":
                used = m
                break
        promoted += kind == "PROMOTE"
        runs += used + (max(FIRST, used) if grows else FIRST)
    return {"rate": promoted / trials, "runs": runs / trials, "trials": trials}


def until_green(grows: bool, horizon: int, trials: int, rho: float) -> dict[str, float]:
    """The until-green agent on an unchanged program: the false-promote rate."""
    sequential.GROWN_SPENDING_POWER = rho
    rng = np.random.default_rng(_seed("green", grows, horizon, rho))
    draw = gs.FAMILIES[FAMILY]
    hits = 0
    for trial in range(trials):
        b = draw(rng, max(FIRST, horizon) if grows else FIRST, "b")
        c = draw(rng, horizon, "c")
        promoted = _kind(_decide(b, c, horizon, grows)) == "PROMOTE"
        if trial < gs.LITERAL:  # the shortcut, checked look by look
            literal = any(_kind(_decide(b[: max(FIRST, m)] if grows else b, c[:m], horizon,
                                        grows)) == "PROMOTE" for m in range(1, horizon + 1))
            if literal != promoted:
                raise AssertionError("PROMOTE was not monotone in the looks")
        hits += promoted
    return {"rate": hits / trials, "trials": trials}


def next_baseline(trials: int, null_trials: int) -> dict[str, float]:
    """The promoted sample, or fresh runs of the promoted commit, as the baseline
    of an unchanged next commit. Fresh runs do not depend on how the promoted sample stopped,
    so their rates are also measured on ``null_trials`` more trials of their own, for a
    fixed baseline of 10 fresh runs and for a growing one (look m against max(5, m))."""
    from benchstone.evaluate.all_benchmarks import regressed
    from benchstone.gates.verdict import Sample, SequentialSummary, Verdict
    from benchstone.project.manifest import BenchmarkSpec

    horizon = gs.HORIZON
    rng = np.random.default_rng(_seed("next baseline"))
    draw = gs.FAMILIES[FAMILY]
    p = gs.policy("welch log", ALPHA)
    bench = BenchmarkSpec(name="b", tier="performance", metric_direction="minimize",
                          gate_policy="welch", log_scale=True, alpha=ALPHA)

    def flagged(baseline: np.ndarray, candidate: np.ndarray, first: int | None = None) -> bool:
        decision = decide_sequential(baseline.tolist(), candidate.tolist(), p.settings, horizon,
                                     first_baseline=first)
        verdict = Verdict(
            kind=decision.kind, project="p", benchmark="b", tier="performance",
            sequential=SequentialSummary(test="welch", look=horizon, runs=horizon,
                                         horizon=horizon, baseline_first=first),
            baseline=Sample(git_sha="a", run_set_ids=[], n=len(baseline),
                            values=baseline.tolist()),
            candidate=Sample(git_sha="b", run_set_ids=[], n=horizon, values=candidate.tolist()))
        return regressed(verdict, bench)

    promoted = 0
    counts = {"stopped regressed": 0, "fresh regressed": 0, "fresh promoted": 0}
    for _ in range(trials):
        b = draw(rng, 10, "b")
        c = draw(rng, horizon, "c") * 0.98
        kind, used = gs.agent_decided(b, c, p)
        if kind != "PROMOTE":
            continue
        promoted += 1
        unchanged = draw(rng, horizon, "c") * 0.98
        fresh = draw(rng, 10, "b") * 0.98  # the promoted commit, run again
        counts["stopped regressed"] += flagged(c[:used], unchanged)
        counts["fresh regressed"] += flagged(fresh, unchanged)
        counts["fresh promoted"] += _kind(decide_sequential(
            fresh.tolist(), unchanged.tolist(), p.settings, horizon)) == "PROMOTE"
    rates = {k: v / max(promoted, 1) for k, v in counts.items()}
    direct = {"fixed regressed": 0, "fixed promoted": 0, "grown regressed": 0,
              "grown promoted": 0}
    for _ in range(null_trials):
        unchanged = draw(rng, horizon, "c")
        fixed, grown = draw(rng, 10, "b"), draw(rng, horizon, "b")
        direct["fixed regressed"] += flagged(fixed, unchanged)
        direct["grown regressed"] += flagged(grown, unchanged, FIRST)
        direct["fixed promoted"] += _kind(decide_sequential(
            fixed.tolist(), unchanged.tolist(), p.settings, horizon)) == "PROMOTE"
        direct["grown promoted"] += _kind(decide_sequential(
            grown.tolist(), unchanged.tolist(), p.settings, horizon,
            first_baseline=FIRST)) == "PROMOTE"
    rates.update({k: v / null_trials for k, v in direct.items()})
    return {**rates, "trials": promoted, "of": trials, "null trials": null_trials}


def _cell(job: tuple) -> tuple:
    name, args = job
    sequential.boundaries.cache_clear()  # the spending power is part of the design here
    function = {"decided": until_decided, "green": until_green, "next": next_baseline}[name]
    return job, function(*args)


def _rate(r: dict, key: str = "rate") -> str:
    return f"{r[key]:6.2%} ±{gs.mc_error(r[key], int(r['trials'])):.2%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400, help="trials per power cell")
    parser.add_argument("--null-trials", type=int, default=3000,
                        help="trials per false-promote cell")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    chosen = sequential.GROWN_SPENDING_POWER
    jobs = [("decided", (False, 20, GAIN, args.trials, chosen)),
            ("green", (False, 20, args.null_trials, chosen))]
    for horizon in (15, 20):
        for rho in (1.0, 2.0, 3.0):
            jobs.append(("decided", (True, horizon, GAIN, args.trials, rho)))
    jobs += [("green", (True, 20, args.null_trials, chosen)),
             ("green", (True, 15, args.null_trials, chosen)),
             ("next", (args.trials * 5, args.null_trials))]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = dict(pool.map(_cell, jobs))
    missed: list[str] = []
    print(f"{FAMILY}, welch log, alpha {ALPHA}, baseline {FIRST} established first; "
          f"± one Monte Carlo standard error")
    today = results[jobs[0]]
    today_null = results[jobs[1]]
    print(f"  today (fixed baseline of {FIRST}, horizon 20): a true {GAIN:.0%} gain promoted "
          f"{_rate(today)} of {today['trials']:,} trials, {today['runs']:.1f} runs (both sides) "
          f"on average; false promotes until green {_rate(today_null)} of "
          f"{today_null['trials']:,}")
    print(f"  the baseline grows (look m against max({FIRST}, m) baseline runs), spending "
          f"alpha * t^rho:")
    for horizon in (15, 20):
        for rho in (1.0, 2.0, 3.0):
            r = results[("decided", (True, horizon, GAIN, args.trials, rho))]
            mark = "  <- the default" if rho == chosen and horizon == 20 else ""
            print(f"    horizon {horizon}, rho {rho:g}: promoted {_rate(r)} of "
                  f"{r['trials']:,} trials, {r['runs']:.1f} runs (both sides){mark}")
    grown = results[("decided", (True, 20, GAIN, args.trials, chosen))]
    if grown["rate"] < 0.90:
        missed.append(f"power {grown['rate']:.1%} < 90 %")
    for horizon in (20, 15):
        null = results[("green", (True, horizon, args.null_trials, chosen))]
        print(f"    horizon {horizon}, rho {chosen:g}: false promotes until green "
              f"{_rate(null)} of {null['trials']:,} trials")
        if gs.above(round(null["rate"] * null["trials"]), int(null["trials"]), ALPHA):
            missed.append(f"false promotes {null['rate']:.2%} at horizon {horizon}")
    nb = results[jobs[-1]]
    print(f"  next baseline after a PROMOTE (baseline 10, a true 2% gain, horizon 20): "
          f"{nb['trials']:,} of {nb['of']:,} trials promoted; an unchanged next commit run to "
          f"the horizon is")
    print(f"    against the promoted (stopped) sample: flagged regressed "
          f"{_rate(nb, 'stopped regressed')}")
    print(f"    against 10 fresh runs of the promoted commit: flagged regressed "
          f"{_rate(nb, 'fresh regressed')}, promoted until green {_rate(nb, 'fresh promoted')}")
    n = int(nb["null trials"])
    for design, label in (("fixed", "10 fresh runs"), ("grown", f"a growing baseline of fresh "
                                                                f"runs (first {FIRST})")):
        regressed_rate, promoted_rate = nb[f"{design} regressed"], nb[f"{design} promoted"]
        print(f"    against {label}, {n:,} trials of their own: flagged regressed "
              f"{regressed_rate:.2%} ±{gs.mc_error(regressed_rate, n):.2%}, promoted until "
              f"green {promoted_rate:.2%} ±{gs.mc_error(promoted_rate, n):.2%}")
        for key in (f"{design} regressed", f"{design} promoted"):
            if gs.above(round(nb[key] * n), n, ALPHA):
                missed.append(f"next baseline {key} {nb[key]:.2%}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if missed:
        print("missed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
