"""Git provenance on real repositories: commit, dirtiness, the saved diff, the exported tree."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from conftest import commit_all, git

from benchstone.errors import GitError
from benchstone.project.provenance import (
    dirty_diff,
    export_tree,
    file_at,
    is_dirty,
    protected_files,
    repository_root,
    resolve_commit,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a tracked file, an executable, a symlink, a .gitignore and one commit."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('v1')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "link").symlink_to("src/main.py")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    commit_all(root, "first")
    return root


def files_under(root: Path) -> set[str]:
    out = set()
    for directory, _dirs, files in os.walk(root):
        for name in files:
            out.add((Path(directory) / name).relative_to(root).as_posix())
    return out


# ---- repository and commit -------------------------------------------------------------------


def test_not_a_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not inside a git repository") as info:
        repository_root(tmp_path)
    assert info.value.fix


def test_not_a_directory_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a directory"):
        repository_root(tmp_path / "absent")


def test_repository_without_commits_is_a_git_error(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    with pytest.raises(GitError, match="has no commits yet"):
        repository_root(tmp_path)


def test_root_is_found_from_a_subdirectory(repo: Path) -> None:
    assert repository_root(repo / "src") == repo.resolve()


def test_resolve_commit(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    assert resolve_commit(repo) == head
    git(repo, "tag", "v1")
    assert resolve_commit(repo, "v1") == head
    assert resolve_commit(repo, head[:8]) == head
    for bad in ("nope", "HEAD~5", "--all", "-h"):
        with pytest.raises(GitError, match="is not a commit"):
            resolve_commit(repo, bad)


# ---- dirtiness -------------------------------------------------------------------------------


def test_clean_tree_is_not_dirty(repo: Path) -> None:
    assert is_dirty(repo) is False


def test_tracked_change_is_dirty(repo: Path) -> None:
    (repo / "src" / "main.py").write_text("print('v2')\n")
    assert is_dirty(repo) is True


def test_staged_change_is_dirty(repo: Path) -> None:
    (repo / "src" / "main.py").write_text("print('v2')\n")
    git(repo, "add", "src/main.py")
    assert is_dirty(repo) is True


def test_deleted_tracked_file_is_dirty(repo: Path) -> None:
    (repo / "run.sh").unlink()
    assert is_dirty(repo) is True


def test_mode_change_is_dirty(repo: Path) -> None:
    os.chmod(repo / "src" / "main.py", 0o755)
    assert is_dirty(repo) is True


def test_untracked_file_is_dirty(repo: Path) -> None:
    (repo / "src" / "new.py").write_text("x = 1\n")
    assert is_dirty(repo) is True


def test_untracked_file_in_a_new_directory_is_dirty(repo: Path) -> None:
    (repo / "fresh" / "deep").mkdir(parents=True)
    (repo / "fresh" / "deep" / "x").write_text("x")
    assert is_dirty(repo) is True


def test_ignored_files_do_not_count(repo: Path) -> None:
    (repo / "debug.log").write_text("noise")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"\0")
    assert is_dirty(repo) is False


# ---- the saved diff --------------------------------------------------------------------------


def test_diff_holds_tracked_changes_and_untracked_content(repo: Path) -> None:
    (repo / "src" / "main.py").write_text("print('v2')\n")
    (repo / "notes.txt").write_text("untracked-marker-4711\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    (repo / "debug.log").write_text("ignored-marker-0815\n")
    diff = dirty_diff(repo)
    assert b"-print('v1')" in diff and b"+print('v2')" in diff
    assert b"untracked-marker-4711" in diff
    assert b"blob.bin" in diff and b"GIT binary patch" in diff
    assert b"ignored-marker-0815" not in diff


def test_diff_applies_back_onto_the_commit(repo: Path, tmp_path: Path) -> None:
    (repo / "src" / "main.py").write_text("print('v2')\n")
    (repo / "notes.txt").write_text("hello\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    patch = tmp_path / "saved.diff"
    patch.write_bytes(dirty_diff(repo))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "apply", "--binary", str(patch))
    assert (clone / "src" / "main.py").read_text() == "print('v2')\n"
    assert (clone / "notes.txt").read_text() == "hello\n"
    assert (clone / "blob.bin").read_bytes() == bytes(range(256))


def test_clean_tree_has_an_empty_diff(repo: Path) -> None:
    assert dirty_diff(repo) == b""


# ---- the export ------------------------------------------------------------------------------


def test_export_holds_exactly_the_committed_files(repo: Path, tmp_path: Path) -> None:
    committed = set(git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines())
    (repo / "src" / "main.py").write_text("print('uncommitted edit')\n")
    (repo / "untracked.py").write_text("evil = True\n")
    (repo / "debug.log").write_text("ignored")
    git(repo, "add", "untracked.py")  # staged but not committed either
    out = export_tree(repo, resolve_commit(repo), tmp_path / "export")
    assert files_under(out) == committed
    assert (out / "src" / "main.py").read_text() == "print('v1')\n"
    assert not (out / ".git").exists()


def test_export_keeps_modes_and_symlinks(repo: Path, tmp_path: Path) -> None:
    out = export_tree(repo, resolve_commit(repo), tmp_path / "export")
    assert os.stat(out / "run.sh").st_mode & 0o111
    assert not os.stat(out / "src" / "main.py").st_mode & 0o111
    assert stat.S_ISLNK(os.lstat(out / "link").st_mode)
    assert os.readlink(out / "link") == "src/main.py"


def test_export_of_an_older_commit(repo: Path, tmp_path: Path) -> None:
    first = resolve_commit(repo)
    (repo / "src" / "main.py").write_text("print('v2')\n")
    (repo / "added.txt").write_text("later\n")
    commit_all(repo, "second")
    out = export_tree(repo, first, tmp_path / "export")
    assert (out / "src" / "main.py").read_text() == "print('v1')\n"
    assert not (out / "added.txt").exists()
    assert is_dirty(repo) is False  # nothing touched the working tree


def test_export_of_a_bad_revision_is_a_git_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GitError):
        export_tree(repo, "0" * 40, tmp_path / "export")


def test_export_ignores_archive_attributes(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitattributes").write_text("src/main.py export-ignore\nrun.sh export-subst\n")
    (repo / "run.sh").write_text("#!/bin/sh\n# $Format:%H$\n")
    commit_all(repo, "attributes")
    committed = set(git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines())
    out = export_tree(repo, resolve_commit(repo), tmp_path / "export")
    assert files_under(out) == committed
    assert (out / "run.sh").read_text() == "#!/bin/sh\n# $Format:%H$\n"


def test_export_never_writes_through_a_committed_symlink(repo: Path, tmp_path: Path) -> None:
    """A crafted tree may name "a" twice, as a symlink to a host directory and as a directory
    holding "b": the export must not create "b" in the host directory."""
    outside = tmp_path / "outside"
    outside.mkdir()

    def hashed(data: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                              input=data, capture_output=True, text=True, check=True).stdout.strip()

    def tree(listing: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "mktree"], input=listing,
                              capture_output=True, text=True, check=True).stdout.strip()

    inner = tree(f"100644 blob {hashed('planted')}\tb\n")
    top = tree(git(repo, "ls-tree", "HEAD") + f"\n120000 blob {hashed(str(outside))}\ta\n"
               f"040000 tree {inner}\ta\n")
    crafted = git(repo, "commit-tree", top, "-p", "HEAD", "-m", "crafted")
    with pytest.raises(GitError, match="unsafe path 'a/b'"):
        export_tree(repo, crafted, tmp_path / "export")
    assert list(outside.iterdir()) == []


@pytest.mark.slow
def test_export_streams_a_blob_instead_of_holding_it(repo: Path, tmp_path: Path) -> None:
    """git stores gigabytes of zeros in a few megabytes: the export writes a blob in chunks
    instead of holding it whole in the harness's memory."""
    import tracemalloc

    size = 128 << 20
    with open("/dev/zero", "rb") as zeros:
        writer = subprocess.Popen(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert writer.stdin is not None and writer.stdout is not None
        for _ in range(size >> 20):
            writer.stdin.write(zeros.read(1 << 20))
        writer.stdin.close()
        object_id = writer.stdout.read().decode().strip()
        writer.wait()
    tree = subprocess.run(["git", "-C", str(repo), "mktree"], text=True, capture_output=True,
                          input=git(repo, "ls-tree", "HEAD") + f"\n100644 blob {object_id}\tzeros\n",
                          check=True).stdout.strip()
    commit = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "128 MiB of zeros")
    tracemalloc.start()
    try:
        export_tree(repo, commit, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "out" / "zeros").stat().st_size == size
    assert peak < 16 << 20, f"the export held {peak >> 20} MiB at once"


