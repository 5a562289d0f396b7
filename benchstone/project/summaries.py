"""What ``bench register`` and ``bench list`` report of a project: its benchmarks, their
baselines, references and corpus status."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from benchstone.project import registry
from benchstone.store import Store


class BenchmarkSummary(BaseModel):
    name: str
    tier: str
    gate_policy: str | None
    sandbox: str | None
    baseline_sha: str | None = None
    reference_sha256: str | None = None
    corpus: str
    corpus_detail: str = ""


class ProjectSummary(BaseModel):
    name: str
    path: str
    manifest_sha256: str
    registered_at: str
    benchmarks: list[BenchmarkSummary]


class RegisterResult(ProjectSummary):
    """What ``register`` pinned. ``name``, ``path`` (a Path) and ``manifest_hash`` are the
    original's field names; ``manifest_hash`` is ``manifest_sha256`` under its original name."""

    path: Path  # type: ignore[assignment]  # a Path here, as in the original; JSON keeps the string
    changed: bool
    previous_manifest_sha256: str | None = None
    warnings: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def manifest_hash(self) -> str:
        return self.manifest_sha256


def benchmark_summaries(store: Store, project: registry.Project) -> list[BenchmarkSummary]:
    out = []
    for spec in project.manifest.benchmarks:
        bench = project.benchmark(spec.name)
        check = registry.corpus_check(store, project, bench)
        pointer = store.current_pointer(project.name, bench.name)
        reference = store.current_reference(project.name, bench.name)
        out.append(BenchmarkSummary(
            name=bench.name, tier=bench.tier,
            gate_policy=bench.gate_policy if bench.is_stochastic else bench.reference_policy,
            sandbox=bench.sandbox, baseline_sha=pointer.git_sha if pointer else None,
            reference_sha256=reference.new_sha256 if reference else None,
            corpus=check.status, corpus_detail=check.detail,
        ))
    return out


def project_summary(store: Store, project: registry.Project) -> ProjectSummary:
    return ProjectSummary(
        name=project.name, path=str(project.root),
        manifest_sha256=project.registration.manifest_sha256,
        registered_at=project.registration.registered_at,
        benchmarks=benchmark_summaries(store, project),
    )


def register_result(store: Store, outcome: registry.RegisterOutcome) -> RegisterResult:
    project = outcome.project
    previous = outcome.previous
    moved = ([] if previous is None or previous.path == str(project.root) else
             [f"project {previous.project!r} was registered at {previous.path}; "
              f"it now points at {project.root}"])
    return RegisterResult(
        **project_summary(store, project).model_dump(), changed=outcome.changed,
        previous_manifest_sha256=previous.manifest_sha256 if previous else None,
        warnings=[*project.manifest.warnings, *moved, *outcome.warnings],
    )
