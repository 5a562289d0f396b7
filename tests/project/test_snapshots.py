"""Corpus snapshots: content-addressed, read-only copies that are hashed as copied, verified again
when reused, leased while used and removed by ``bench gc`` only when no live run uses them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchstone.errors import CorpusError
from benchstone.paths import Home
from benchstone.project import snapshots
from benchstone.project.corpus import corpus_hash
from benchstone.project.snapshots import (
    collect_snapshots,
    corpus_fingerprint,
    require_unchanged,
    take_snapshot,
)


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text("alpha\n")
    (corpus / "sub" / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(corpus / "sub" / "tool.sh", 0o755)
    (corpus / "link").symlink_to("a.txt")
    return corpus


def test_a_tree_is_copied_once_per_content_read_only_and_keyed_by_its_hash(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    pinned = corpus_hash(corpus, "tree")
    first = take_snapshot(home, corpus, "tree", pinned)
    assert first.path == snapshots.snapshots_dir(home) / f"tree-{pinned[7:]}" / "data"
    assert corpus_hash(first.path, "tree") == pinned
    assert first.path.is_relative_to(home.root)
    # a copy, never a hard link to the original
    assert (first.path / "a.txt").stat().st_ino != (corpus / "a.txt").stat().st_ino
    modes = {path.relative_to(first.path).as_posix(): stat.S_IMODE(path.lstat().st_mode)
             for path in [first.path, *first.path.rglob("*")] if not path.is_symlink()}
    assert modes == {".": 0o555, "sub": 0o555, "a.txt": 0o444, "sub/tool.sh": 0o555}
    assert os.readlink(first.path / "link") == "a.txt"
    # reused: the same directory, not copied again
    inode = (first.path / "a.txt").stat().st_ino
    second = take_snapshot(home, corpus, "tree", pinned)
    assert second.path == first.path and (second.path / "a.txt").stat().st_ino == inode
    assert first.lease != second.lease and first.lease.exists() and second.lease.exists()


def test_bytes_and_spec_corpora_snapshot_exactly_what_is_hashed(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00\x01payload")
    snap = take_snapshot(home, data, "bytes", corpus_hash(data, "bytes"))
    assert snap.path.read_bytes() == b"\x00\x01payload"
    assert stat.S_IMODE(snap.path.stat().st_mode) == 0o444
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "corpus_spec.toml").write_text("n = 3\n")
    (spec / "unhashed.txt").write_text("not part of the hash, so not part of the snapshot\n")
    snap = take_snapshot(home, spec, "spec", corpus_hash(spec, "spec"))
    assert sorted(p.name for p in snap.path.iterdir()) == ["corpus_spec.toml"]


def test_a_snapshot_altered_on_disk_is_verified_on_reuse_and_made_again(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    pinned = corpus_hash(corpus, "tree")
    snap = take_snapshot(home, corpus, "tree", pinned)
    target = snap.path / "a.txt"
    os.chmod(target, 0o644)
    target.write_text("tampered\n")
    again = take_snapshot(home, corpus, "tree", pinned)
    assert (again.path / "a.txt").read_text() == "alpha\n"
    assert corpus_hash(again.path, "tree") == pinned


def test_a_corpus_that_does_not_hash_to_the_pin_is_never_kept(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    pinned = corpus_hash(corpus, "tree")
    (corpus / "a.txt").write_text("changed after the check\n")
    with pytest.raises(CorpusError, match="changed while it was being copied"):
        take_snapshot(home, corpus, "tree", pinned)
    left = [p.name for p in snapshots.snapshots_dir(home).iterdir()]
    assert sorted(left) == [".leases", ".lock"] or sorted(left) == [".lock"]


def test_an_unpinned_corpus_is_keyed_by_the_hash_of_its_copy(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    snap = take_snapshot(home, corpus, "tree", None)
    assert snap.digest == corpus_hash(corpus, "tree")
    assert snap.path.parent.name == f"tree-{snap.digest[7:]}"


def test_a_fifo_swapped_in_after_the_check_does_not_hang_the_copy(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    pinned = corpus_hash(corpus, "tree")
    (corpus / "a.txt").unlink()
    os.mkfifo(corpus / "a.txt")
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            take_snapshot(home, corpus, "tree", pinned)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the copy blocked on a FIFO"
    assert outcome and isinstance(outcome[0], CorpusError)


def test_the_fingerprint_sees_any_change_after_verification(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    seen = corpus_fingerprint(corpus)
    require_unchanged(corpus, seen)
    # same size, same content length, mtime set back: the change time still moves
    before = (corpus / "a.txt").stat()
    (corpus / "a.txt").write_text("ALPHA\n")
    os.utime(corpus / "a.txt", ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(CorpusError, match="changed after it was verified"):
        require_unchanged(corpus, seen)
    seen = corpus_fingerprint(corpus)
    (corpus / "sub").rename(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").rename(corpus / "sub")
    with pytest.raises(CorpusError):
        require_unchanged(corpus, seen)


def test_gc_removes_only_snapshots_no_live_run_leases(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    live = take_snapshot(home, corpus, "tree", corpus_hash(corpus, "tree"))
    other = tmp_path / "other.bin"
    other.write_bytes(b"other")
    released = take_snapshot(home, other, "bytes", corpus_hash(other, "bytes"))
    released.release()
    # a lease left by a harness that is gone (a process that has exited)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    third = tmp_path / "third.bin"
    third.write_bytes(b"third")
    orphan = take_snapshot(home, third, "bytes", corpus_hash(third, "bytes"))
    host = orphan.lease.read_text().split()[0]
    orphan.lease.write_text(f"{host} {gone.stdout.strip()} 1\n")
    removed = collect_snapshots(home)
    assert sorted(removed) == sorted([released.key, orphan.key])
    assert live.path.is_dir() and corpus_hash(live.path, "tree") == live.digest
    assert not released.path.exists() and not orphan.path.exists()
    assert not orphan.lease.exists()
    live.release()
    assert collect_snapshots(home) == [live.key]
    assert collect_snapshots(home) == []


def test_gc_waits_for_a_run_set_that_is_verifying_a_snapshot(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    corpus = _corpus(tmp_path)
    with snapshots._locked(home, exclusive=False):
        result: list[list[str]] = []
        collector = threading.Thread(target=lambda: result.append(collect_snapshots(home)))
        collector.start()
        collector.join(timeout=0.5)
        assert collector.is_alive(), "gc ran while a run set held the snapshot lock"
    collector.join(timeout=10)
    assert result == [[]]
    assert take_snapshot(home, corpus, "tree", None).path.is_dir()
