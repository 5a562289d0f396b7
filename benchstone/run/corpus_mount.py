"""What a run set mounts as its corpus: never a path the caller can still change.

A project-relative corpus committed at the commit being run is read from that commit's export
and verified there; a harness-owned corpus (``corpus = NAME``) is already a content-addressed,
read-only copy; any other corpus is mounted from its snapshot (project/snapshots.py). What was
mounted is fingerprinted once verified, and every repetition checks it is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchstone.errors import CorpusError
from benchstone.paths import Home
from benchstone.project.corpus import check_corpus, mount_source
from benchstone.project.manifest import BenchmarkSpec
from benchstone.project.provenance import in_commit
from benchstone.project.snapshots import Fingerprint, Snapshot, corpus_fingerprint, take_snapshot
from benchstone.sandbox.base import CorpusMount


def committed_corpus(root: Path, git_sha: str, bench: BenchmarkSpec) -> PurePosixPath | None:
    """``corpus_path`` when it is relative and part of the commit being run, else None."""
    if bench.corpus or not bench.corpus_path or Path(bench.corpus_path).is_absolute():
        return None
    relative = PurePosixPath(bench.corpus_path)
    return relative if in_commit(root, git_sha, relative) else None


@dataclass(frozen=True)
class OpenCorpus:
    """The corpus a run set mounts, and what it looked like once verified."""

    mount: CorpusMount
    verified: Fingerprint
    snapshot: Snapshot | None = None


def open_corpus(home: Home, bench: BenchmarkSpec, git_sha: str, export: Path,
                in_commit_at: PurePosixPath | None, checked: CorpusMount | None) -> OpenCorpus | None:
    """What the sandbox mounts as ``bench``'s corpus: never a path the caller can still change.

    A corpus committed at the run's commit is read from its export, and verified there; a
    harness-owned corpus is its own content-addressed copy (verified by check_commit); any other
    corpus is mounted from its snapshot (snapshots.take_snapshot).

    ``in_commit_at`` is the corpus path when the commit holds it (committed_corpus), ``checked``
    the corpus check_commit verified in place otherwise."""
    if in_commit_at is not None:
        path = export / in_commit_at
        source = mount_source(path, forbidden=home.root, confined_to=export)
        seen = corpus_fingerprint(source)
        check = check_corpus(source, bench.corpus_type, bench.corpus_hash)
        if check.status != "ok":
            raise CorpusError(
                f"corpus {bench.corpus_path} as committed at {git_sha[:12]} "
                + ("does not match the manifest: expected "
                   f"{check.expected}, found {check.actual}" if check.status == "drift"
                   else f"cannot be used: {check.detail}"),
                fix="commit the corpus the manifest pins (bench corpus-hash PATH gives its hash), "
                "or pin the committed one and bench register again")
        return OpenCorpus(CorpusMount(source, source.is_dir(), path.name), seen)
    if checked is None:
        return None
    if bench.corpus:
        return OpenCorpus(checked, corpus_fingerprint(checked.host_path))
    snapshot = take_snapshot(home, checked.host_path, bench.corpus_type, bench.corpus_hash)
    try:
        mount = CorpusMount(snapshot.path, snapshot.path.is_dir(), checked.file_name)
        return OpenCorpus(mount, corpus_fingerprint(snapshot.path), snapshot)
    except BaseException:
        snapshot.release()
        raise
