"""Monte Carlo of the calibrated gates through the project's own decision functions.

Every trial calls ``decide_sequential`` (what ``evaluate`` and ``run --until-decided`` call) or
``decide_paired_sequential`` (what ``compare`` calls) on simulated values; nothing here applies
a boundary or computes a p-value itself. Two agents:

- *until green*: evaluates after every repetition up to the horizon and stops at the first
  PROMOTE, ignoring REJECT (re-running until green). Its PROMOTE rate on an unchanged program
  is the false-promote rate. Since a verdict's PROMOTE depends only on looks already made, it
  is PROMOTE after some repetition exactly when it is PROMOTE after the last; ``agent_green``
  checks that equivalence literally on the first ``LITERAL`` trials of every cell, then uses
  the last evaluation.
- *until decided*: ``run --until-decided`` / ``compare --until-decided``: stops at the first
  verdict that is not NEEDS_MORE_DATA. Its PROMOTE rate on a real gain is the power, and the
  repetitions it used are the cost.

Noise families (``FAMILIES``) draw metric values (a ``minimize`` metric around 100 unless
stated); a gain g scales the candidate by (1 - g). Used by tests/perf/perf_calibration.py (the
full tables) and tests/test_gate_calibration.py (the seeded suite in ``make test``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from benchstone.gates.policies import GateSettings
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential

HORIZON = 20
LITERAL = 5  # trials per cell replayed look by look to check the shortcut


def _lognormal_sigma(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


Draw = Callable[[np.random.Generator, int, str], np.ndarray]


def _normal(cv: float) -> Draw:
    return lambda rng, n, side: 100 + 100 * cv * rng.standard_normal(n)


def _lognormal(cv: float) -> Draw:
    s = _lognormal_sigma(cv)
    return lambda rng, n, side: 100 * np.exp(s * rng.standard_normal(n))


def _spread(ratio: float) -> Draw:
    """Same mean, the candidate's standard deviation ``ratio`` times the baseline's (3)."""
    return lambda rng, n, side: 100 + 3 * (ratio if side == "c" else 1) * rng.standard_normal(n)


FAMILIES: dict[str, Draw] = {
    "normal 3%": _normal(0.03),
    "normal 20%": _normal(0.20),
    "lognormal 3%": _lognormal(0.03),
    "lognormal 20%": _lognormal(0.20),
    "t3": lambda rng, n, side: 100 + 3 * rng.standard_t(3, n),
    "bimodal": lambda rng, n, side: 100 + 10 * rng.integers(0, 2, n) + rng.standard_normal(n),
    "bernoulli": lambda rng, n, side: 100 + rng.integers(0, 2, n).astype(float),
    "sparse bernoulli": lambda rng, n, side: 100 + (rng.random(n) < 0.1).astype(float),
    "poisson": lambda rng, n, side: rng.poisson(4, n).astype(float) + 1,
    "rounded": lambda rng, n, side: np.round(100 + rng.standard_normal(n)),
    "sd ratio 0.25": _spread(0.25),
    "sd ratio 4": _spread(4.0),
    "skew (exponential)": lambda rng, n, side: 100 + 20 * rng.exponential(1.0, n),
}


@dataclass(frozen=True)
class Policy:
    name: str
    settings: GateSettings


def policy(name: str, alpha: float, min_effect: float = 0.0,
           direction: str = "minimize") -> Policy:
    """``welch``, ``welch log`` or ``rank`` (unpaired; the paired test follows the policy)."""
    test = name.split()[0]
    return Policy(name, GateSettings(test, direction, alpha=alpha, min_effect=min_effect,
                                     log_scale=name.endswith("log")))


def _kind(decision) -> str:
    return str(decision.kind)


# ---- unpaired: evaluate / run --until-decided --------------------------------------------------

def agent_green(b: np.ndarray, c: np.ndarray, p: Policy, horizon: int = HORIZON,
                literal: bool = False) -> bool:
    """Did an agent re-running until green ever see PROMOTE (evaluate after every run)?"""
    if literal:
        return any(_kind(decide_sequential(b.tolist(), c[:m].tolist(), p.settings, horizon))
                   == "PROMOTE" for m in range(1, len(c) + 1))
    return _kind(decide_sequential(b.tolist(), c.tolist(), p.settings, horizon)) == "PROMOTE"


def agent_decided(b: np.ndarray, c: np.ndarray, p: Policy,
                  horizon: int = HORIZON) -> tuple[str, int]:
    """``run --until-decided``: (the first verdict that is not NEEDS_MORE_DATA, candidate runs)."""
    kind = "NEEDS_MORE_DATA"
    for m in range(1, min(len(c), horizon) + 1):
        kind = _kind(decide_sequential(b.tolist(), c[:m].tolist(), p.settings, horizon))
        if kind != "NEEDS_MORE_DATA":
            return kind, m
    return kind, min(len(c), horizon)


def false_promote(family: str, p: Policy, n_baseline: int, trials: int, seed: int,
                  horizon: int = HORIZON) -> tuple[int, int]:
    """(promotes, trials) of the until-green agent on an unchanged program."""
    rng = np.random.default_rng(seed)
    draw = FAMILIES[family]
    hits = 0
    for trial in range(trials):
        b = draw(rng, n_baseline, "b")
        c = draw(rng, horizon, "c")
        promoted = agent_green(b, c, p, horizon)
        if trial < LITERAL and promoted != agent_green(b, c, p, horizon, literal=True):
            raise AssertionError(f"{family}/{p.name}: PROMOTE was not monotone in the looks")
        hits += promoted
    return hits, trials


def power(family: str, p: Policy, n_baseline: int, gain: float, trials: int, seed: int,
          horizon: int = HORIZON) -> dict[str, float]:
    """The until-decided agent and the until-green agent on a candidate ``gain`` better."""
    rng = np.random.default_rng(seed)
    draw = FAMILIES[family]
    decided = green = runs = 0
    for _ in range(trials):
        b = draw(rng, n_baseline, "b")
        c = draw(rng, horizon, "c") * (1 - gain)
        kind, used = agent_decided(b, c, p, horizon)
        decided += kind == "PROMOTE"
        runs += used
        green += agent_green(b, c, p, horizon)
    return {"decided": decided / trials, "green": green / trials,
            "runs": n_baseline + runs / trials, "trials": trials}


# ---- paired: compare --------------------------------------------------------------------------

def paired_values(rng: np.random.Generator, family: str, pairs: int, gain: float,
                  order_effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs in random order; the half that runs second is ``order_effect`` * 3 lower (warmer)."""
    draw = FAMILIES[family]
    b = draw(rng, pairs, "b")
    c = draw(rng, pairs, "c") * (1 - gain)
    candidate_second = rng.random(pairs) < 0.5
    c = c - order_effect * 3 * candidate_second
    b = b - order_effect * 3 * ~candidate_second
    return b, c


