"""Pinned means pinned: a commit whose tree names a path in a way that does not mean itself
(``.``, ``..``, a name holding ``/``, ``.git`` in any case, a path named twice) is refused by the
export and by the protected-files hash alike, and an index that hides edits (skip-worktree,
assume-unchanged) does not make a tree clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import commit_all, git

from benchstone.errors import GitError
from benchstone.project.provenance import export_tree, is_dirty, protected_files


def plumbing(root: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                          check=True)
    return done.stdout.decode().strip()


def commit_tree(root: Path, extra_entries: bytes, *, literally: bool = False) -> str:
    """HEAD's tree plus ``extra_entries`` (raw tree entries), committed on HEAD."""
    listing = plumbing(root, "ls-tree", "HEAD").splitlines()
    if literally:  # a tree object git itself would refuse to make: written as raw bytes
        body = b""
        for line in listing:
            meta, name = line.split("\t", 1)
            mode, _kind, object_id = meta.split()
            body += f"{mode.lstrip('0')} {name}".encode() + b"\0" + bytes.fromhex(object_id)
        tree = plumbing(root, "hash-object", "-w", "-t", "tree", "--literally", "--stdin",
                        stdin=body + extra_entries)
    else:
        tree = plumbing(root, "mktree", stdin=("\n".join(listing) + "\n").encode() + extra_entries)
    commit = plumbing(root, "commit-tree", tree, "-p", "HEAD", "-m", "crafted")
    plumbing(root, "update-ref", "HEAD", commit)
    return commit


@pytest.fixture
def project(make_project) -> Path:
    return make_project("toy")


def shadow_tree(root: Path) -> str:
    """A tree ``bench/json.py`` with different bytes, for a crafted entry to hold."""
    blob = plumbing(root, "hash-object", "-w", "--stdin", stdin=b"import sys; sys.exit(3)\n")
    inner = plumbing(root, "mktree", stdin=f"100644 blob {blob}\tjson.py\n".encode())
    return plumbing(root, "mktree", stdin=f"040000 tree {inner}\tbench\n".encode())


@pytest.mark.parametrize("name", [".", "..", ".git", ".GIT", ".Git"])
def test_a_name_that_is_not_a_plain_name_is_refused(project: Path, tmp_path: Path,
                                                    name: str) -> None:
    sha = commit_tree(project, f"040000 tree {shadow_tree(project)}\t{name}\n".encode())
    with pytest.raises(GitError, match="unsafe path"):
        export_tree(project, sha, tmp_path / "export")
    with pytest.raises(GitError, match="unsafe path"):
        protected_files(project, sha, ["bench/**"])


def test_a_name_holding_a_slash_is_refused(project: Path, tmp_path: Path) -> None:
    blob = plumbing(project, "hash-object", "-w", "--stdin", stdin=b"shadow\n")
    entry = b"100644 bench/json.py\0" + bytes.fromhex(blob)
    sha = commit_tree(project, entry, literally=True)
    assert "bench/json.py" in plumbing(project, "ls-tree", "-r", "--name-only", sha).splitlines()
    with pytest.raises(GitError, match=r"unsafe path .bench/json\.py"):
        export_tree(project, sha, tmp_path / "export")


def test_an_ordinary_tree_exports_and_hashes_as_before(project: Path, tmp_path: Path) -> None:
    sha = git(project, "rev-parse", "HEAD")
    exported = export_tree(project, sha, tmp_path / "export")
    assert (exported / "bench" / "runner.py").read_bytes() == \
        (project / "bench" / "runner.py").read_bytes()
    assert "bench/runner.py" in protected_files(project, sha, ["bench/**"]).files


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_index_flags_do_not_hide_an_edit(project: Path, flag: str) -> None:
    assert not is_dirty(project)
    runner = project / "bench" / "runner.py"
    runner.write_text(runner.read_text() + "\n# edited\n")
    git(project, "update-index", flag, "bench/runner.py")
    assert git(project, "status", "--porcelain") == ""  # git itself is fooled
    assert is_dirty(project)


def test_a_hand_written_index_does_not_hide_an_edit(project: Path) -> None:
    (project / "src" / "speed.txt").write_text("0.1\n")
    commit_all(project, "faster")
    (project / "src" / "speed.txt").write_text("9.9\n")  # edited, then the index rewritten
    git(project, "update-index", "--assume-unchanged", "src/speed.txt")
    assert is_dirty(project)
