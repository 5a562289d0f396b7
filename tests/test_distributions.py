"""The plain-Python normal and t distributions against scipy.special, over the ranges the gates
use and beyond: tails down to 1e-300, fractional and large degrees of freedom."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from benchstone.stats import distributions

DEGREES = [0.3, 1, 1.5, 2, 3.7, 5, 7.9, 8, 8.1, 10, 29.3, 100, 1e3, 1e4, 1e5]
T_VALUES = [-60, -20, -8, -3, -1.5, -0.3, -1e-3, 0, 0.01, 0.5, 1, 2.5, 4, 7, 12, 25, 60, 300]
PROBABILITIES = [1e-15, 1e-10, 1e-6, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.7, 0.99, 1 - 1e-9]


@pytest.mark.parametrize("df", DEGREES)
def test_t_tail_is_scipys(df: float) -> None:
    for t in T_VALUES:
        expected = float(special.stdtr(df, -t))
        assert distributions.student_t_sf(t, df) == pytest.approx(expected, rel=2e-12, abs=1e-300)
        assert distributions.student_t_cdf(t, df) == pytest.approx(
            float(special.stdtr(df, t)), rel=2e-12, abs=1e-300)


@pytest.mark.parametrize("df", [0.7, 1, 2, 3.3, 8, 30, 1e3, 1e6])
def test_t_quantile_is_scipys(df: float) -> None:
    for p in PROBABILITIES:
        expected = float(special.stdtrit(df, p))
        assert distributions.student_t_quantile(p, df) == pytest.approx(expected, rel=1e-11)


def test_t_tail_of_the_cauchy_is_exact_near_zero() -> None:
    # with one degree of freedom P(T >= t) = 1/2 - atan(t)/pi, exact where t is tiny
    for t in (1e-9, -1e-8, 1e-4):
        assert distributions.student_t_sf(t, 1) == pytest.approx(0.5 - math.atan(t) / math.pi,
                                                                 rel=1e-15)


def test_normal_is_scipys() -> None:
    for p in [1e-300, 1e-100, 1e-15, 1e-6, 0.01, 0.3, 0.5, 0.6, 0.99, 1 - 1e-12]:
        assert distributions.normal_quantile(p) == pytest.approx(float(special.ndtri(p)),
                                                                 rel=1e-13, abs=1e-15)
    for z in [-38, -8, -1, 0, 0.5, 3, 9, 37]:
        assert distributions.normal_sf(z) == pytest.approx(float(special.ndtr(-z)), rel=1e-13)


def test_edges_are_those_of_a_distribution() -> None:
    assert distributions.student_t_sf(math.inf, 3) == 0.0
    assert distributions.student_t_sf(-math.inf, 3) == 1.0
    assert math.isnan(distributions.student_t_sf(math.nan, 3))
    assert math.isnan(distributions.student_t_sf(1.0, math.nan))
    assert math.isnan(distributions.student_t_sf(1.0, 0))
    assert distributions.student_t_quantile(0, 4) == -math.inf
    assert distributions.student_t_quantile(1, 4) == math.inf
    assert distributions.normal_quantile(0) == -math.inf
    assert math.isnan(distributions.normal_quantile(1.5))


def test_arrays_computed_here_are_scipys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The array forms element by element (as before scipy is loaded) agree with scipy, nan
    included (a t statistic with no spread), in the shape they were given."""
    monkeypatch.setattr(distributions, "_scipy_special", lambda cost: None)
    rng = np.random.default_rng(7)
    t = rng.normal(0, 4, (40, 25))
    df = rng.uniform(1, 40, (40, 1))
    t[3, 4] = math.nan
    here = distributions.student_t_sf_array(t, df)
    assert here.shape == (40, 25) and math.isnan(here[3, 4])
    np.testing.assert_allclose(here, special.stdtr(df, -t), rtol=2e-12, atol=1e-300)
    p = rng.uniform(1e-12, 1, 300)
    np.testing.assert_allclose(distributions.normal_quantile_array(p), special.ndtri(p),
                               rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(distributions.normal_sf_array(t), special.ndtr(-t), rtol=1e-13)


def test_scipy_is_loaded_once_computing_here_would_cost_more() -> None:
    """A handful of values is computed here; many more (a simulation) load scipy."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from benchstone.stats import distributions as d\n"
            "d.student_t_sf_array(np.ones(50), 5.0); d.normal_sf_array(np.ones(1000))\n"
            "print('scipy.special' in sys.modules)\n"
            "d.student_t_sf_array(np.ones(100_000), 5.0)\n"
            "print('scipy.special' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


def test_an_evaluation_imports_no_scipy() -> None:
    """The observed stream's p-values, interval and conditional power need no scipy."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from benchstone.stats import calibrated, looks, sequential\n"
        "c = np.array([[1.0, 1.2, 0.9, 1.1, 1.3]]); b = np.array([[0.8, 0.9, 1.0, 0.85]])\n"
        "looks.look_p_values('welch', c, b); calibrated.welch_tests(b, c)\n"
        "calibrated.welch_interval(0.1, 0.05, 6.5, 0.005)\n"
        "sequential.conditional_power_matrix(np.array([[0.5, 0.1]]), np.array([0.5, 1.0]), 0.01)\n"
        "print('scipy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
