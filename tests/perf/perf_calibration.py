"""The calibrated gates on every kind of metric, through the project's own decision functions
(``decide_sequential`` for evaluate / run --until-decided, ``decide_paired_sequential`` for
compare; see tests/perf/gatesim.py): false-promote rates per noise family x policy x baseline
size at alpha 0.01 and 0.05, power for stated gains, and the special cases (futility,
min_effect, the promoted sample as the next baseline, extreme numbers).

Target (exit 1 when missed): no cell's false-promote rate above alpha by more than two Monte
Carlo standard errors. Every rate is printed with its trial count and standard error.

Run: python tests/perf/perf_calibration.py [--trials N] [--workers 2] [--quick] [--alpha A]
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

from benchstone.gates.policies import GateSettings
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential

POLICIES = ("welch", "welch log", "rank")
PAIRED = ("welch", "rank")  # paired_t and signed_rank
BASELINES = (2, 5, 10)
ALPHAS = (0.01, 0.05)


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


def _unpaired_cell(args: tuple) -> tuple:
    family, name, n_b, alpha, trials = args
    hits, n = gs.false_promote(family, gs.policy(name, alpha), n_b, trials,
                               _seed(family, name, n_b, alpha))
    return args, hits, n


def _paired_cell(args: tuple) -> tuple:
    family, name, order, alpha, trials = args
    hits, n = gs.paired_false_promote(family, gs.policy(name, alpha), trials,
                                      _seed("paired", family, name, order, alpha), order)
    return args, hits, n


def _progress(args: tuple, hits: int, trials: int) -> tuple[int, int]:
    """Each cell on stderr as it is done: a long run shows where it is, and what it has so far."""
    print(f"  cell {args[:4]}: {hits}/{trials}", file=sys.stderr, flush=True)
    return hits, trials


def _rate(hits: int, trials: int) -> str:
    rate = hits / trials
    return f"{rate:6.2%} ±{gs.mc_error(rate, trials):.2%}"


def false_promote_tables(pool: ProcessPoolExecutor, trials: int, alphas: tuple[float, ...],
                         power_trials: int) -> list[str]:
    above: list[str] = []
    for alpha in alphas:
        jobs = [(f, p, n, alpha, trials) for f in gs.FAMILIES for p in POLICIES for n in BASELINES]
        results = {args[:3]: _progress(args, h, n) for args, h, n in pool.map(_unpaired_cell, jobs)}
        print(f"\nFalse promotes, an agent evaluating after every run up to the horizon "
              f"{gs.HORIZON} (re-running until green), alpha {alpha}, {trials:,} trials a cell "
              f"(± one Monte Carlo standard error); baseline runs {', '.join(map(str, BASELINES))}")
        for p in POLICIES:
            print(f"  {p}")
            for f in gs.FAMILIES:
                cells = []
                for n in BASELINES:
                    h, t = results[(f, p, n)]
                    flag = " *" if gs.above(h, t, alpha) else "  "
                    if flag.strip():
                        above.append(f"alpha {alpha} {p} {f} baseline {n}: {h / t:.2%}")
                    cells.append(_rate(h, t) + flag)
                print(f"    {f:<20}" + "".join(f"{c:>18}" for c in cells))
        jobs = [(f, p, 0.0, alpha, trials) for f in gs.FAMILIES for p in PAIRED]
        jobs += [("normal 3%", p, k, alpha, trials) for p in PAIRED for k in (2.0, 4.0, 10.0)]
        results = {args[:3]: _progress(args, h, n) for args, h, n in pool.map(_paired_cell, jobs)}
        print(f"\n  compare (paired, random order within a pair), alpha {alpha}, {gs.HORIZON} "
              f"pairs, {trials:,} trials a cell")
        for (f, p, k), (h, t) in results.items():
            test = "paired_t" if p == "welch" else "signed_rank"
            label = f"{f}" + (f", order effect {k:g} sd" if k else "")
            flag = " *" if gs.above(h, t, alpha) else ""
            if flag:
                above.append(f"alpha {alpha} {test} {label}: {h / t:.2%}")
            print(f"    {test:<12}{label:<34}{_rate(h, t)}{flag}")
        power_row(pool, alpha, power_trials)
    return above


POWER_ROW_GAIN = 0.05  # on log-normal noise at a CV of 3 %: 1.6 standard deviations


def power_row(pool: ProcessPoolExecutor, alpha: float, trials: int) -> None:
    """The power beside each false-promote table, so that a gate that never promotes shows."""
    jobs = [("lognormal 3%", p, n, POWER_ROW_GAIN, alpha, 0.0, trials)
            for p in POLICIES for n in BASELINES]
    results = {args[1:3]: r for args, r in pool.map(_power_cell, jobs)}
    print(f"\n  power: PROMOTE rate of run --until-decided, log-normal noise at 3 %, a "
          f"{POWER_ROW_GAIN:.0%} gain, alpha {alpha}, {trials:,} trials a cell (mean runs, both "
          f"sides)")
    for p in POLICIES:
        cells = [f"{results[(p, n)]['decided']:6.1%} ±{gs.mc_error(results[(p, n)]['decided'], trials):.1%}"
                 f" ({results[(p, n)]['runs']:4.1f})" for n in BASELINES]
        print(f"    {p:<20}" + "".join(f"{c:>24}" for c in cells))
    jobs = [("lognormal 3%", p, POWER_ROW_GAIN, alpha, trials) for p in PAIRED]
    for args, r in pool.map(_paired_power_cell, jobs):
        test = "paired_t" if args[1] == "welch" else "signed_rank"
        print(f"    {test:<20}{r['decided']:6.1%} ±{gs.mc_error(r['decided'], trials):.1%} "
              f"({r['runs']:4.1f}), {gs.HORIZON} pairs")


def _power_cell(args: tuple) -> tuple:
    family, name, n_b, gain, alpha, min_effect, trials = args
    result = gs.power(family, gs.policy(name, alpha, min_effect), n_b, gain, trials,
                      _seed("power", *args[:-1]))
    return args, result


def _paired_power_cell(args: tuple) -> tuple:
    family, name, gain, alpha, trials = args
    return args, gs.paired_power(family, gs.policy(name, alpha), gain, trials,
                                 _seed("ppower", *args[:-1]))


def power_tables(pool: ProcessPoolExecutor, trials: int) -> None:
    print(f"\nPower: PROMOTE rate of run --until-decided (stops at the first verdict) and of "
          f"an agent re-running until green; mean container runs (both sides) of the first; "
          f"{trials:,} trials a cell")
    jobs = [("lognormal 3%", p, n, 0.05, 0.01, 0.0, trials) for p in POLICIES for n in (5, 10)]
    jobs += [("lognormal 3%", p, 5, 0.02, 0.01, 0.0, trials) for p in POLICIES]
    # futility: a 3-sd improvement with a tiny baseline
    jobs += [("normal 3%", p, n, 0.09, 0.01, 0.0, trials) for p in ("welch", "rank")
             for n in (2, 3)]
    # min_effect 5 %: true gains below it must be promoted at most alpha of the time
    jobs += [("lognormal 3%", "welch log", 10, g, 0.01, 0.05, trials) for g in (0.03, 0.04, 0.07)]
    jobs += [("lognormal 3%", "rank", 10, g, 0.01, 0.05, trials) for g in (0.03, 0.04, 0.07)]
    for args, r in pool.map(_power_cell, jobs):
        family, name, n_b, gain, _alpha, min_effect, t = args
        label = f"{family}, {name}, baseline {n_b}, gain {gain:.0%}" + (
            f", min_effect {min_effect:.0%}" if min_effect else "")
        print(f"  {label:<58} until-decided {r['decided']:6.1%} ±{gs.mc_error(r['decided'], t):.1%}"
              f"  until-green {r['green']:6.1%}  runs {r['runs']:5.1f}")
    jobs = [("lognormal 3%", p, 0.05, 0.01, trials) for p in PAIRED]
    for args, r in pool.map(_paired_power_cell, jobs):
        family, name, gain, _alpha, t = args
        test = "paired_t" if name == "welch" else "signed_rank"
        print(f"  {family}, compare {test}, gain {gain:.0%}{'':<25} until-decided "
              f"{r['decided']:6.1%} ±{gs.mc_error(r['decided'], t):.1%}  runs {r['runs']:5.1f}")


def next_baseline_bias(trials: int) -> None:
    """After a PROMOTE, the promoted sample as the next baseline (the rule before fresh baseline
    runs replaced it); an unchanged
    next commit, re-run until the horizon, must be flagged as regressed at most alpha of the
    time. ``regressed`` of evaluate --all is the sequential test the other way round."""
    from benchstone.evaluate.all_benchmarks import regressed
    from benchstone.gates.verdict import Sample, SequentialSummary, Verdict
    from benchstone.project.manifest import BenchmarkSpec

    rng = np.random.default_rng(_seed("bias"))
    draw = gs.FAMILIES["lognormal 3%"]
    p = gs.policy("welch log", 0.01)
    bench = BenchmarkSpec(name="b", tier="performance", metric_direction="minimize",
                          gate_policy="welch", log_scale=True, alpha=0.01)
    promoted = flagged = 0
    for _ in range(trials):
        b = draw(rng, 10, "b")
        c = draw(rng, gs.HORIZON, "c") * 0.98
        kind, used = gs.agent_decided(b, c, p)
        if kind != "PROMOTE":
            continue
        promoted += 1
        next_baseline = c[:used].tolist()
        unchanged = (draw(rng, gs.HORIZON, "c") * 0.98).tolist()
        decision = decide_sequential(next_baseline, unchanged, p.settings, gs.HORIZON)
        verdict = Verdict(
            kind=decision.kind, project="p", benchmark="b", tier="performance",
            sequential=SequentialSummary(test="welch", look=gs.HORIZON, runs=gs.HORIZON,
                                         horizon=gs.HORIZON),
            baseline=Sample(git_sha="a", run_set_ids=[], n=used, values=next_baseline),
            candidate=Sample(git_sha="b", run_set_ids=[], n=gs.HORIZON, values=unchanged))
        flagged += regressed(verdict, bench)
    rate = flagged / max(promoted, 1)
    print(f"\nThe promoted sample as the next baseline (baseline 10, a 2% gain, welch log, "
          f"alpha 0.01): {promoted:,} of {trials:,} trials promoted; an unchanged next commit "
          f"re-run to the horizon is flagged as regressed in {rate:.2%} "
          f"±{gs.mc_error(rate, max(promoted, 1)):.2%} of them")


def numbers() -> None:
    print("\nExtreme numbers (welch log / welch / rank, baseline 5, candidate 10% better, "
          "8 runs; and compare):")
    rng = np.random.default_rng(5)
    base = np.exp(0.03 * rng.standard_normal(5))
    cand = 0.9 * np.exp(0.03 * rng.standard_normal(8))
    for scale in (1.0, 1e150, 1e200, -1.0):
        for name in POLICIES:
            b, c = (base * scale).tolist(), (cand * scale).tolist()
            s = gs.policy(name, 0.01).settings
            if scale < 0:  # a maximize metric around -1: "better" is closer to 0
                s = GateSettings(s.policy, "maximize", alpha=0.01, log_scale=s.log_scale)
            print(f"  scale {scale:<8g} {name:<10} {_outcome(decide_sequential, b, c, s)}")
    zero_b = [-0.02, -0.01, 0.0, 0.01, 0.02] * 2  # a centre of exactly 0
    zero_c = [v - 0.05 for v in zero_b]  # 0.05 lower: better for a minimize metric
    for name in ("welch", "rank"):
        s = gs.policy(name, 0.01).settings
        print(f"  centre 0       {name:<10} {_outcome(decide_sequential, zero_b, zero_c, s)}")
    s = gs.policy("welch", 0.01).settings
    print(f"  compare 1e200  paired_t   "
          f"{_outcome(decide_paired_sequential, (base * 1e200).tolist(), (base * 0.9e200).tolist(), s)}")


def _outcome(function, b, c, s) -> str:
    try:
        d = function(b, c, s, gs.HORIZON)
    except Exception as exc:  # what an uncaught error would do to evaluate
        return f"raises {type(exc).__name__}: {exc}"
    effect = f", effect {d.effect:+.2%}" if d.effect is not None else ""
    return f"{d.kind}{effect}"


def _keep_boundaries(directory: Path | None) -> None:
    """Share boundaries between the workers (through the state-directory store), if asked."""
    if directory is None:
        return
    try:
        from benchstone.evaluate.boundary_cache import keep_boundaries_in
    except ImportError:  # a tree from before the cache: every worker computes its own
        return
    from benchstone.paths import Home

    keep_boundaries_in(Home(directory))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--power-trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="alpha 0.01 only")
    parser.add_argument("--alpha", type=float, action="append", choices=ALPHAS,
                        help="only this alpha (repeatable; default: both)")
    parser.add_argument("--only", choices=("errors", "power", "cases"), default=None)
    parser.add_argument("--boundaries", type=Path, default=None,
                        help="keep computed boundaries in this directory (shared by workers)")
    args = parser.parse_args()
    if args.boundaries:
        _keep_boundaries(args.boundaries)
    started = time.monotonic()
    above: list[str] = []
    with ProcessPoolExecutor(args.workers, initializer=_keep_boundaries,
                             initargs=(args.boundaries,)) as pool:
        if args.only in (None, "errors"):
            alphas = tuple(args.alpha or (ALPHAS[:1] if args.quick else ALPHAS))
            above = false_promote_tables(pool, args.trials, alphas, args.power_trials)
        if args.only in (None, "power"):
            power_tables(pool, args.power_trials)
    if args.only in (None, "cases"):
        next_baseline_bias(args.power_trials * 2)
        numbers()
    print(f"\ncells above alpha (+2 s.e.): {len(above)}")
    for line in above:
        print(f"  {line}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if above else 0


if __name__ == "__main__":
    sys.exit(main())
