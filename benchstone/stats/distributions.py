"""The normal and Student t distributions, in plain Python.

One evaluation needs a handful of tail probabilities and quantiles; importing ``scipy.special``
for them cost about 0.3 s, a quarter of a warm ``bench evaluate``. The functions here agree
with scipy to about 1e-12 relative (``tests/test_distributions.py`` holds them to it). The ``*_array`` forms
take numpy arrays, computed here element by element until that would cost more than importing
scipy (a t tail costs about 20 us here, a normal one 0.3 us): from then on, and whenever scipy
is loaded already (the Monte Carlo paths behind the sequential boundaries), by scipy.

The t tail is the regularized incomplete beta function, P(T >= t) = I_x(df/2, 1/2) / 2 with
x = df / (df + t^2) for t > 0, evaluated by its continued fraction (DLMF 8.17.22) with the
modified Lentz method.
"""

from __future__ import annotations

import math
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# What computing here costs, in units of a normal tail (about 0.3 us): importing scipy costs
# about 0.3 s, a t tail about 70 units, a normal quantile (a few Newton steps) about 25.
SCIPY_IMPORT_COST = 1_000_000
T_COST = 70
QUANTILE_COST = 25
_spent_here = 0
_TINY = 1e-300
_EPSILON = 1e-15
_MAX_TERMS = 20_000
# The continued fraction loses digits as the degrees of freedom grow (1e-13 relative at 1e4,
# 3e-9 at 1e8); no run count comes near, and beyond it scipy answers.
LARGE_DF = 1e4


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def normal_quantile(p: float) -> float:
    """The z with P(Z <= z) = p: -inf at 0, inf at 1, nan outside [0, 1]."""
    if math.isnan(p) or p < 0 or p > 1:
        return math.nan
    if p == 0:
        return -math.inf
    if p == 1:
        return math.inf
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return -_lower_normal_quantile(1 - p)
    return _lower_normal_quantile(p)


def _lower_normal_quantile(p: float) -> float:
    """The quantile for p <= 0.5: a rational start (Abramowitz and Stegun 26.2.23, error below
    4.5e-4), then Newton steps on the lower tail, which erfc computes to full relative
    precision."""
    s = math.sqrt(-2 * math.log(p))
    z = -(s - (2.515517 + 0.802853 * s + 0.010328 * s * s)
          / (1 + 1.432788 * s + 0.189269 * s * s + 0.001308 * s ** 3))
    for _ in range(8):
        density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        if density == 0:
            break
        step = (normal_cdf(z) - p) / density
        z -= step
        if abs(step) <= 1e-15 * max(1.0, abs(z)):
            break
    return z


def student_t_sf(t: float, df: float) -> float:
    """P(T >= t) for Student's t with ``df`` > 0 degrees of freedom (not necessarily whole);
    nan where either is nan or df <= 0."""
    if math.isnan(t) or math.isnan(df) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if df > LARGE_DF:
        from scipy import special

        return float(special.stdtr(df, -t))
    if t == 0:
        return 0.5
    square = t * t
    x, y = df / (df + square), square / (df + square)  # 1 - x, without cancelling
    half = 0.5 * _incomplete_beta_half(df / 2, x, y)
    return half if t > 0 else 1 - half


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t); the lower tail as exactly as the upper one."""
    return student_t_sf(-t, df)


def student_t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by Newton steps kept inside a bracket."""
    if math.isnan(p) or math.isnan(df) or df <= 0 or p < 0 or p > 1:
        return math.nan
    if p == 0:
        return -math.inf
    if p == 1:
        return math.inf
    if df > LARGE_DF:
        from scipy import special

        return float(special.stdtrit(df, p))
    if p > 0.5:
        return -student_t_quantile(1 - p, df)
    if p == 0.5:
        return 0.0
    low, high = -1.0, 0.0
    while student_t_cdf(low, df) > p:  # the t's tails are heavier: widen the bracket
        high, low = low, low * 4
    t = max(min(normal_quantile(p), high), low)
    log_scale = -_log_beta_half(df / 2) - 0.5 * math.log(df)
    for _ in range(200):
        excess = student_t_cdf(t, df) - p
        if excess == 0:
            return t
        if excess > 0:
            high = t
        else:
            low = t
        density = math.exp(log_scale - (df + 1) / 2 * math.log1p(t * t / df))
        step = excess / density if density > 0 else math.inf
        if low < t - step < high:
            t -= step
            if abs(step) <= 1e-15 * abs(t):
                return t
        else:
            t = (low + high) / 2
        if high - low <= 1e-15 * abs(t):
            return t
    return t


