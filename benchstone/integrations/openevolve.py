"""An OpenEvolve evaluator whose every candidate is measured in the sandbox and gated.

OpenEvolve loads an evaluation file and calls its ``evaluate(program_path)`` for each candidate
program, expecting a dict of numeric metrics or an ``EvaluationResult`` (metrics plus
artifacts that are shown to the LLM in later prompts), with ``combined_score`` as the fitness.
This evaluator places the candidate at ``target`` inside the registered project, commits it on a
scratch branch (never the user's branch; the working tree, index and HEAD are not touched),
runs the benchmark at that commit in the sandbox, evaluates it against the baseline and
returns the metric, the verdict and the gate's statistic as metrics.

An evaluation file is two lines::

    from benchstone.integrations.openevolve import BenchstoneEvaluator
    evaluate = BenchstoneEvaluator("myproject", "solve_speed", target="src/solver.py")

or, with ``evaluator.evaluator_args: {project: ..., benchmark: ..., target: ...}`` in the
OpenEvolve config, one: ``from benchstone.integrations.openevolve import evaluate``.

A candidate that cannot run (an import error, a crash, a timeout) costs one repetition, not
all of them: with ``fail_fast`` (the default) a run set stops when its first repetition fails.
Each repetition's line, the files its failure's output was kept in, and a line every
``progress_every`` seconds while a long one runs, go to stderr (``progress``).

With a harness service configured (``BENCHSTONE_SERVICE``), the evaluator is a client like the
CLI: it commits candidates in the repository at ``path`` (default: the current directory), the
service receives each candidate's commit and runs and gates it; progress lines are then only the
verdicts, since the service's repetitions do not report back one by one.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchstone import api
from benchstone.errors import EvaluatorSetupError
from benchstone.gates.verdict import Verdict
from benchstone.kinds import VerdictKind
from benchstone.project import registry
from benchstone.project.candidates import (
    CandidateCommit,
    check_branch,
    commit_candidate,
    tree_path,
)
from benchstone.project.manifest import CALIBRATED_POLICIES, BenchmarkSpec, load_manifest, resolved
from benchstone.project.provenance import protected_files, resolve_commit
from benchstone.report import render
from benchstone.run.runner import Progress
from benchstone.service.config import configured_socket
from benchstone.store.records import Run, RunSet

__all__ = ["DEFAULT_BRANCH", "BenchstoneEvaluator", "CandidateResult", "evaluate"]

DEFAULT_BRANCH = "benchstone/openevolve"
MAX_PROGRAM_BYTES = 16 * 1024**2
ERRORS_SHOWN = 5
PROGRESS_EVERY = 30.0


class CandidateResult(BaseModel):
    """One candidate: the commit it became, the gate's verdict, and its repetitions."""

    commit: str
    branch: str
    base: str
    verdict: Verdict
    runs_ok: int
    runs_failed: int
    errors: list[str]
    # fail_fast stopped a run set after its first repetition failed: how many were not run
    runs_skipped: int = 0

    @property
    def improvement(self) -> float | None:
        """The verdict's improvement (> 0 is better): the same number its reason gives."""
        return self.verdict.improvement

    @property
    def combined_score(self) -> float:
        """OpenEvolve's fitness: how many times better than the baseline (1.0 = as good,
        1.25 = a quarter better, the speedup for a time); 0.0 when nothing ran or TAMPERED."""
        b, c = self.verdict.baseline, self.verdict.candidate
        if (self.runs_ok == 0 or self.verdict.kind == VerdictKind.TAMPERED or b is None or c is None
                or b.mean is None or c.mean is None):
            return 0.0
        if b.mean > 0 and c.mean > 0:
            ratio = b.mean / c.mean if self.verdict.direction == "minimize" else c.mean / b.mean
            return ratio
        return max(0.0, 1.0 + (self.improvement or 0.0))

    def metrics(self) -> dict[str, float]:
        """Numbers only, as OpenEvolve's database and prompts expect; unknown ones left out."""
        verdict = self.verdict
        values: dict[str, float | None] = {
            "combined_score": self.combined_score,
            "metric": verdict.candidate.mean if verdict.candidate else None,
            "baseline_metric": verdict.baseline.mean if verdict.baseline else None,
            "improvement": self.improvement,
            "promote": 1.0 if verdict.kind == VerdictKind.PROMOTE else 0.0,
            "verdict_exit_code": float(verdict.exit_code),
            "statistic": verdict.statistic,
            "threshold": verdict.threshold,
            "p_value": verdict.p_value,
            "runs_ok": float(self.runs_ok),
            "runs_failed": float(self.runs_failed),
        }
        return {key: float(value) for key, value in values.items()
                if value is not None and math.isfinite(value)}

    def artifacts(self) -> dict[str, str]:
        """Text OpenEvolve keeps with the program and shows the LLM: why, and what failed."""
        out = {"verdict": self.verdict.kind, "reason": self.verdict.reason,
               "commit": f"{self.commit} on {self.branch}"}
        if self.errors:
            out["errors"] = "\n".join(self.errors[:ERRORS_SHOWN])
        if self.runs_skipped:
            out["stopped"] = (f"the first repetition failed, so the other {self.runs_skipped} "
                              "were not run: the candidate does not run as it is")
        return out


