"""Corpus pinning: the content hash of a benchmark's input data, and its verification.

Three corpus types:

- ``bytes``: ``corpus_path`` is one file; the hash is sha256 of its bytes.
- ``spec``: ``corpus_path`` is a directory holding ``corpus_spec.toml`` (usually the parameters
  of a generator); the hash is sha256 of that one file.
- ``tree``: ``corpus_path`` is a directory; the hash covers every entry beneath it (the
  directory itself adds no record). Entries are visited in order of their relative POSIX path,
  compared as bytes (UTF-8; undecodable names as their raw bytes), and each adds one record to a
  single sha256 stream. The records, as Python bytes (``\\0`` is a NUL byte)::

      b"dir\\0" + path + b"\\0\\n"
      b"file\\0" + path + b"\\0" + mode + b"\\0" + sha256_hex(contents) + b"\\n"
      b"link\\0" + path + b"\\0" + target + b"\\n"

  ``mode`` is ``b"x"`` for a file with any executable bit, else ``b"-"``; ``sha256_hex`` is 64
  lowercase hex digits. The hash is ``sha256:`` and the hex digest of the stream. A symlink is
  hashed as its target text (``readlink``) and never followed; any other kind of entry (FIFO,
  socket, device) is an error.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchstone.errors import CorpusError

SPEC_FILE = "corpus_spec.toml"
CorpusStatus = Literal["ok", "drift", "missing", "n/a"]
_CHUNK = 1 << 20


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse(error: OSError) -> None:
    # an entry the walk cannot list would be left out of the hash
    raise CorpusError(f"{error.filename}: cannot be listed ({error.strerror})",
                      fix="make it readable by the user running bench")


def _tree_entries(root: Path) -> list[tuple[bytes, Path]]:
    entries: list[tuple[bytes, Path]] = []
    try:
        walk = list(os.walk(root, followlinks=False, onerror=_refuse))
    except RecursionError:
        raise CorpusError(f"corpus {root} nests directories too deeply to be hashed") from None
    for directory, dirnames, filenames in walk:
        base = Path(directory)
        for name in dirnames + filenames:
            full = base / name
            entries.append((full.relative_to(root).as_posix().encode("utf-8", "surrogateescape"),
                            full))
    entries.sort(key=lambda item: item[0])
    return entries


def tree_digest(root: Path) -> str:
    """The documented ``tree`` hash of the directory ``root`` (hex, without prefix)."""
    digest = hashlib.sha256()
    for relative, full in _tree_entries(root):
        info = full.lstat()
        if stat.S_ISDIR(info.st_mode):
            digest.update(b"dir\0" + relative + b"\0\n")
        elif stat.S_ISLNK(info.st_mode):
            target = os.readlink(full).encode("utf-8", "surrogateescape")
            digest.update(b"link\0" + relative + b"\0" + target + b"\n")
        elif stat.S_ISREG(info.st_mode):
            mark = b"x" if info.st_mode & 0o111 else b"-"
            digest.update(
                b"file\0" + relative + b"\0" + mark + b"\0"
                + _file_digest(full).encode() + b"\n"
            )
        else:
            raise CorpusError(f"{full}: a corpus may hold only files, directories and symlinks")
    return digest.hexdigest()


def corpus_hash(path: Path, corpus_type: str) -> str:
    """``sha256:<hex>`` of the corpus at ``path``, hashed as ``corpus_type``."""
    if not os.path.lexists(path):
        raise CorpusError(f"corpus {path} does not exist")
    if corpus_type == "bytes":
        if not path.is_file():
            raise CorpusError(f"corpus {path} is not a file (corpus_type 'bytes' hashes one file)")
        return "sha256:" + _file_digest(path.resolve())
    if corpus_type == "spec":
        spec = path / SPEC_FILE
        if not path.is_dir() or not spec.is_file():
            raise CorpusError(
                f"corpus {path} is not a directory holding {SPEC_FILE} (corpus_type 'spec')"
            )
        return "sha256:" + _file_digest(spec.resolve())
    if corpus_type == "tree":
        if not path.is_dir():
            raise CorpusError(f"corpus {path} is not a directory (corpus_type 'tree')")
        return "sha256:" + tree_digest(path.resolve())
    raise CorpusError(f"unknown corpus_type {corpus_type!r}: use bytes, spec or tree")


@dataclass(frozen=True)
class CorpusCheck:
    """The outcome of checking one benchmark's corpus."""

    status: CorpusStatus
    path: Path | None
    expected: str | None
    actual: str | None = None
    detail: str = ""

    def require(self) -> None:
        """Raise CorpusError unless the corpus is usable (ok, or nothing declared)."""
        if self.status == "missing":
            raise CorpusError(self.detail or f"corpus {self.path} is missing")
        if self.status == "drift":
            raise CorpusError(
                f"corpus {self.path} does not match the manifest: expected {self.expected}, "
                f"found {self.actual}",
                fix="restore the corpus, or if the change is intended, put the new hash "
                "(bench corpus-hash PATH) in the manifest and run bench register again",
            )


def mount_source(path: Path, *, forbidden: Path | None, confined_to: Path | None) -> Path:
    """The real path to bind-mount for a checked corpus: what the sandbox receives.

    Symlinks are resolved here, once, so the engine mounts exactly what was checked rather than
    following a link the project planted. The result must be a regular file or a directory; it
    may neither lie inside nor contain ``forbidden`` (the harness's state directory), and when
    ``confined_to`` is given (a corpus path relative to the project, whose files the code under
    test may have written) it must stay inside that directory.
    """
    try:
        real = path.resolve(strict=True)
        info = real.stat()
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CorpusError(f"corpus {path} cannot be resolved: {reason}") from None
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        raise CorpusError(f"corpus {path} resolves to {real}, which is not a regular file or a directory")
    if forbidden is not None:
        state = forbidden.resolve()
        if real == state or state in real.parents or real in state.parents:
            raise CorpusError(f"corpus {path} resolves to {real}, which would expose the harness's "
                              f"state directory {state} to the sandbox")
    if confined_to is not None:
        root = confined_to.resolve()
        if real != root and root not in real.parents:
            raise CorpusError(f"corpus {path} is inside the project but resolves to {real}, outside "
                              "it: a project-relative corpus may not link out of the project",
                              fix="make corpus_path an absolute path in the manifest if the data "
                              "really lives elsewhere")
    return real


def check_corpus(path: Path | None, corpus_type: str, expected: str | None) -> CorpusCheck:
    """Compare the corpus at ``path`` with ``expected``; never raises for a bad corpus."""
    if path is None:
        return CorpusCheck("n/a", None, None)
    if not os.path.lexists(path):
        return CorpusCheck("missing", path, expected, detail=f"corpus {path} does not exist")
    if expected is None:
        return CorpusCheck("ok", path, None, detail="no corpus_hash declared: not pinned")
    try:
        actual = corpus_hash(path, corpus_type)
    except CorpusError as exc:
        return CorpusCheck("missing", path, expected, detail=str(exc))
    except OSError as exc:
        return CorpusCheck("missing", path, expected,
                           detail=f"corpus {path} cannot be read: {exc.strerror or exc}")
    return CorpusCheck("ok" if actual == expected else "drift", path, expected, actual)
