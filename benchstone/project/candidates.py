"""Commit a candidate version of one file on a scratch branch, with git plumbing only.

An optimizer (OpenEvolve, a search script) proposes new contents for one file; to measure it,
benchstone needs a commit. This module makes that commit without a checkout: the blob and tree
are written into the repository's object store through a private temporary index, the commit
is made with ``commit-tree``, and only the scratch branch's ref moves (compare-and-swap, so
concurrent evaluators never lose a commit). The user's working tree, index, HEAD and branches
are never touched. Each candidate's parent is the previous tip of the scratch branch, so every
candidate stays reachable (and out of ``git gc``'s way) for as long as the branch exists.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchstone.errors import GitError

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
_IDENTITY = {
    "GIT_AUTHOR_NAME": "benchstone", "GIT_AUTHOR_EMAIL": "benchstone@localhost",
    "GIT_COMMITTER_NAME": "benchstone", "GIT_COMMITTER_EMAIL": "benchstone@localhost",
}
DEFAULT_BRANCH = "benchstone/candidates"
CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class CandidateCommit:
    sha: str
    branch: str
    base: str
    path: str


def _git(root: Path, *args: str, data: bytes | None = None,
         env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            ["git", "-c", f"safe.directory={root}", "-C", str(root), *args],
            input=data, capture_output=True, check=False,
            env={**os.environ, **_GIT_ENV, **(env or {})},
        )
    except FileNotFoundError:
        raise GitError("git is not installed", fix="install git (apt-get install -y git)") from None
    if check and result.returncode != 0:
        message = (result.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        raise GitError(f"git {args[0]} failed in {root}: {message}")
    return result


def _out(result: subprocess.CompletedProcess) -> str:
    return result.stdout.decode().strip()


def tree_path(relative: str) -> str:
    """``relative`` as a path inside the tree; GitError for absolute paths and '..'."""
    path = PurePosixPath(relative.replace("\\", "/"))
    if not relative or path.is_absolute() or ".." in path.parts or str(path) in (".", ""):
        raise GitError(f"{relative!r} is not a path inside the project (relative, no '..')")
    return str(path)


def check_branch(root: Path, branch: str) -> str:
    """The full ref of ``branch``; refuses invalid names and the branch checked out now."""
    if _git(root, "check-ref-format", "--branch", branch, check=False).returncode != 0:
        raise GitError(f"{branch!r} is not a valid branch name")
    ref = f"refs/heads/{branch}"
    current = _out(_git(root, "symbolic-ref", "-q", "HEAD", check=False))
    if current == ref:
        raise GitError(f"{branch} is the branch checked out in {root}: benchstone commits "
                       "candidates only on a scratch branch", fix="name another scratch branch")
    return ref


def commit_candidate(root: Path, base: str, relative: str, content: bytes, *,
                     branch: str = DEFAULT_BRANCH, message: str = "candidate") -> CandidateCommit:
    """Commit ``base``'s tree with ``relative`` replaced by ``content`` on ``branch``."""
    path = tree_path(relative)
    ref = check_branch(root, branch)
    base_sha = _out(_git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"))
    listed = _out(_git(root, "ls-tree", base_sha, "--", path))
    mode = listed.split()[0] if listed else "100644"
    if mode not in ("100644", "100755"):
        raise GitError(f"{path} is not a regular file at {base_sha[:12]} (mode {mode})")
    blob = _out(_git(root, "hash-object", "-w", "--stdin", data=content))
    with tempfile.TemporaryDirectory(prefix="benchstone-index-") as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(root, "read-tree", base_sha, env=index)
        _git(root, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)
        tree = _out(_git(root, "write-tree", env=index))
    body = f"{message}\n\nbase: {base_sha}\nfile: {path}\n".encode()
    for _attempt in range(CAS_ATTEMPTS):
        tip = _out(_git(root, "rev-parse", "--verify", "--quiet", ref, check=False))
        parent = tip or base_sha
        sha = _out(_git(root, "commit-tree", tree, "-p", parent, data=body, env=_IDENTITY))
        # the old value makes this a compare-and-swap: a concurrent evaluator's commit is kept
        swapped = _git(root, "update-ref", "-m", "benchstone: candidate", ref, sha,
                       tip, check=False)  # "" = "must not exist yet"
        if swapped.returncode == 0:
            return CandidateCommit(sha=sha, branch=branch, base=base_sha, path=path)
    raise GitError(f"could not move {branch}: it kept changing under {CAS_ATTEMPTS} attempts")