def paired_false_promote(family: str, p: Policy, trials: int, seed: int,
                         order_effect: float = 0.0, horizon: int = HORIZON) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    hits = 0
    for trial in range(trials):
        b, c = paired_values(rng, family, horizon, 0.0, order_effect)
        promoted = _kind(decide_paired_sequential(b.tolist(), c.tolist(), p.settings,
                                                  horizon)) == "PROMOTE"
        if trial < LITERAL:
            literal = any(_kind(decide_paired_sequential(b[:m].tolist(), c[:m].tolist(),
                                                         p.settings, horizon)) == "PROMOTE"
                          for m in range(1, horizon + 1))
            if literal != promoted:
                raise AssertionError(f"paired {family}/{p.name}: PROMOTE not monotone")
        hits += promoted
    return hits, trials


def paired_power(family: str, p: Policy, gain: float, trials: int, seed: int,
                 horizon: int = HORIZON) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    decided = runs = 0
    for _ in range(trials):
        b, c = paired_values(rng, family, horizon, gain, 0.0)
        kind, used = "NEEDS_MORE_DATA", horizon
        for m in range(1, horizon + 1):
            kind = _kind(decide_paired_sequential(b[:m].tolist(), c[:m].tolist(), p.settings,
                                                  horizon))
            if kind != "NEEDS_MORE_DATA":
                used = m
                break
        decided += kind == "PROMOTE"
        runs += 2 * used
    return {"decided": decided / trials, "runs": runs / trials, "trials": trials}


def mc_error(rate: float, trials: int) -> float:
    """One Monte Carlo standard error of a rate."""
    return math.sqrt(max(rate * (1 - rate), 1e-12) / trials)


def above(hits: int, trials: int, alpha: float) -> bool:
    """Above alpha beyond two Monte Carlo standard errors."""
    return hits / trials > alpha + 2 * mc_error(alpha, trials)