def test_export_refuses_a_path_too_deep_to_write(repo: Path, tmp_path: Path) -> None:
    # past the recursion limit of writing and walking the export; committed by git fast-import,
    # as a crafted commit would be, without 1200 directories on this disk
    deep = "d/" * 1200 + "deep.txt"
    stream = (f"commit refs/heads/deep\ncommitter t <t@example.invalid> 0 +0000\n"
              f"data 0\nfrom {resolve_commit(repo)}\nM 100644 inline {deep}\ndata 1\nx\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=stream.encode(),
                   check=True)
    with pytest.raises(GitError, match="1200 directories deep"):
        export_tree(repo, git(repo, "rev-parse", "deep"), tmp_path / "export")


def test_names_and_messages_that_are_not_utf8(repo: Path, tmp_path: Path) -> None:
    """A commit's names and message are whatever bytes its author chose: reading them never
    fails, and a protected file so named is still seen to change."""
    from benchstone.project.provenance import head_subject

    odd = os.fsdecode(b"src/odd\xffname")
    Path(repo, odd).write_text("1\n")
    (tmp_path / "message").write_bytes(b"subject \xfe\xff\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-F", str(tmp_path / "message"))
    first = resolve_commit(repo)
    before = protected_files(repo, first, ["src/**"])
    assert "src/odd\\xffname" in before.files
    assert head_subject(repo, first).startswith("subject ")
    Path(repo, odd).write_text("2\n")
    Path(repo, os.fsdecode(b"untracked\xfe")).write_text("new\n")
    assert is_dirty(repo) and b"untracked" in dirty_diff(repo)
    second = commit_all(repo, "edit it")
    after = protected_files(repo, second, ["src/**"])
    assert after.digest != before.digest and after.changed_from(before) == ["src/odd\\xffname"]
    out = export_tree(repo, second, tmp_path / "export")
    assert (out / odd).read_text() == "2\n"


