"""Exact decisions on exact data, extreme numbers, and the boundaries kept between processes.

Pure functions (and one temporary state directory); the Monte Carlo calibration is in
tests/test_gate_calibration.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from benchstone.evaluate.boundary_cache import StateDirectoryBoundaries
from benchstone.gates.policies import GateSettings
from benchstone.gates.sequential import decide_paired_sequential, decide_sequential
from benchstone.gates.wording import signed_percent
from benchstone.paths import Home
from benchstone.stats import sequential as sq

DETERMINISTIC = GateSettings("welch", "minimize", deterministic=True)


@pytest.mark.parametrize("decide", [decide_sequential, decide_paired_sequential])
def test_a_deterministic_gain_is_promoted_at_two_runs_a_side(decide) -> None:
    decision = decide([10.0, 10.0], [9.0, 9.0], DETERMINISTIC, 20)
    assert decision.kind == "PROMOTE" and decision.effect == pytest.approx(0.1)
    assert "exact, deterministic" in decision.reason


@pytest.mark.parametrize("decide", [decide_sequential, decide_paired_sequential])
def test_an_unchanged_deterministic_program_is_never_promoted(decide) -> None:
    unchanged = decide([10.0, 10.0], [10.0, 10.0], DETERMINISTIC, 20)
    assert unchanged.kind == "REJECT"
    assert "improvement +0.0000%," in unchanged.reason  # no change, not a negative zero
    assert signed_percent(-1e-6) == "+0.00%" and signed_percent(-2e-4) == "-0.02%"
    worse = decide([10.0, 10.0], [10.5, 10.5], DETERMINISTIC, 20)
    assert worse.kind == "REJECT" and worse.effect == pytest.approx(-0.05)


def test_a_gain_must_clear_the_resolution_and_min_effect() -> None:
    tolerant = replace(DETERMINISTIC, resolution=0.02)
    assert decide_sequential([10.0, 10.1], [9.85, 9.9], tolerant, 20).kind == "REJECT"  # 1.5 %
    assert decide_sequential([10.0, 10.1], [9.0, 9.05], tolerant, 20).kind == "PROMOTE"
    picky = replace(DETERMINISTIC, min_effect=0.2)
    assert decide_sequential([10.0, 10.0], [9.0, 9.0], picky, 20).kind == "REJECT"


def test_an_exact_baseline_at_zero_is_improved_on_relative_to_its_magnitude() -> None:
    """Relative to 0 itself any change would be infinitely better and clear any min_effect: a
    baseline at 0 is measured against 1 (its mean magnitude, when it has one), as in the
    sequential test."""
    maximize = GateSettings("welch", "maximize", deterministic=True, min_effect=0.05)
    tiny = decide_sequential([0.0, 0.0], [1e-12, 1e-12], maximize, 20)
    assert tiny.kind == "REJECT" and tiny.effect == pytest.approx(1e-12)
    assert "better, but by less than min_effect" in tiny.reason
    clear = decide_sequential([0.0, 0.0], [0.5, 0.5], maximize, 20)
    assert clear.kind == "PROMOTE" and clear.effect == pytest.approx(0.5)


def test_a_deterministic_side_that_varies_is_named() -> None:
    decision = decide_sequential([10.0, 10.0], [9.0, 9.5], DETERMINISTIC, 20)
    assert decision.kind == "NEEDS_MORE_DATA"
    assert "declared deterministic but its candidate values vary by 0.0526" in decision.reason


def test_a_resolution_alone_decides_exactly_only_within_it() -> None:
    s = GateSettings("rank", "maximize", resolution=0.001)
    assert decide_sequential([5.0, 5.001], [6.0, 6.0], s, 20).kind == "PROMOTE"
    noisy = decide_sequential([5.0, 5.5, 4.7], [6.0, 6.4], s, 20)  # beyond it: sequential
    assert noisy.sequential is not None


@pytest.mark.slow
def test_constant_samples_without_a_declaration_are_not_taken_as_exact() -> None:
    """Two 0/1 samples repeat by chance: without deterministic or a resolution, 2 v 2
    constant and different is not a PROMOTE."""
    decision = decide_sequential([1.0, 1.0], [0.0, 0.0], GateSettings("welch", "minimize"), 20)
    assert decision.kind != "PROMOTE" and decision.sequential is not None


@pytest.mark.parametrize("scale", [1e-300, 1e-6, 1.0, 1e150, 1e200])
@pytest.mark.parametrize("policy", ["welch", "rank"])
def test_no_scale_changes_the_verdict(policy: str, scale: float) -> None:
    baseline = [1.0, 1.02, 0.99, 1.01, 0.98, 1.0, 1.03, 0.97, 1.01, 0.99]
    candidate = [0.9, 0.91, 0.89, 0.905, 0.895, 0.9, 0.92, 0.88]
    s = GateSettings(policy, "minimize", alpha=0.01)
    reference = decide_sequential(baseline, candidate, s, 20)
    scaled = decide_sequential([v * scale for v in baseline], [v * scale for v in candidate], s, 20)
    assert scaled.kind == reference.kind == "PROMOTE"
    assert scaled.effect == pytest.approx(reference.effect, rel=1e-9)
    assert scaled.sequential.look == reference.sequential.look


def test_a_baseline_centred_on_zero_can_be_improved_on() -> None:
    baseline = [-0.02, -0.01, 0.0, 0.01, 0.02, -0.015, 0.015, -0.005, 0.005, 0.0]
    candidate = [v - 0.1 for v in baseline[:8]]
    decision = decide_sequential(baseline, candidate, GateSettings("welch", "minimize"), 20)
    assert decision.kind == "PROMOTE" and math.isfinite(decision.effect) and decision.effect > 0


def test_boundaries_are_kept_and_a_file_that_does_not_fit_is_recomputed(tmp_path) -> None:
    design = sq.Design("rank", 8, 0.05, 6)
    store = StateDirectoryBoundaries(Home(tmp_path))
    sq.boundaries.cache_clear()
    sq.use_store(store)
    try:
        computed = sq.boundaries(design)
        path = store.directory / f"{sq.design_key(design)}.json"
        assert json.loads(path.read_text()) == list(computed)
        assert path.stat().st_mode & 0o777 == 0o600
        path.write_text(json.dumps([0.5] * 8))  # looser than alpha: never trusted
        sq.boundaries.cache_clear()
        assert sq.boundaries(design) == computed
        assert json.loads(path.read_text()) == list(computed)
    finally:
        sq.use_store(None)
        sq.boundaries.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize(("n_baseline", "horizon", "alpha"),
                         [(2, 10, 0.05), (3, 10, 0.05), (4, 10, 0.01), (5, 10, 0.01)])
def test_the_register_check_agrees_with_the_simulated_boundaries(n_baseline: int, horizon: int,
                                                                 alpha: float) -> None:
    design = sq.Design("rank", horizon, alpha, n_baseline)
    assert sq.rank_can_promote(n_baseline, horizon, alpha) == sq.can_promote(design)


@pytest.mark.slow
@pytest.mark.parametrize(("n_baseline", "horizon", "alpha"),
                         [(2, 12, 0.01), (2, 15, 0.01), (3, 6, 0.01), (3, 7, 0.01),
                          (2, 4, 0.05), (2, 5, 0.05)])
def test_the_welch_register_check_agrees_with_the_simulated_boundaries(
        n_baseline: int, horizon: int, alpha: float) -> None:
    design = sq.Design("welch", horizon, alpha, n_baseline)
    assert sq.welch_can_promote(n_baseline, horizon, alpha) == sq.can_promote(design)
