"""The verdict a gate hands to a script, and the exit code each kind maps to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The kinds and exit codes live in a module without pydantic, for the command line's start.
from benchstone.gates.kinds import (  # noqa: F401
    EXPECT_MISMATCH_EXIT,
    UNKNOWN_VERDICT_EXIT,
    VERDICT_EXIT_CODES,
    VerdictKind,
    exit_code_for,
)


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


class Verdict(BaseModel):
    """What ``evaluate`` says, and why. The fields of the original's Verdict are kept."""

    kind: str
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
    def failures_withhold_promotion(self) -> bool:
        """Candidate repetitions at the commit failed: the calibrated gates never judge only the
        runs that succeeded, so no further run at this commit can lead to PROMOTE."""
        return self.candidate is not None and self.candidate.n_errors > 0
