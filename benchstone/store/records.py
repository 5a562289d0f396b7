"""The stored records, as pydantic models: what the store returns and the API hands out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["ok", "error"]
# "calibrate": bench calibrate's repetitions, on record but never a gate's evidence
RunSetKind = Literal["run", "baseline", "compare", "calibrate"]
FailureKind = Literal[
    "runner_exit",  # the invocation exited non-zero without a usable result
    "no_result",  # no result file
    "invalid_result",  # result file broke the protocol
    "runner_error",  # the runner reported status "error"
    "timeout",
    "out_of_memory",
    "scratch_limit",  # wrote more than the scratch budget
    "artifact",  # correctness artifact missing, unreadable or too large
    "instruction_count",  # harness_instructions: Valgrind's count is missing or incomplete
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Registration(_Record):
    id: int
    project: str
    path: str
    manifest_sha256: str
    manifest_file: str
    registered_at: str
    host: str
    user: str
    caller: str | None = None  # who asked (migration 0005); None on older rows


class Unregistration(_Record):
    """``bench unregister``: the registration it ended. Registering again starts a new one."""

    id: int
    project: str
    registration_id: int
    at: str
    user: str
    host: str


class RunSet(_Record):
    """One invocation of ``run``, ``baseline establish`` or one side of ``compare``."""

    id: int
    project: str
    benchmark: str
    kind: RunSetKind
    git_sha: str
    git_dirty: bool
    diff_path: str | None = None
    meta_seed: int | None = None
    repetitions: int
    seeds: list[int]
    sandbox: str
    image: str | None = None
    image_id: str | None = None
    env_hash: str
    environment: dict[str, Any]
    cpuset: str | None = None
    gpus: str | None = None
    protected_hash: str | None = None
    protected_files: dict[str, str] = Field(default_factory=dict)
    manifest_sha256: str
    job_id: str | None = None
    comparison_id: int | None = None
    side: Literal["baseline", "candidate"] | None = None
    host: str
    user: str
    created_at: str
    tree_sha: str | None = None  # None for run sets recorded before trees were
    # the caller chose the seeds (--meta-seed): a reproduction, never gate evidence; NULL in
    # a run set recorded before the column reads as False
    caller_seeds: bool = False
    runtime: str | None = None  # the container runtime (runc, runsc); None: process, or older


class Comparison(_Record):
    """One ``bench compare``: the baseline and candidate run sets it ran side by side."""

    id: int
    project: str
    benchmark: str
    baseline_sha: str
    candidate_sha: str
    pairs: int
    created_at: str
    design: str | None = None  # "alternating" or "duet"; None (older rows): alternating


class Run(_Record):
    """One repetition: one row of the append-only ``runs`` table."""

    id: int
    run_set_id: int
    project: str
    benchmark: str
    git_sha: str
    git_dirty: bool
    seed: int
    repetition: int
    status: RunStatus
    metric: float | None = None
    metric_components: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    message: str | None = None
    failure: FailureKind | None = None
    exit_code: int | None = None
    wall_clock_seconds: float | None = None
    harness_wall_seconds: float | None = None
    harness_cpu_seconds: float | None = None
    harness_instructions: int | None = None
    artifact_sha256: str | None = None
    artifact_size: int | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    sandbox: str
    image_id: str | None = None
    cpuset: str | None = None
    host: str
    started_at: str
    finished_at: str
    runtime: str | None = None  # the container runtime (runc, runsc); None: process, or older

    def gated_value(self, source: str) -> float | None:
        """The number a gate uses for this row under ``metric_source`` = ``source``."""
        if self.status != "ok":
            return None
        if source == "harness_wall":
            return self.harness_wall_seconds
        if source == "harness_cpu":
            return self.harness_cpu_seconds
        if source == "harness_instructions":
            return None if self.harness_instructions is None else float(self.harness_instructions)
        return self.metric


class BaselinePointer(_Record):
    id: int
    project: str
    benchmark: str
    run_set_id: int
    git_sha: str
    meta_seed: int | None = None
    action: Literal["establish", "promote"]
    forced: bool = False
    verdict: str | None = None
    notes: str | None = None
    created_at: str
    user: str
    host: str


class ReferenceEvent(_Record):
    id: int
    project: str
    benchmark: str
    action: Literal["freeze", "replace"]
    git_sha: str
    run_id: int
    old_sha256: str | None = None
    new_sha256: str
    reason: str | None = None
    notes: str | None = None
    created_at: str
    user: str
    host: str


class Job(_Record):
    id: str
    project: str
    benchmark: str
    command: str
    spec_path: str
    threads: int
    gpu: str
    repetitions: int
    expected_seconds: float | None = None
    created_at: str
    host: str
    user: str


class JobEvent(_Record):
    id: int
    job_id: str
    state: Literal["queued", "running", "done", "failed", "cancelled", "lost"]
    pid: int | None = None
    pid_start: str | None = None
    cores: str | None = None
    gpus: str | None = None
    message: str | None = None
    at: str


class Corpus(_Record):
    id: int
    name: str
    sha256: str
    path: str
    source: str
    added_at: str
    user: str
    host: str
    caller: str | None = None  # who asked (migration 0005); None on older rows