def test_a_clean_view_left_by_a_killed_harness_is_collected(repo: Path, tmp_path: Path) -> None:
    """A harness killed while it reads the repository leaves its clean view behind; the view
    names its owner, so bench gc (and the next run) removes it."""
    import sys

    from benchstone.system.workdirs import collect_workdirs

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    program = ("import os, sys\nfrom pathlib import Path\n"
               "from benchstone.project.provenance import clean_view\n"
               "with clean_view(Path(sys.argv[1])) as view:\n"
               "    print(view['GIT_DIR'], flush=True)\n"
               "    os._exit(0)  # as SIGKILL would: no clean-up runs\n")
    result = subprocess.run([sys.executable, "-c", program, str(repo)], capture_output=True,
                            text=True, env={**os.environ, "TMPDIR": str(temporary)}, check=True)
    left = Path(result.stdout.strip())
    assert left.parent == temporary and left.is_dir()
    assert collect_workdirs(temporary) == [left]
    assert list(temporary.iterdir()) == []


def test_file_at(repo: Path) -> None:
    sha = resolve_commit(repo)
    (repo / "src" / "main.py").write_text("print('v2')\n")
    assert file_at(repo, sha, PurePosixPath("src/main.py")) == b"print('v1')\n"
    assert file_at(repo, sha, PurePosixPath("absent.txt")) is None


def test_protected_files_match_globs_and_report_changes(repo: Path) -> None:
    (repo / "bench").mkdir()
    (repo / "bench" / "runner.py").write_text("r1\n")
    (repo / "bench" / "data").mkdir()
    (repo / "bench" / "data" / "expected.json").write_text("{}\n")
    first = protected_files(repo, commit_all(repo, "bench"), ["bench/**"])
    assert set(first.files) == {"bench/runner.py", "bench/data/expected.json"}
    assert set(protected_files(repo, resolve_commit(repo), ["bench/*.py"]).files) == {"bench/runner.py"}
    assert set(protected_files(repo, resolve_commit(repo), ["bench"]).files) == set(first.files)

    (repo / "src" / "main.py").write_text("print('v2')\n")
    unrelated = protected_files(repo, commit_all(repo, "code"), ["bench/**"])
    assert unrelated.digest == first.digest

    (repo / "bench" / "runner.py").write_text("r2\n")
    os.chmod(repo / "bench" / "data" / "expected.json", 0o755)
    changed = protected_files(repo, commit_all(repo, "tamper"), ["bench/**"])
    assert changed.digest != first.digest
    assert changed.changed_from(first) == ["bench/data/expected.json", "bench/runner.py"]


# ---- end to end: the dirty-tree rule and the saved diff ------------------------------------------


def test_run_refuses_a_dirty_tree_then_saves_the_diff_privately(bench, make_project, home: Path) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    (root / "src" / "speed.txt").write_text("0.5\n")
    (root / "scratch-notes.txt").write_text("untracked-marker-1234\n")

    refused = bench("run", "toy", "speed", "--sandbox", "process", "-n", "2")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: ") and "uncommitted changes" in refused.stderr
    assert "Traceback" not in refused.stderr

    allowed = bench("run", "toy", "speed", "--sandbox", "process", "-n", "2", "--allow-dirty",
                    "--json")
    assert allowed.returncode == 0, allowed.stderr
    report = json.loads(allowed.stdout)
    run_set = report["run_set"]
    assert run_set["git_dirty"] is True
    assert all(run["git_dirty"] for run in report["runs"])
    # the committed tree ran, not the edit: speed.txt at HEAD is 1.0, wobbled by at most 1.5 %
    assert all(abs(run["metric"] - 1.0) < 0.02 for run in report["runs"])
    diff = Path(run_set["diff_path"])
    assert diff.parent == home / "logs" / "toy" / "speed"
    assert stat.S_IMODE(diff.stat().st_mode) == 0o600
    content = diff.read_bytes()
    assert b"+0.5" in content and b"untracked-marker-1234" in content
    for directory in (home, home / "logs", home / "logs" / "toy", diff.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_every_file_the_harness_writes_is_private(bench, make_project, home: Path) -> None:
    root = make_project("toy")
    (root / "untracked").write_text("x")
    assert bench("register", str(root)).returncode == 0
    assert bench("run", "toy", "output", "--sandbox", "process", "--allow-dirty").returncode == 0
    assert bench("freeze-reference", "toy", "output").returncode == 0
    seen = 0
    for directory, _dirnames, filenames in os.walk(home):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory
        for name in filenames:
            path = Path(directory) / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            seen += 1
    assert seen >= 5  # db, pinned manifest, diff, logs, artifact, references.log
