"""The verdict a gate hands to a script, and the exit code each kind maps to."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from benchstone.kinds import (
    EXPECT_MISMATCH_EXIT,
    UNKNOWN_VERDICT_EXIT,
    VERDICT_EXIT_CODES,
    VerdictKind,
    exit_code_for,
)
from benchstone.stats.basic import relative_improvement

__all__ = [
    "EXPECT_MISMATCH_EXIT", "UNKNOWN_VERDICT_EXIT", "VERDICT_EXIT_CODES", "Sample",
    "SequentialSummary", "Verdict", "VerdictKind", "exit_code_for",
]


class Sample(BaseModel):
    """One side of a comparison."""

    model_config = ConfigDict(frozen=True)

    git_sha: str
    run_set_ids: list[int]
    meta_seed: int | None = None
    n: int
    n_errors: int = 0
    values: list[float] = Field(default_factory=list)
    mean: float | None = None
    se: float | None = None
    median: float | None = None
    dirty: bool = False


class SequentialSummary(BaseModel):
    """Where a sequential verdict stands: the look it refers to, out of how many, and why."""

    model_config = ConfigDict(frozen=True)

    test: str
    look: int
    runs: int
    horizon: int
    boundary: float | None = None
    conditional_power: float | None = None
    # the baseline grows (baseline_grows): look m used the first max(baseline_first, m)
    # baseline runs; None: a fixed baseline
    baseline_first: int | None = None


class Verdict(BaseModel):
    """What ``evaluate`` says, and why. The fields of the original's Verdict are kept."""

    kind: VerdictKind
    project: str
    benchmark: str
    tier: str
    policy: str | None = None
    direction: str | None = None
    reason: str = ""
    statistic: float | None = None
    statistic_name: str | None = None
    threshold: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    effect: float | None = None
    effect_ci: tuple[float, float] | None = None
    sequential: SequentialSummary | None = None
    metric_source: str = "runner"
    baseline: Sample | None = None
    candidate: Sample | None = None
    details: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # the original Verdict's fields, for scripts written against it
    sigma: float | None = None
    baseline_mean: float | None = None
    baseline_se: float | None = None
    candidate_mean: float | None = None
    candidate_se: float | None = None

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.kind)

    @property
    def improvement(self) -> float | None:
        """How much better the candidate is, as a fraction of the baseline (0.05: 5 % better,
        below 0: worse). The gate's own estimate where it has one (``effect``), else the change
        of the means. Every report (text, GitHub, OpenEvolve) shows this one number."""
        if self.effect is not None:
            return self.effect
        b = self.baseline_mean if self.baseline_mean is not None else (
            self.baseline.mean if self.baseline else None)
        c = self.candidate_mean if self.candidate_mean is not None else (
            self.candidate.mean if self.candidate else None)
        if b is None or c is None or self.direction not in ("minimize", "maximize"):
            return None
        value = relative_improvement(b, c, self.direction)
        return value if math.isfinite(value) else None

    @property
    def baseline_failed(self) -> bool:
        """NO_BASELINE for a baseline that is on record but whose repetitions failed or never
        finished (a missing baseline has no sample): not a baseline yet to be set, but a
        benchmark that cannot be promoted at this commit."""
        return self.kind == VerdictKind.NO_BASELINE and self.baseline is not None

    @property
    def failures_withhold_promotion(self) -> bool:
        """Candidate repetitions at the commit failed: the calibrated gates never judge only the
        runs that succeeded, so no further run at this commit can lead to PROMOTE."""
        return self.candidate is not None and self.candidate.n_errors > 0