def _say_on_stderr(message: str) -> None:
    print(f"benchstone: {message}", file=sys.stderr, flush=True)


def _progress(say: Callable[[str], None], every: float) -> Progress:
    """The evaluator's progress: each run set, each repetition (with an error row's log files),
    and, every ``every`` seconds, a repetition still running."""

    def on_start(run_set: RunSet) -> None:
        say(f"{run_set.project}/{run_set.benchmark} at {run_set.git_sha[:10]}: "
            f"{run_set.repetitions} repetition(s)")

    def on_repetition(run: Run, done: int, total: int, _elapsed: float) -> None:
        say(f"{render.run_line(run).strip()}  [{done}/{total}]")
        if logs := render.log_line(run, indent=""):
            say(logs)

    def on_running(index: int, total: int, seed: int, elapsed: float) -> None:
        say(render.running_line(index, total, seed, elapsed).strip())

    return Progress(on_warning=lambda message: say(f"warning: {message}"), on_notice=say,
                    on_start=on_start, on_repetition=on_repetition, on_running=on_running,
                    running_every=every)


class BenchstoneEvaluator:
    """``evaluate(program_path)`` for OpenEvolve, backed by a registered project.

    ``target`` is where the candidate goes, relative to the project's root; ``base`` is the
    commit the candidate is placed into: ``"baseline"`` (the commit the baseline pointer names,
    so the candidate differs from the baseline in ``target`` only) or any revision. A baseline
    must exist (``bench baseline establish``). ``repetitions`` and ``sandbox`` default to the
    manifest's. Construction checks all of this, so OpenEvolve fails at start-up, not per
    candidate.

    ``fail_fast`` stops a run set whose first repetition failed (the rows recorded stay; the
    verdict then has no successful run to judge). ``progress`` says what runs: True writes
    lines to stderr, False nothing, a callable receives each line; ``progress_every`` is how
    often (seconds) a repetition still running says so, 0 never. ``path`` is the project's
    directory for a client of the harness service (default: the current directory); without a
    service the registry knows it.
    """

    def __init__(self, project: str, benchmark: str, target: str, *, base: str = "baseline",
                 branch: str = DEFAULT_BRANCH, repetitions: int | None = None,
                 sandbox: str | None = None, home: str | Path | None = None,
                 fail_fast: bool = True, progress: bool | Callable[[str], None] = True,
                 progress_every: float = PROGRESS_EVERY, path: str | Path | None = None) -> None:
        self.project = project
        self.benchmark = benchmark
        self.target = tree_path(target)
        self.base = base
        self.branch = branch
        self.repetitions = repetitions
        self.sandbox = sandbox
        self.home = Path(home) if home is not None else None
        self.fail_fast = fail_fast
        self.path = Path(path) if path is not None else None
        self.served = configured_socket() is not None
        if self.served and self.home is not None:
            raise EvaluatorSetupError("home does not cross to the benchstone service: the state "
                                      "directory is the service's", fix="leave home out")
        say = _say_on_stderr if progress is True else progress or None
        self._say = say
        self._progress = _progress(say, progress_every) if say else None
        self._check()

    def __repr__(self) -> str:
        return (f"BenchstoneEvaluator({self.project!r}, {self.benchmark!r}, "
                f"target={self.target!r}, base={self.base!r}, branch={self.branch!r})")

    def _view(self) -> tuple[Path, BenchmarkSpec, str | None]:
        """The project's directory, the benchmark and the baseline pointer's commit: from the
        registry, or for a client of the service from the project's own manifest and the
        service's answer (the service checks every run and verdict itself)."""
        if not self.served:
            with api.session(self.home) as (_place, store):
                proj = registry.load_project(store, self.project)
                pointer = store.current_pointer(proj.name, self.benchmark)
                return (proj.root, proj.benchmark(self.benchmark),
                        pointer.git_sha if pointer else None)
        root = (self.path or Path.cwd()).absolute()
        manifest = load_manifest(root)
        if manifest.project.name != self.project:
            raise EvaluatorSetupError(
                f"{root} holds project {manifest.project.name}, not {self.project}",
                fix="pass path= the directory of the project to evolve (its bench/manifest.toml)")
        bench = resolved(manifest.benchmark(self.benchmark), manifest.project)
        summaries = api.list_projects(project=self.project)
        shas = [b.baseline_sha for s in summaries for b in s.benchmarks if b.name == bench.name]
        return root, bench, shas[0] if shas else None

    def _base_commit(self, root: Path, baseline_sha: str | None) -> str:
        if baseline_sha is None:
            raise EvaluatorSetupError(
                f"{self.project}/{self.benchmark} has no baseline: candidates have nothing to be "
                "compared with", fix=f"bench baseline establish {self.project} {self.benchmark}")
        if self.base == "baseline":
            return baseline_sha
        return resolve_commit(root, self.base)

    def _check(self) -> None:
        root, bench, baseline_sha = self._view()
        if not bench.is_stochastic:
            raise EvaluatorSetupError(
                f"{self.project}/{bench.name} is a correctness benchmark: it says PASS or FAIL, "
                "not how good a candidate is; evaluate a performance or quality benchmark")
        check_branch(root, self.branch)
        base = self._base_commit(root, baseline_sha)
        if self.target in protected_files(root, base, bench.protected_paths).files:
            raise EvaluatorSetupError(
                f"{self.target} is protected (protected_paths of {bench.name}): every "
                "candidate would be TAMPERED", fix="evolve a file outside the protected paths")

    def evaluate(self, program_path: str | Path) -> CandidateResult:
        """Commit, run and gate one candidate program; typed result for callers other than
        OpenEvolve. Harness failures raise; a candidate that fails is a result."""
        content = Path(program_path).read_bytes()
        if len(content) > MAX_PROGRAM_BYTES:
            raise EvaluatorSetupError(f"{program_path} is larger than {MAX_PROGRAM_BYTES} bytes")
        root, bench, baseline_sha = self._view()
        candidate = commit_candidate(
            root, self._base_commit(root, baseline_sha), self.target, content,
            branch=self.branch, message=f"openevolve candidate for {self.project}/{bench.name}")
        # Through the API, so each run set holds a lease on its own cores like any other run;
        # a busy machine makes it queue rather than fail. A client of the service passes
        # neither the state directory nor callbacks: they do not cross to it.
        local: dict[str, Any] = {} if self.served else {"home": self.home,
                                                        "progress": self._progress}
        with api.commits_from(root):
            return self._measure(bench, candidate, local)

    def _measure(self, bench: BenchmarkSpec, candidate: CandidateCommit,
                 local: dict[str, Any]) -> CandidateResult:
        for name in bench.requires:  # faster but wrong must not pass: measure those too
            api.run(self.project, name, revision=candidate.sha, sandbox=self.sandbox,
                    force_foreground=True, wait=True, fail_fast=self.fail_fast, **local)
        report = api.run(self.project, bench.name, revision=candidate.sha,
                         repetitions=self.repetitions, sandbox=self.sandbox,
                         force_foreground=True, wait=True, fail_fast=self.fail_fast, **local)
        # the seed's gates judge this run set; the calibrated ones every run at the commit,
        # the paired design every pair of the baseline commit and this one
        meta_seed = (None if bench.gate_policy in CALIBRATED_POLICIES or bench.is_paired
                     or report.run_set is None else report.run_set.meta_seed)
        verdict = api.evaluate(self.project, bench.name, meta_seed=meta_seed,
                               git_sha=candidate.sha, **({} if self.served else {"home": self.home}))
        failed = [run for run in report.runs if run.status != "ok"]
        skipped = report.run_set.repetitions - len(report.runs) if report.run_set else 0
        if self._say:
            stopped = (f"; stopped after the first repetition failed ({skipped} not run)"
                       if skipped else "")
            self._say(f"{render.short(candidate.sha)}: {verdict.kind} "
                      f"({report.ok} ok, {len(failed)} failed{stopped})")
        return CandidateResult(
            commit=candidate.sha, branch=candidate.branch, base=candidate.base, verdict=verdict,
            runs_ok=report.ok, runs_failed=len(failed),
            errors=[f"repetition {run.repetition}: {run.message}" for run in failed],
            runs_skipped=skipped,
        )

    def __call__(self, program_path: str) -> Any:
        """OpenEvolve's contract: an ``EvaluationResult`` (a metrics dict without OpenEvolve)."""
        result = self.evaluate(program_path)
        try:
            from openevolve.evaluation_result import EvaluationResult
        except ImportError:
            return result.metrics()
        return EvaluationResult(metrics=result.metrics(), artifacts=result.artifacts())


def evaluate(program_path: str, *, project: str, benchmark: str, target: str,
             base: str = "baseline", branch: str = DEFAULT_BRANCH,
             repetitions: int | None = None, sandbox: str | None = None,
             home: str | None = None, fail_fast: bool = True, progress: bool = True,
             progress_every: float = PROGRESS_EVERY) -> Any:
    """``evaluate`` configured by OpenEvolve's ``evaluator.evaluator_args``."""
    evaluator = BenchstoneEvaluator(project, benchmark, target, base=base, branch=branch,
                                    repetitions=repetitions, sandbox=sandbox, home=home,
                                    fail_fast=fail_fast, progress=progress,
                                    progress_every=progress_every)
    return evaluator(program_path)
