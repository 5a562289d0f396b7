"""Git provenance: which commit is being measured, whether the tree is dirty, and the export of
exactly the committed tree into a fresh directory.

Nothing here writes to the user's repository: no checkout, no index update, no worktree. The
repository's own configuration is written by whoever controls the project, so nothing it names
may run on the host: the file-system monitor, external diff and textconv drivers are switched
off on every call, and the export reads objects with plumbing, which applies no filter
(a smudge filter would run a command), no ``export-ignore`` and no ``export-subst``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchstone.errors import GitError

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
MAX_UNTRACKED_IN_DIFF = 200
_MODES = {"100644": 0o644, "100755": 0o755}


# Configuration keys that make git run a command. A key set in the repository is overridden with
# an empty value on the command line, which git reads as "no driver".
_COMMAND_KEYS = re.compile(
    r"^(filter\.[^\n]+\.(clean|smudge|process)|diff\.[^\n]+\.(command|textconv)"
    r"|merge\.[^\n]+\.driver|diff\.external|core\.(fsmonitor|hookspath|sshcommand|pager|editor"
    r"|askpass)|gpg\.([^\n]+\.)?program|credential\.([^\n]+\.)?helper)$",
    re.IGNORECASE,
)


def _neutralizing_options(root: Path) -> list[str]:
    """``-c KEY=`` for every command-running key the repository's configuration sets."""
    result = subprocess.run(
        ["git", "-c", f"safe.directory={root}", "-C", str(root), "config", "--null",
         "--get-regexp", "."],
        capture_output=True, env={**os.environ, **_GIT_ENV}, check=False,
    )
    keys = {entry.split(b"\n", 1)[0].decode(errors="replace")
            for entry in result.stdout.split(b"\0") if entry}
    return [option for key in sorted(keys) if _COMMAND_KEYS.match(key)
            for option in ("-c", f"{key}=")]


def _command(root: Path, *args: str) -> list[str]:
    return ["git", "-c", f"safe.directory={root}", *_neutralizing_options(root),
            "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-C", str(root), *args]