def _incomplete_beta_half(a: float, x: float, y: float) -> float:
    """I_x(a, 1/2), the regularized incomplete beta function, with y = 1 - x given exactly."""
    b = 0.5
    if x <= 0:
        return 0.0
    if y <= 0:
        return 1.0
    log_x = math.log1p(-y) if x > 0.5 else math.log(x)
    log_y = math.log1p(-x) if y > 0.5 else math.log(y)
    log_front = a * log_x + b * log_y - _log_beta_half(a)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, y) / b


def _log_beta_half(a: float) -> float:
    """log B(a, 1/2) = log Gamma(1/2) + log Gamma(a) - log Gamma(a + 1/2). For large a the
    difference of two large log-gammas would cancel away most digits: there the difference of
    their Stirling series is taken term by term instead."""
    if a < 8:
        return math.lgamma(0.5) + math.lgamma(a) - math.lgamma(a + 0.5)
    h = a + 0.5
    ratio = 0.5 * math.log(a) + a * math.log1p(0.5 / a) - 0.5  # log Gamma(h) - log Gamma(a)
    for k, c in ((1, 1 / 12), (3, -1 / 360), (5, 1 / 1260), (7, -1 / 1680), (9, 1 / 1188)):
        ratio += c * (h ** -k - a ** -k)
    return math.lgamma(0.5) - ratio


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), converging fast for x < (a + 1) / (a + b + 2)."""
    def guarded(value: float) -> float:
        return value if abs(value) > _TINY else _TINY

    c = 1.0
    d = 1 / guarded(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, _MAX_TERMS):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1 / guarded(1 + even * d)
        c = guarded(1 + even / c)
        fraction *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 / guarded(1 + odd * d)
        c = guarded(1 + odd / c)
        step = d * c
        fraction *= step
        if abs(step - 1) < _EPSILON:
            break
    return fraction


def _scipy_special(cost: int) -> ModuleType | None:
    """``scipy.special`` when it is loaded already, or when computing ``cost`` more units here
    would bring this process past the cost of importing it; None to
    compute here."""
    global _spent_here
    if "scipy.special" not in sys.modules and _spent_here + cost <= SCIPY_IMPORT_COST:
        _spent_here += cost
        return None
    from scipy import special

    return special


def student_t_sf_array(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    """``student_t_sf`` element by element over broadcast arrays."""
    import numpy as np

    t, df = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    special = _scipy_special(T_COST * t.size)
    if special is not None:
        return special.stdtr(df, -t)
    return np.array([student_t_sf(a, b) for a, b in zip(t.ravel().tolist(),
                                                       df.ravel().tolist(), strict=True)],
                    dtype=float).reshape(t.shape)


def normal_sf_array(z: np.ndarray) -> np.ndarray:
    """``normal_sf`` element by element."""
    import numpy as np

    z = np.asarray(z, dtype=float)
    special = _scipy_special(z.size)
    if special is not None:
        return special.ndtr(-z)
    return np.array([normal_sf(v) for v in z.ravel().tolist()], dtype=float).reshape(z.shape)


def normal_quantile_array(p: np.ndarray) -> np.ndarray:
    """``normal_quantile`` element by element."""
    import numpy as np

    p = np.asarray(p, dtype=float)
    special = _scipy_special(QUANTILE_COST * p.size)
    if special is not None:
        return special.ndtri(p)
    return np.array([normal_quantile(v) for v in p.ravel().tolist()],
                    dtype=float).reshape(p.shape)
