"""Corpus snapshots: a corpus that is not in the commit is copied, once per content, into the
harness's state directory, and that copy is what the sandbox mounts.

Verifying a corpus in place and then mounting it leaves a window: whoever can write the original
(the working tree, the directory an absolute ``corpus_path`` names) can change it after the
check, before or between repetitions. So the copy itself is hashed, and only a copy whose hash
is the pinned one is kept, as ``$BENCHSTONE_HOME/snapshots/<type>-<hex>/data``: read-only files
(0o444, 0o555 with an executable bit) in read-only directories, never a hard link to the
original (which could be rewritten in place). A snapshot already present is hashed again before
it is reused. A ``spec`` corpus is snapshotted as its one verified file, ``corpus_spec.toml``.

Snapshots are a cache: ``bench gc`` removes every snapshot no live run set holds a lease on
(``snapshots/.leases/<key>.<pid>.<token>``), under a lock that a run set also takes while it creates,
verifies and leases one, so a snapshot in use is never removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchstone.errors import CorpusError
from benchstone.paths import Home, private_dir, write_private
from benchstone.project.corpus import SPEC_FILE, corpus_hash
from benchstone.system.host import host_name
from benchstone.system.procs import is_alive, own_identity

DATA = "data"
LEASES = ".leases"
LOCK = ".lock"

Fingerprint = tuple[tuple[str, int, int, int, int, int], ...]


@dataclass(frozen=True)
class Snapshot:
    """A verified, read-only copy of a corpus, and the lease that keeps it while a run uses it."""

    key: str
    path: Path  # what the sandbox mounts: snapshots/<key>/data
    digest: str
    lease: Path

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.lease.unlink()


def snapshots_dir(home: Home) -> Path:
    return home.root / "snapshots"


def make_read_only(root: Path, *, including_root: bool = True) -> None:
    """Files 0o444 (0o555 with any executable bit), directories 0o555; symlinks untouched."""
    if root.is_symlink() or not root.is_dir():
        if not root.is_symlink():
            os.chmod(root, 0o555 if root.stat().st_mode & 0o111 else 0o444)
        return
    for directory, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(directory) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                os.chmod(path, 0o555 if info.st_mode & 0o111 else 0o444)
        for name in dirnames:
            path = Path(directory) / name
            if not path.is_symlink():
                os.chmod(path, 0o555)
    if including_root:
        os.chmod(root, 0o555)


def _writable(root: Path) -> None:
    """Undo make_read_only so that ``root`` can be removed (never following a symlink)."""
    if root.is_symlink():
        return
    os.chmod(root, 0o700)
    for directory, dirnames, _files in os.walk(root):
        for name in dirnames:
            path = Path(directory) / name
            if not path.is_symlink():
                os.chmod(path, 0o700)


def _remove(root: Path) -> None:
    with contextlib.suppress(OSError):
        _writable(root)
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _locked(home: Home, exclusive: bool) -> Iterator[Path]:
    base = private_dir(snapshots_dir(home))
    fd = os.open(base / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield base
    finally:
        os.close(fd)


def _copy(source: Path, target: Path, corpus_type: str) -> None:
    if corpus_type == "bytes":
        _copy_file(source, target)
    elif corpus_type == "spec":
        target.mkdir(mode=0o700)
        _copy_file(source / SPEC_FILE, target / SPEC_FILE)
    else:
        shutil.copytree(source, target, symlinks=True, copy_function=_copy_file)


def _copy_file(source: str | Path, target: str | Path) -> None:
    """A byte copy of a regular file, never through a symlink, keeping only the executable bit."""
    # non-blocking: a FIFO swapped in since the check must not hang the copy
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CorpusError(f"{source} is not a regular file")
        mode = 0o700 if info.st_mode & 0o111 else 0o600
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      mode)
        with os.fdopen(out, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)


def _intact(path: Path, corpus_type: str, digest: str) -> bool:
    try:
        return corpus_hash(path, corpus_type) == digest
    except (CorpusError, OSError):
        return False


def _lease(base: Path, key: str) -> Path:
    pid, started = own_identity()
    lease = base / LEASES / f"{key}.{pid}.{secrets.token_hex(4)}"
    write_private(lease, f"{host_name()} {pid} {started}\n")
    return lease


def take_snapshot(home: Home, source: Path, corpus_type: str, expected: str | None) -> Snapshot:
    """The snapshot of the corpus at ``source`` (already resolved: see corpus.mount_source).

    With ``expected`` (the pinned hash), only a copy that hashes to it is kept or reused; a copy
    that does not means the corpus changed while it was copied, and is refused. Without it (an
    unpinned corpus), the copy is keyed by the hash it has: the run set still reads one content
    throughout.
    """
    with _locked(home, exclusive=False) as base:
        if expected is not None:
            key = f"{corpus_type}-{expected.removeprefix('sha256:')}"
            final = base / key
            if final.exists():
                if _intact(final / DATA, corpus_type, expected):
                    return Snapshot(key, final / DATA, expected, _lease(base, key))
                _remove(final)  # altered on disk: made again from the corpus below
        staging = Path(tempfile.mkdtemp(dir=base, prefix=".incoming-"))
        try:
            try:
                _copy(source, staging / DATA, corpus_type)
            except (OSError, shutil.Error, CorpusError) as exc:
                raise CorpusError(f"corpus {source} could not be copied into the harness's "
                                  f"snapshots: {exc}") from None
            digest = corpus_hash(staging / DATA, corpus_type)
            if expected is not None and digest != expected:
                raise CorpusError(
                    f"corpus {source} changed while it was being copied: the copy hashes to "
                    f"{digest}, the manifest pins {expected}; the run stops",
                    fix="leave the corpus alone while bench runs")
            key = f"{corpus_type}-{digest.removeprefix('sha256:')}"
            final = base / key
            make_read_only(staging / DATA)
            if not final.exists():
                with contextlib.suppress(OSError):  # another run set made it first
                    os.rename(staging, final)
                    os.chmod(final, 0o555)
            if not _intact(final / DATA, corpus_type, digest):
                raise CorpusError(f"the snapshot {final} of corpus {source} does not match "
                                  f"{digest}", fix="run bench gc, then run again")
            return Snapshot(key, final / DATA, digest, _lease(base, key))
        finally:
            if staging.exists():
                _remove(staging)


def corpus_fingerprint(path: Path) -> Fingerprint:
    """Inode, mode, size, modification and change times of ``path`` and all beneath it: any
    write, chmod, rename or replacement changes it (a change time cannot be set back)."""
    entries = [path]
    if path.is_dir() and not path.is_symlink():
        for directory, dirnames, filenames in os.walk(path):
            entries.extend(Path(directory) / name for name in dirnames + filenames)
    out = []
    for entry in entries:
        info = entry.lstat()
        out.append((str(entry.relative_to(path)), info.st_ino, info.st_mode, info.st_size,
                    info.st_mtime_ns, info.st_ctime_ns))
    return tuple(out)


def require_unchanged(path: Path, expected: Fingerprint) -> None:
    """Refuse a mount whose files changed since they were verified."""
    try:
        same = corpus_fingerprint(path) == expected
    except OSError:
        same = False
    if not same:
        raise CorpusError(f"corpus {path} changed after it was verified; the run stops",
                          fix="leave the corpus alone while bench runs")


def collect_snapshots(home: Home) -> list[str]:
    """Remove the snapshots no live run set holds a lease on, and stale leases; returns the
    keys removed."""
    if not snapshots_dir(home).is_dir():
        return []
    removed = []
    with _locked(home, exclusive=True) as base:
        held = set()
        leases = base / LEASES
        for lease in (leases.iterdir() if leases.is_dir() else []):
            try:
                host, pid, *started = lease.read_text().split()
                alive = host != host_name() or is_alive(int(pid), started[0] if started else None)
            except (OSError, ValueError):
                alive = False
            if alive:
                held.add(lease.name.split(".", 1)[0])
            else:
                lease.unlink(missing_ok=True)
        for entry in base.iterdir():
            if entry.name in (LEASES, LOCK) or entry.name in held or entry.is_symlink():
                continue
            _remove(entry)
            removed.append(entry.name)
    return sorted(removed)
