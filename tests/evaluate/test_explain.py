"""``explain``: the lines a person reads for a PROMOTE, a REJECT and a NEEDS_MORE_DATA verdict
(both samples plotted, the test, the decision, the power), and the pure pieces behind them."""

from __future__ import annotations

import statistics
from collections.abc import Iterator

import pytest
from stored_runs import StoredRuns, stored_runs, wobbled

from benchstone.evaluate.explain import (
    detectable_effect,
    explain,
    explanation_lines,
    power_of,
    strip_plot,
)

BASELINE = wobbled(10.0, 10)
QUALITY = wobbled(1.0, 10)


@pytest.fixture
def state(make_project, home) -> Iterator[StoredRuns]:
    with stored_runs(make_project, home) as recorded:
        yield recorded


def row(lines: list[str], label: str) -> str:
    return next(line for line in lines if line.startswith(f"{label} ["))


def marks(plot_row: str) -> str:
    return plot_row[plot_row.index("[") + 1:plot_row.index("]")]


def test_a_promote_names_both_samples_the_test_and_the_decision(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    candidate = wobbled(8.0, 5)
    state.record("speedw", candidate)
    verdict = state.evaluate("speedw")
    assert verdict.kind == "PROMOTE"
    explanation = explain(verdict, state.bench("speedw"))
    lines = explanation_lines(explanation)
    assert lines[0] == f"verdict: PROMOTE  {verdict.reason}" and lines[1] == ""
    assert lines[2].split() == [f"{min(candidate):.5g}", f"{max(BASELINE):.5g}"]  # the axis
    baseline_row, candidate_row = row(lines, "baseline "), row(lines, "candidate")
    assert baseline_row.endswith(f"n=10 median {statistics.median(BASELINE):.5g}")
    assert candidate_row.endswith(f"n=5 median {statistics.median(candidate):.5g}")
    # one axis: the faster candidate's runs all sit left of every baseline run
    candidate_marks, baseline_marks = marks(candidate_row), marks(baseline_row)
    assert len(candidate_marks) == len(baseline_marks) == 56
    assert candidate_marks[0] != " " and baseline_marks[-1] != " "  # the ends of the axis
    assert len(candidate_marks.rstrip()) < len(baseline_marks) - len(baseline_marks.lstrip())
    assert "<- better" in lines[5] and lines[5].endswith("(minimize)")
    summary = verdict.sequential
    assert lines[7:10] == [
        "test: one-sided Welch t-test of the means of log values (log_scale)",
        "test: assumes: independent runs with roughly normal (log-normal) noise; unequal "
        "variances are allowed (the boundaries hold for a spread ratio of 1/4 to 4); tied "
        "values are judged by the rank test; a crossing promotes only when the exact rank "
        "test of the same look confirms it, which holds the level for any noise shape (bimodal "
        "included) that is the same on both sides",
        "test: sequential: the test is repeated after every run up to 12 (max_repetitions); "
        "alpha 0.01 is spent across the looks, so the false-promote rate stays <= 0.01 however "
        f"often it is run and asked; now at look {summary.look} of 5 run(s), boundary p <= "
        f"{summary.boundary:.4g}",
    ]
    assert lines[10].startswith("noise: runs vary by about ")
    assert lines[11].startswith("smallest improvement detected with 80% power with 10 v 5 runs "
                                "at this look's boundary: ")
    assert len(lines) == 12  # a baseline of 10 runs: no note about its size
    assert explanation.detectable_effect is not None and explanation.detectable_effect < 0.2
    assert explanation.power_at_min_effect is None  # no min_effect


def test_a_reject_explains_the_rank_test_for_a_maximized_metric(state: StoredRuns) -> None:
    state.establish("qualityr", QUALITY)
    state.commit("src/quality.txt", "8.0\n")
    state.record("qualityr", wobbled(0.8, 6))
    verdict = state.evaluate("qualityr")
    assert verdict.kind == "REJECT"
    lines = explanation_lines(explain(verdict, state.bench("qualityr")))
    assert lines[0] == f"verdict: REJECT  {verdict.reason}"
    assert "the candidate is worse" in lines[0]
    assert row(lines, "baseline ").endswith(f"n=10 median {statistics.median(QUALITY):.5g}")
    assert row(lines, "candidate").endswith("n=6 median 0.80228")
    assert any("better ->" in line and line.endswith("(maximize)") for line in lines)
    assert ("test: one-sided Mann-Whitney rank test (exact distribution; ties count as not "
            "better in the sequential looks, which only makes it stricter)") in lines
    assert ("test: assumes: independent runs; no assumption about the shape of the noise (the "
            "boundaries also hold when the spreads differ, by a ratio of 1/4 to 4)") in lines
    assert any(line.startswith("test: sequential: ") and "now at look 6 of 6 run(s)" in line
               for line in lines)


def test_needs_more_data_with_one_run_says_no_power_yet(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit()
    state.record("speedw", [8.0])
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    explanation = explain(verdict, state.bench("speedw"))
    lines = explanation_lines(explanation)
    assert lines[0] == ("verdict: NEEDS_MORE_DATA  welch (sequential): 1 observation(s), need "
                        "at least 2")
    assert row(lines, "candidate").endswith("n=1 median 8")
    assert any(line.startswith("test: sequential: ") and line.endswith(
        "now at look 1 of 1 run(s), no promotion possible at this look") for line in lines)
    assert lines[-1] == "power: needs at least 2 positive values on each side"
    assert explanation.detectable_effect is None


def test_an_undecided_verdict_states_the_power_it_has(state: StoredRuns) -> None:
    state.establish("speedw", BASELINE)
    state.commit("src/speed.txt", "9.8\n")
    state.record("speedw", wobbled(9.8, 3))
    verdict = state.evaluate("speedw")
    assert verdict.kind == "NEEDS_MORE_DATA"
    bench = state.bench("speedw").model_copy(update={"min_effect": 0.05})
    explanation = explain(verdict, bench)
    lines = explanation_lines(explanation)
    assert lines[0].startswith("verdict: NEEDS_MORE_DATA  welch (sequential, look 3 of at most "
                               "12): undecided after 3 of at most 12: run more")
    assert "test: PROMOTE also needs an estimated improvement >= min_effect 5.00%" in lines
    power = explanation.power_at_min_effect
    assert power is not None and 0 < power < 1
    assert (f"power to detect min_effect 5.00% with 10 v 3 runs at this look's boundary: "
            f"{power:.0%}") in lines


def test_a_seed_gate_states_its_nominal_level_and_the_small_baseline(state: StoredRuns) -> None:
    state.establish("speed", wobbled(10.0, 5))
    state.commit()
    state.record("speed", wobbled(8.0, 5), dirty=True)
    verdict = state.evaluate("speed", include_dirty=True)
    assert verdict.kind == "PROMOTE"
    lines = explanation_lines(explain(verdict, state.bench("speed")))
    assert ("test: the original benchstone's sigma gate: difference of means over its standard "
            "error, compared with promotion_sigma") in lines
    detectable = next(line for line in lines if line.startswith("smallest improvement"))
    assert "with 5 v 5 runs at threshold 2 (nominally 2.3%): " in detectable
    assert ("the baseline has 5 run(s); its own noise bounds what any number of candidate runs "
            "can show (a larger baseline_seeds helps)") in lines
    assert lines[-1] == "warning: the candidate was recorded on a dirty tree (--include-dirty)"


def test_a_correctness_verdict_has_no_statistics(state: StoredRuns) -> None:
    verdict = state.evaluate("output")
    assert verdict.kind == "NO_REFERENCE"
    explanation = explain(verdict, state.bench("output"))
    assert explanation.test == ["the candidate's artifact is compared with the frozen reference "
                                "(byte_equivalence); no statistics"]
    assert explanation.plot == ["(no values to plot)"] and explanation.power == []


def test_strip_plot_stacks_runs_and_marks_an_empty_median() -> None:
    lines = strip_plot([("a", [1.0, 1.0, 1.0, 2.0]), ("bb", [1.0, 3.0])], "maximize", width=10)
    assert lines == [
        "    1        3",
        "a  [O   .     ] n=4 median 1",
        "bb [.   |    .] n=2 median 2",
        "    better ->  (maximize)",
    ]


def test_power_is_the_level_without_an_effect_and_grows_with_it() -> None:
    assert power_of(0.0, 0.02, 10, 10, 0.05) == pytest.approx(0.05)
    assert power_of(0.01, 0.02, 10, 10, 0.05) < power_of(0.03, 0.02, 10, 10, 0.05)
    assert power_of(0.01, 0.02, 10, 10, 0.05, rank=True) < power_of(0.01, 0.02, 10, 10, 0.05)
    assert power_of(0.5, 0.02, 1, 10, 0.05) == 0.0  # a single run has no spread to go on
    smallest = detectable_effect(0.02, 10, 10, 0.05)
    assert power_of(smallest, 0.02, 10, 10, 0.05) == pytest.approx(0.8, abs=1e-6)
    assert detectable_effect(0.02, 10, 10, 0.0) is None  # no promotion possible at all