def _git(root: Path, *args: str, check: bool = True, text: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            _command(root, *args),
            capture_output=True,
            text=text,
            env={**os.environ, **_GIT_ENV},
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed", fix="install git (apt-get install -y git)") from None
    if check and result.returncode != 0:
        stderr = result.stderr if text else result.stderr.decode(errors="replace")
        first = (stderr.strip().splitlines() or ["git failed"])[-1]
        raise GitError(f"git {args[0]} failed in {root}: {first}")
    return result


def repository_root(path: Path) -> Path:
    """The top of the git work tree holding ``path``; GitError when there is none or no commit."""
    if not path.is_dir():
        raise GitError(f"{path} is not a directory")
    result = _git(path, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise GitError(f"{path} is not inside a git repository", fix="run git init and commit")
    root = Path(result.stdout.strip())
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode != 0:
        raise GitError(f"{root} has no commits yet", fix="commit the project first")
    return root


def resolve_commit(root: Path, revision: str = "HEAD") -> str:
    """The full SHA of ``revision``; GitError naming the revision when it is not a commit."""
    if revision.startswith("-"):
        raise GitError(f"{revision!r} is not a commit")
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if result.returncode != 0:
        raise GitError(f"{revision!r} is not a commit of {root}")
    return result.stdout.strip()


def is_dirty(root: Path) -> bool:
    """True when tracked files changed or untracked, non-ignored files exist."""
    return bool(_git(root, "status", "--porcelain", "--untracked-files=normal").stdout.strip())


def dirty_diff(root: Path) -> bytes:
    """The uncommitted changes as a binary-safe patch, untracked files included."""
    parts = [_git(root, "diff", "--no-ext-diff", "--no-textconv", "HEAD", "--binary",
                  text=False).stdout]
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z").stdout
    names = [name for name in untracked.split("\0") if name]
    for name in names[:MAX_UNTRACKED_IN_DIFF]:
        diff = _git(root, "diff", "--no-ext-diff", "--no-textconv", "--no-index", "--binary",
                    "--", "/dev/null", name, check=False, text=False)
        parts.append(diff.stdout)
    if len(names) > MAX_UNTRACKED_IN_DIFF:
        parts.append(f"# {len(names) - MAX_UNTRACKED_IN_DIFF} more untracked files\n".encode())
    return b"".join(parts)


def _tree_entries(root: Path, sha: str) -> list[tuple[str, str, str]]:
    """(mode, object id, path) of every blob and symlink committed at ``sha``."""
    listing = _git(root, "ls-tree", "-r", "-z", "--full-tree", sha, text=False).stdout
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, object_id = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts or ".git" in parts:
            raise GitError(f"commit {sha[:12]} holds an unsafe path {path!r}")
        if kind == "blob":
            entries.append((mode, object_id, path))
    return entries


def _read_object(process: subprocess.Popen, object_id: str) -> bytes:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(object_id.encode() + b"\n")
    process.stdin.flush()
    header = process.stdout.readline().split()
    if len(header) != 3 or header[1] != b"blob":
        raise GitError(f"cannot read object {object_id[:12]}")
    data = process.stdout.read(int(header[2]))
    process.stdout.read(1)  # the newline after the content
    return data


def export_tree(root: Path, sha: str, destination: Path) -> Path:
    """Write exactly the tree committed at ``sha`` into ``destination``: every file with its
    committed bytes and executable bit, every symlink as its committed target."""
    entries = _tree_entries(root, sha)
    destination.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(_command(root, "cat-file", "--batch"), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env={**os.environ, **_GIT_ENV})
    try:
        for mode, object_id, path in entries:
            target = destination / path
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            data = _read_object(process, object_id)
            if mode == "120000":
                os.symlink(data.decode("utf-8", "surrogateescape"), target)
                continue
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         _MODES.get(mode, 0o644))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(target, _MODES.get(mode, 0o644))
    except OSError as exc:
        raise GitError(f"cannot export {sha[:12]} from {root}: {exc}") from None
    finally:
        if process.stdin:
            process.stdin.close()
        process.kill()
        process.wait()
    for directory, _dirs, _files in os.walk(destination):
        os.chmod(directory, 0o755)
    return destination


def file_at(root: Path, sha: str, relative: PurePosixPath) -> bytes | None:
    """The bytes of ``relative`` as committed at ``sha``, or None when it is not there."""
    result = _git(root, "show", f"{sha}:{relative.as_posix()}", check=False, text=False)
    return result.stdout if result.returncode == 0 else None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` crosses directories, ``*`` and ``?`` do not; a plain name also covers its subtree."""
    pattern = pattern.strip("/")
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("^" + "".join(out) + "(/.*)?$")


@dataclass(frozen=True)
class ProtectedFiles:
    """The files matched by ``protected_paths`` at one commit, with their git blob ids."""

    digest: str
    files: dict[str, str]

    def changed_from(self, other: ProtectedFiles) -> list[str]:
        names = set(self.files) | set(other.files)
        return sorted(name for name in names if self.files.get(name) != other.files.get(name))


def protected_files(root: Path, sha: str, patterns: list[str]) -> ProtectedFiles:
    """Hash the committed files at ``sha`` matching ``patterns`` (paths from the project root)."""
    regexes = [_glob_regex(pattern) for pattern in patterns]
    listing = _git(root, "ls-tree", "-r", "-z", "--full-tree", sha).stdout
    files: dict[str, str] = {}
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, _kind, object_id = meta.split()
        if any(regex.match(path) for regex in regexes):
            files[path] = f"{mode}:{object_id}"
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return ProtectedFiles("sha256:" + digest.hexdigest(), files)


def head_subject(root: Path, sha: str) -> str:
    """The first line of the commit message at ``sha``."""
    return _git(root, "log", "-1", "--format=%s", sha, check=False).stdout.strip()
