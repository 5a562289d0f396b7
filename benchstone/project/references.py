"""Harness-owned artifacts and frozen references for correctness benchmarks.

Artifacts are kept content-addressed at ``$BENCHSTONE_HOME/artifacts/<project>/<benchmark>/
<sha256>.bin``. A reference is the hash named by the newest freeze or replace event; events are
rows of an append-only table and lines of ``references.log``. Only the harness ever reads these
bytes: no path into this directory is handed to a sandbox.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from benchstone.errors import NoArtifact, NotCorrectness, ReferenceExists, ReferenceStateError
from benchstone.paths import Home, append_private, write_private
from benchstone.project.manifest import BenchmarkSpec
from benchstone.store import Store
from benchstone.store.records import ReferenceEvent, Run

DIFF_EXCERPT_LINES = 12
DIFF_LINE_CHARS = 160


def store_artifact(home: Home, project: str, benchmark: str, data: bytes) -> str:
    """Keep ``data`` content-addressed; returns its sha256 (hex)."""
    digest = hashlib.sha256(data).hexdigest()
    path = home.artifact_dir(project, benchmark) / f"{digest}.bin"
    if not path.exists():
        write_private(path, data)
    return digest


def load_artifact(home: Home, project: str, benchmark: str, digest: str) -> bytes:
    """The bytes of a stored artifact, checked against their name."""
    path = home.artifact_dir(project, benchmark) / f"{digest}.bin"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReferenceStateError(f"artifact {digest[:12]} is missing from {path.parent}: "
                                  f"{exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise ReferenceStateError(f"artifact {path} does not match its hash: the store was altered")
    return data


def require_correctness(bench: BenchmarkSpec) -> None:
    if bench.tier != "correctness":
        raise NotCorrectness(
            f"benchmark {bench.name!r} is tier {bench.tier!r}: references exist only for "
            "correctness benchmarks",
            fix='name a benchmark with tier = "correctness" (bench list shows each tier)',
        )


def newest_artifact_run(store: Store, project: str, benchmark: str, git_sha: str) -> Run | None:
    runs = [run for run in store.runs_at(project, benchmark, git_sha)
            if run.status == "ok" and run.artifact_sha256]
    return runs[-1] if runs else None


def artifact_run(store: Store, project: str, bench: BenchmarkSpec, git_sha: str | None,
                 run_id: int | None) -> Run:
    """The run whose artifact to freeze: the run ``run_id`` when given (it must be an ok run of
    this benchmark with an artifact), else the newest ok run at ``git_sha`` that made one."""
    if run_id is None:
        assert git_sha is not None
        run = newest_artifact_run(store, project, bench.name, git_sha)
        if run is None:
            raise NoArtifact(
                f"no ok run of {project}/{bench.name} at {git_sha[:12]} has produced an artifact",
                fix=f"run it first: bench run {project} {bench.name}",
            )
        return run
    run = store.run(run_id)
    if run is None:
        raise NoArtifact(f"there is no run {run_id}",
                         fix=f"bench history {project} {bench.name} --json lists its runs and ids")
    if (run.project, run.benchmark) != (project, bench.name):
        raise ReferenceStateError(
            f"run {run_id} belongs to {run.project}/{run.benchmark}, not {project}/{bench.name}",
            fix=f"name a run of {project}/{bench.name} (bench history {project} {bench.name} "
            "--json lists them)")
    if run.status != "ok" or not run.artifact_sha256:
        why = f"it failed: {run.message}" if run.status != "ok" else "it produced none"
        raise NoArtifact(f"run {run_id} of {project}/{bench.name} has no artifact ({why})",
                         fix="name an ok run that wrote its artifact")
    return run


def _record(store: Store, home: Home, *, project: str, bench: BenchmarkSpec, action: str,
            run: Run, old: str | None, reason: str | None,
            notes: str | None = None) -> ReferenceEvent:
    event = store.add_reference_event(
        project=project, benchmark=bench.name, action=action, git_sha=run.git_sha, run_id=run.id,
        old_sha256=old, new_sha256=run.artifact_sha256, reason=reason, notes=notes,
    )
    append_private(home.references_log, json.dumps({
        "time": event.created_at, "user": event.user, "host": event.host,
        "project": project, "benchmark": bench.name, "action": action, "sha": run.git_sha,
        "run": run.id, "old_hash": old, "new_hash": event.new_sha256, "reason": reason,
        "notes": notes,
    }, sort_keys=True))
    return event


def freeze_reference(store: Store, home: Home, project: str, bench: BenchmarkSpec,
                     git_sha: str | None, *, run_id: int | None = None,
                     notes: str | None = None) -> ReferenceEvent:
    """Freeze the newest ok artifact at ``git_sha`` (or run ``run_id``'s) as the reference of
    ``bench``, with an optional note."""
    require_correctness(bench)
    with store.exclusive():
        current = store.current_reference(project, bench.name)
        if current is not None:
            raise ReferenceExists(
                f"{project}/{bench.name} already has a frozen reference ({current.new_sha256[:12]})",
                fix=f"replacing it is a separate, logged act: "
                f"bench replace-reference {project} {bench.name} --reason \"...\"",
            )
        run = artifact_run(store, project, bench, git_sha, run_id)
        return _record(store, home, project=project, bench=bench, action="freeze", run=run,
                       old=None, reason=None, notes=notes)


def replace_reference(store: Store, home: Home, project: str, bench: BenchmarkSpec,
                      git_sha: str | None, reason: str, *,
                      run_id: int | None = None) -> ReferenceEvent:
    """Replace the reference by the newest ok artifact at ``git_sha`` (or run ``run_id``'s); the
    old one stays on disk."""
    require_correctness(bench)
    if not reason or not reason.strip():
        raise ReferenceStateError("replacing a reference needs a non-empty --reason")
    with store.exclusive():
        current = store.current_reference(project, bench.name)
        if current is None:
            raise ReferenceStateError(
                f"{project}/{bench.name} has no reference to replace",
                fix=f"freeze one first: bench freeze-reference {project} {bench.name}",
            )
        run = artifact_run(store, project, bench, git_sha, run_id)
        if run.artifact_sha256 == current.new_sha256:
            raise ReferenceStateError(
                f"the artifact of run {run.id} at {run.git_sha[:12]} is already the reference of "
                f"{project}/{bench.name}"
            )
        return _record(store, home, project=project, bench=bench, action="replace", run=run,
                       old=current.new_sha256, reason=reason.strip())


@dataclass(frozen=True)
class ArtifactComparison:
    """Whether a candidate artifact matches the reference, and where it first differs: the
    offset and the sizes, never the reference's content, so that a run of FAILs cannot be read
    back into the reference by the code under test. The content is shown only on request
    (:func:`diff_excerpt`)."""

    equal: bool
    detail: list[str] = field(default_factory=list)


def _canonical_json(data: bytes) -> bytes | None:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    # "surrogatepass": a string may hold a lone surrogate ("\ud800" is valid JSON), which
    # UTF-8 cannot encode; both sides get the same bytes for it, so it compares, never raises
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def _pretty(data: bytes) -> bytes:
    return json.dumps(json.loads(data), sort_keys=True, indent=1,
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def _is_text(text: str) -> bool:
    """No control characters but tab and line ends: binary bytes (or a terminal's escape
    sequences, written by the code under test) are never echoed to the user."""
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)


def _clip(line: str) -> str:
    return line if len(line) <= DIFF_LINE_CHARS else f"{line[:DIFF_LINE_CHARS]}..."


def _text_excerpt(reference: bytes, candidate: bytes) -> list[str]:
    try:
        old_text, new_text = reference.decode("utf-8"), candidate.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if not (_is_text(old_text) and _is_text(new_text)):
        return []
    old, new = old_text.splitlines(), new_text.splitlines()
    lines = [_clip(line) for line in
             difflib.unified_diff(old, new, "reference", "candidate", n=1, lineterm="")]
    if len(lines) > DIFF_EXCERPT_LINES:
        lines = [*lines[:DIFF_EXCERPT_LINES], f"... ({len(lines) - DIFF_EXCERPT_LINES} more lines)"]
    return lines


def _first_difference(reference: bytes, candidate: bytes) -> int:
    for offset, (a, b) in enumerate(zip(reference, candidate, strict=False)):
        if a != b:
            return offset
    return min(len(reference), len(candidate))


def compare_artifacts(reference: bytes, candidate: bytes, policy: str) -> ArtifactComparison:
    """Compare under ``byte_equivalence`` (identical bytes) or ``json_canonical`` (equal after
    parsing both and serializing with sorted keys and no insignificant whitespace)."""
    if policy == "json_canonical":
        canonical_ref = _canonical_json(reference)
        canonical_new = _canonical_json(candidate)
        if canonical_ref is None:
            return ArtifactComparison(False, ["the reference is not valid JSON"])
        if canonical_new is None:
            return ArtifactComparison(False, ["the candidate artifact is not valid JSON"])
        if canonical_ref == canonical_new:
            return ArtifactComparison(True)
        offset = _first_difference(canonical_ref, canonical_new)
        return ArtifactComparison(False, [
            f"canonical JSON differs at byte {offset} (reference {len(canonical_ref)} bytes, "
            f"candidate {len(canonical_new)} bytes)",
        ])
    if reference == candidate:
        return ArtifactComparison(True)
    offset = _first_difference(reference, candidate)
    return ArtifactComparison(False, [
        f"first difference at byte {offset} (reference {len(reference)} bytes, "
        f"candidate {len(candidate)} bytes)",
    ])


def diff_excerpt(reference: bytes, candidate: bytes, policy: str) -> list[str]:
    """A unified diff excerpt of the two artifacts (pretty-printed under ``json_canonical``),
    for a person who asks for it: it shows the reference's content. Empty for binary data."""
    if policy == "json_canonical":
        if _canonical_json(reference) is None or _canonical_json(candidate) is None:
            return []
        return _text_excerpt(_pretty(reference), _pretty(candidate))
    return _text_excerpt(reference, candidate)


def artifact_path(home: Home, project: str, benchmark: str, digest: str) -> Path:
    return home.artifact_dir(project, benchmark) / f"{digest}.bin"


def reference_diff(store: Store, home: Home, project: str, bench: BenchmarkSpec,
                   git_sha: str) -> list[str]:
    """The diff between the frozen reference and the newest artifact at ``git_sha``, for a
    person who asked for it explicitly (a verdict never carries it)."""
    require_correctness(bench)
    reference = store.current_reference(project, bench.name)
    if reference is None:
        raise ReferenceStateError(f"no reference is frozen for {project}/{bench.name}")
    run = newest_artifact_run(store, project, bench.name, git_sha)
    if run is None or run.artifact_sha256 is None:
        raise NoArtifact(f"no ok run with an artifact at {git_sha[:12]}",
                         fix=f"run it first: bench run {project} {bench.name}")
    old = load_artifact(home, project, bench.name, reference.new_sha256)
    new = load_artifact(home, project, bench.name, run.artifact_sha256)
    if old == new:
        return []
    lines = diff_excerpt(old, new, bench.reference_policy)
    return lines or ["the artifacts differ, and are not text that can be shown as a diff"]
