"""Candidate commits on a scratch branch by git plumbing: the user's working tree, index, HEAD
and branches are never touched, concurrent evaluators lose no commit, and bad paths and the
checked-out branch are refused."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import commit_all, git

from benchstone.errors import GitError
from benchstone.project.candidates import commit_candidate


def _state(root: Path) -> tuple[str, ...]:
    return (git(root, "rev-parse", "HEAD"), git(root, "symbolic-ref", "HEAD"),
            git(root, "status", "--porcelain"),
            hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest(),
            git(root, "for-each-ref", "refs/heads/main"))


def test_commits_leave_the_user_alone_and_keep_the_mode(make_project) -> None:
    root = make_project("shellproj")
    (root / "bench" / "run.sh").chmod(0o755)
    base = commit_all(root, "executable runner")
    (root / "src" / "metric").write_text("uncommitted\n")
    before = _state(root)

    first = commit_candidate(root, "HEAD", "src/metric", b"0.5\n", branch="scratch/a")
    runner = commit_candidate(root, base, "bench/run.sh", b"#!/bin/sh\n", branch="scratch/a")
    new_file = commit_candidate(root, base, "src/new/deep.txt", b"x", branch="scratch/a")
    assert _state(root) == before
    assert (first.base, first.branch, first.path) == (base, "scratch/a", "src/metric")
    assert git(root, "rev-list", "scratch/a").splitlines()[:3] == [new_file.sha, runner.sha,
                                                                     first.sha]
    assert git(root, "rev-parse", f"{first.sha}^") == base
    assert git(root, "show", f"{first.sha}:src/metric") == "0.5"
    assert git(root, "ls-tree", runner.sha, "bench/run.sh").split()[0] == "100755"
    # each candidate is the base plus one file, whatever the parent chain
    assert git(root, "diff", "--name-only", base, new_file.sha) == "src/new/deep.txt"
    assert git(root, "diff", "--name-only", base, runner.sha) == "bench/run.sh"


def test_concurrent_commits_are_all_kept(make_project) -> None:
    root = make_project("shellproj")
    base = git(root, "rev-parse", "HEAD")

    def propose(value: int) -> str:
        return commit_candidate(root, base, "src/metric", f"{value}\n".encode(),
                                branch="scratch/parallel").sha

    with ThreadPoolExecutor(max_workers=6) as pool:
        shas = list(pool.map(propose, range(12)))
    reachable = set(git(root, "rev-list", "scratch/parallel").splitlines())
    assert set(shas) <= reachable and len(set(shas)) == 12
    contents = {git(root, "show", f"{sha}:src/metric") for sha in shas}
    assert contents == {str(value) for value in range(12)}


@pytest.mark.parametrize(("path", "branch", "message"), [
    ("../outside", "scratch", "not a path inside the project"),
    ("/etc/passwd", "scratch", "not a path inside the project"),
    ("", "scratch", "not a path inside the project"),
    ("src", "scratch", "is not a regular file"),
    ("src/metric", "main", "main is the branch checked out"),
    ("src/metric", "bad..name", "is not a valid branch name"),
])
def test_refusals(make_project, path: str, branch: str, message: str) -> None:
    root = make_project("shellproj")
    with pytest.raises(GitError, match=message):
        commit_candidate(root, "HEAD", path, b"x", branch=branch)
    assert git(root, "for-each-ref", "refs/heads/scratch") == ""
