"""State for the evaluate tests, built without any sandbox: the toy fixture project, registered
in a real store with two calibrated benchmarks added, and run sets recorded straight through the
store's own append methods with the metric values a test chooses.

``speedw`` (welch, log scale, minimize) and ``qualityr`` (rank, maximize) both take a 10-run
baseline and a horizon of 12, so every test shares the same few sequential designs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import commit_all, git

from benchstone.evaluate.samples import EvaluateOptions
from benchstone.evaluate.single import evaluate
from benchstone.gates.verdict import Verdict
from benchstone.paths import Home
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import protected_files
from benchstone.project.registry import Project, register
from benchstone.store import Store
from benchstone.store.records import RunSet

CALIBRATED = """
[[benchmarks]]
name = "speedw"
entry_point = "speed"
tier = "performance"
metric_direction = "minimize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
gate_policy = "welch"
log_scale = true
max_repetitions = 12

[[benchmarks]]
name = "qualityr"
entry_point = "quality"
tier = "quality"
metric_direction = "maximize"
repetitions = 5
baseline_seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
gate_policy = "rank"
max_repetitions = 12
"""

ENVIRONMENT = {"host": "testhost", "cpu_model": "test cpu", "cores": 2, "kernel": "6.1",
               "sandbox": "process", "cpuset_size": 2}
STAMP = "2026-01-01T00:00:00.000000+00:00"


def wobbled(centre: float, count: int, first_seed: int = 1) -> list[float]:
    """``count`` values around ``centre`` with the toy runner's own fixed wobble per seed
    (within 1.6 %), so a sample has spread but every test is repeatable."""
    # the second term breaks the ties of the first, whose period is 7: tied values would be
    # judged by the rank design (see benchstone.stats.sequential.TIE_FALLBACK)
    return [centre * (1 + 0.005 * ((seed * 7919) % 7 - 3) + 0.0001 * (seed % 11))
            for seed in range(first_seed, first_seed + count)]


@dataclass
class StoredRuns:
    store: Store
    home: Home
    project: Project
    root: Path

    def bench(self, name: str) -> BenchmarkSpec:
        return self.project.benchmark(name)

    @property
    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")

    def commit(self, relative: str = "src/speed.txt", text: str = "0.8\n",
               message: str = "a change") -> str:
        (self.root / relative).write_text(text)
        return commit_all(self.root, message)

    def record(self, bench: str, values: Sequence[float], *, sha: str | None = None,
               kind: str = "run", dirty: bool = False, failed: int = 0,
               environment: dict[str, Any] | None = None, sandbox: str = "process",
               protected: dict[str, str] | None = None, comparison_id: int | None = None,
               side: str | None = None, artifact: str | None = None,
               caller_seeds: bool = False, tree_sha: str | None = None) -> RunSet:
        """One run set at ``sha`` (default HEAD) with an ok run per value, then ``failed``
        runs that errored, as the runner records them; ``artifact`` is the sha256 each ok run
        of a correctness benchmark produced."""
        spec = self.bench(bench)
        at = sha or self.head
        if protected is None:
            committed = protected_files(self.root, at, spec.protected_paths)
            protected, digest = committed.files, committed.digest
        else:  # a test's own stand-in for files changed at the commit
            digest = "sha256:" + ",".join(f"{name}={value}" for name, value in sorted(protected.items()))
        seeds = list(range(1, len(values) + failed + 1))
        run_set = self.store.add_run_set(
            project=self.project.name, benchmark=bench, kind=kind, git_sha=at, git_dirty=dirty,
            meta_seed=1000 + len(self.store.run_sets(self.project.name, bench)),
            repetitions=len(seeds), seeds=seeds, sandbox=sandbox,
            env_hash="sha256:env" if environment is None else "sha256:" + hashlib.sha256(
                json.dumps(environment, sort_keys=True).encode()).hexdigest(),
            environment=environment or ENVIRONMENT, protected_hash=digest,
            protected_files=protected,
            manifest_sha256=self.project.registration.manifest_sha256,
            comparison_id=comparison_id, side=side,
            # left out unless set: NULL, as in a run set stored before the column existed
            **({"caller_seeds": True} if caller_seeds else {}),
            **({"tree_sha": tree_sha} if tree_sha else {}))
        outcomes: list[tuple[str, float | None]] = [("ok", value) for value in values]
        outcomes += [("error", None)] * failed
        for index, (status, value) in enumerate(outcomes):
            self.store.add_run(
                run_set_id=run_set.id, project=self.project.name, benchmark=bench, git_sha=at,
                git_dirty=dirty, seed=seeds[index], repetition=index, status=status,
                metric=value, failure=None if status == "ok" else "runner_error",
                message=None if status == "ok" else "the runner reported an error",
                artifact_sha256=artifact if status == "ok" else None,
                sandbox=sandbox, started_at=STAMP, finished_at=STAMP)
        return run_set

    def establish(self, bench: str, values: Sequence[float], *, sha: str | None = None,
                  **fields: Any) -> RunSet:
        """A baseline run set and the pointer to it, as ``bench baseline establish`` leaves."""
        run_set = self.record(bench, values, sha=sha, kind="baseline", **fields)
        self.store.add_pointer(project=self.project.name, benchmark=bench,
                               run_set_id=run_set.id, git_sha=run_set.git_sha,
                               meta_seed=run_set.meta_seed, action="establish")
        return run_set

    def promote(self, bench: str, run_set: RunSet) -> None:
        self.store.add_pointer(project=self.project.name, benchmark=bench,
                               run_set_id=run_set.id, git_sha=run_set.git_sha,
                               meta_seed=None, action="promote", verdict="PROMOTE")

    def evaluate(self, bench: str, **options: Any) -> Verdict:
        return evaluate(self.store, self.home, self.project, self.bench(bench),
                        EvaluateOptions(**options))


@contextmanager
def stored_runs(make_project: Callable[..., Path], home_root: Path,
                manifest_extra: str = CALIBRATED) -> Iterator[StoredRuns]:
    """The toy project with ``manifest_extra`` appended to its manifest, committed and
    registered in a fresh store under ``home_root``."""
    root = make_project("toy")
    with (root / "bench" / "manifest.toml").open("a") as manifest:
        manifest.write(manifest_extra)
    commit_all(root, "calibrated benchmarks")
    home = Home(home_root).ensure()
    store = Store(home.database)
    try:
        project = register(store, home, root).project
        yield StoredRuns(store, home, project, root)
    finally:
        store.close()
