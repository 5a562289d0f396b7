"""Git provenance: which commit is being measured, whether the tree is dirty, and the export of
exactly the committed tree into a fresh directory.

Nothing here writes to the user's repository: no checkout, no index update, no worktree.

Nothing here lets the repository's own configuration run anything either. Whoever edits the
project can edit ``.git/config``, and git runs the commands it names on the host: core.fsmonitor
on status, filter drivers on status and archive (a smudge filter could even rewrite the exported
runner while the committed one stays unchanged), diff drivers and diff.external on diff. Every
command that reads contents therefore runs in a *clean view*: a throwaway git directory that
borrows the project's objects (and a copy of its index) but has a configuration of its own.
Only ``rev-parse``, which runs none of these, reads the project's repository directly.
Submodules are never looked into: git would run ``status`` inside each checked-out one with
that submodule's own configuration (and its fsmonitor), and the export leaves them out anyway.

The export reads objects with plumbing (``ls-tree`` and ``cat-file``) rather than ``git
archive``, so it is exactly the committed tree: no ``export-ignore``, no ``export-subst``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchstone.errors import GitError
from benchstone.system.workdirs import GIT_VIEW_PREFIX, create_workdir, remove_tree

_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
MAX_UNTRACKED_IN_DIFF = 200
_MODES = {"100644": 0o644, "100755": 0o755}
_CHUNK = 1 << 20
MAX_PATH_DEPTH = 256  # deeper, and writing or walking the export would exhaust recursion


def _git(root: Path, *args: str, check: bool = True, text: bool = True,
         view: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    try:
        # Names and messages in a commit are whatever bytes its author chose: never let them
        # fail to decode.
        result = subprocess.run(
            ["git", "-c", f"safe.directory={root}", "-C", str(root), *args],
            capture_output=True,
            text=text,
            encoding="utf-8" if text else None,
            errors="surrogateescape" if text else None,
            env={**environment, **_GIT_ENV, **(view or {})},
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed", fix="install git (apt-get install -y git)") from None
    if check and result.returncode != 0:
        stderr = result.stderr if text else result.stderr.decode(errors="replace")
        first = (stderr.strip().splitlines() or ["git failed"])[-1]
        raise GitError(f"git {args[0]} failed in {root}: {first}")
    return result


def in_work_tree(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree (with or without a commit); False without
    git."""
    try:
        result = _git(path, "rev-parse", "--is-inside-work-tree", check=False)
    except GitError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"


def repository_root(path: Path) -> Path:
    """The top of the git work tree holding ``path``; GitError when there is none or no commit."""
    return repository_head(path)[0]


def head_commit(path: Path) -> str:
    """The full SHA of the commit checked out in the work tree holding ``path``."""
    return repository_head(path)[1]


def repository_head(path: Path) -> tuple[Path, str]:
    """Both of the above, from one git process."""
    if not path.is_dir():
        raise GitError(f"{path} is not a directory",
                       fix="check the path; a registered project that moved is registered again "
                       "from its new place: bench register PATH")
    # One git process for both questions: every run and evaluation asks them.
    result = _git(path, "rev-parse", "--show-toplevel", "--verify", "--quiet", "HEAD^{commit}",
                  check=False)
    # the top on the first line, the SHA on the last: a directory's name may hold a newline
    printed = result.stdout.removesuffix("\n")
    if not printed:
        raise GitError(f"{path} is not inside a git repository", fix="run git init and commit")
    if result.returncode != 0:
        raise GitError(f"{printed} has no commits yet", fix="commit the project first")
    top, _, sha = printed.rpartition("\n")
    return Path(top), sha


def resolve_commit(root: Path, revision: str = "HEAD") -> str:
    """The full SHA of ``revision``; GitError naming the revision when it is not a commit."""
    if revision.startswith("-"):
        raise GitError(f"{revision!r} is not a commit")
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False)
    if result.returncode != 0:
        raise GitError(f"{revision!r} is not a commit of {root}")
    return result.stdout.strip()


def tree_of(root: Path, sha: str) -> str:
    """The id of the tree committed at ``sha``: what a run measures, whatever the message, author
    or parents of the commit that holds it."""
    return _git(root, "rev-parse", "--verify", "--quiet", f"{sha}^{{tree}}").stdout.strip()


@contextlib.contextmanager
def clean_view(root: Path, *, worktree: bool = False) -> Iterator[dict[str, str]]:
    """Environment variables for git to read ``root``'s repository without its configuration.

    The view is a temporary git directory whose objects are the project's (through
    ``objects/info/alternates``), whose HEAD is the project's HEAD commit, whose configuration
    holds nothing but the repository format, and, with ``worktree``, whose work tree is ``root``
    and whose index is built afresh from HEAD: the project's own index is never trusted, since
    its flags (``skip-worktree``, ``assume-unchanged``) or a hand-written one would hide edited
    files from ``status``. The user's own global configuration still applies.
    """
    listed = _git(root, "rev-parse", "--git-common-dir", "--show-object-format",
                  "HEAD").stdout.split("\n")
    common_dir = (root / listed[0]).resolve()
    object_format, head = listed[1].strip() or "sha1", listed[2].strip()
    view = create_workdir(GIT_VIEW_PREFIX)  # marked with its owner: bench gc collects it
    try:
        (view / "objects" / "info").mkdir(parents=True)
        (view / "refs").mkdir()
        (view / "info").mkdir()
        (view / "objects" / "info" / "alternates").write_text(f"{common_dir / 'objects'}\n")
        (view / "HEAD").write_text(head + "\n")
        config = "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        if object_format != "sha1":
            config = ("[core]\n\trepositoryformatversion = 1\n\tbare = false\n"
                      f"[extensions]\n\tobjectformat = {object_format}\n")
        (view / "config").write_text(config)
        for name, source in (("shallow", common_dir / "shallow"),
                             ("info/exclude", common_dir / "info" / "exclude")):
            if source.is_file():
                shutil.copyfile(source, view / name)
        variables = {"GIT_DIR": str(view), "GIT_CEILING_DIRECTORIES": str(view.parent)}
        if worktree:
            variables["GIT_WORK_TREE"] = str(root)
            _git(root, "read-tree", head, view=variables)
            # stat information for the fresh index, so that status compares contents once
            _git(root, "update-index", "-q", "--refresh", check=False, view=variables)
        yield variables
    finally:
        remove_tree(view)


def is_dirty(root: Path) -> bool:
    """True when tracked files changed or untracked, non-ignored files exist."""
    with clean_view(root, worktree=True) as view:
        return bool(_git(root, "status", "--porcelain", "--untracked-files=normal",
                         "--ignore-submodules=all", view=view).stdout.strip())


def dirty_diff(root: Path) -> bytes:
    """The uncommitted changes as a binary-safe patch, untracked files included."""
    with clean_view(root, worktree=True) as view:
        return _dirty_diff(root, view)


def _dirty_diff(root: Path, view: dict[str, str]) -> bytes:
    plain = ("--binary", "--no-ext-diff", "--no-textconv")
    parts = [_git(root, "diff", "HEAD", *plain, "--ignore-submodules=all", text=False,
                  view=view).stdout]
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", view=view).stdout
    names = [name for name in untracked.split("\0") if name]
    for name in names[:MAX_UNTRACKED_IN_DIFF]:
        diff = _git(root, "diff", "--no-index", *plain, "--", "/dev/null", name,
                    check=False, text=False, view=view)
        parts.append(diff.stdout)
    if len(names) > MAX_UNTRACKED_IN_DIFF:
        parts.append(f"# {len(names) - MAX_UNTRACKED_IN_DIFF} more untracked files\n".encode())
    return b"".join(parts)


def _tree_entries(root: Path, sha: str, view: dict[str, str]) -> list[tuple[str, str, str]]:
    """(mode, object id, path) of every blob and symlink committed at ``sha``.

    The trees are read object by object, name by name, rather than through ``ls-tree -r``,
    whose paths cannot tell a directory ``bench`` holding ``json.py`` from a crafted entry named
    ``bench/json.py``: every name must be a plain one, and every path must be named once."""
    id_bytes = len(sha) // 2
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    process = subprocess.Popen(
        ["git", "-c", f"safe.directory={root}", "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**environment, **_GIT_ENV, **view},
    )
    entries: list[tuple[str, str, str]] = []
    try:
        pending = [(f"{sha}^{{tree}}", "")]
        links: set[str] = set()
        while pending:
            tree, prefix = pending.pop()
            # A symlink and a directory of the same name ("a" -> /somewhere, then "a/b"):
            # writing "a/b" would follow the link out of the export. A tree is read only after
            # the whole of its parent, so its own name is all there is to look up: a tree deeper
            # beneath a link has a parent beneath it, refused at its first entry. (Looking up
            # every entry's every parent cost the square of the depth: minutes for a path
            # thousands of directories deep.)
            beneath_link = prefix.removesuffix("/") in links
            modes: dict[str, str] = {}
            for mode, name, object_id in _tree_records(process, tree, id_bytes, sha):
                path = f"{prefix}{name}"
                if beneath_link:
                    raise GitError(f"commit {sha[:12]} holds an unsafe path {path!r} (beneath "
                                   "a symlink of the same commit)")
                if name in modes and {modes[name], mode} != {"120000", "40000"}:
                    raise GitError(f"commit {sha[:12]} holds an unsafe path {path!r}: it names "
                                   "it twice in one tree")
                modes[name] = mode
                if mode == "120000":
                    links.add(path)
                if not _plain_component(name):
                    raise GitError(f"commit {sha[:12]} holds an unsafe path {path!r}: every name "
                                   "in a tree must be a plain file or directory name (not empty, "
                                   "'.', '..', '.git' in any case, or holding '/')")
                if mode == "40000":
                    pending.append((object_id, f"{path}/"))
                    continue
                if path.count("/") > MAX_PATH_DEPTH:
                    raise GitError(f"commit {sha[:12]} holds a path {path.count('/')} directories "
                                   f"deep (at most {MAX_PATH_DEPTH}): {path[:80]!r}...")
                if mode != "160000":  # a submodule's commit is not exported
                    entries.append((mode.rjust(6, "0"), object_id, path))
    finally:
        if process.stdin:
            process.stdin.close()
        process.kill()
        process.wait()
    return sorted(entries, key=lambda entry: entry[2])


def _tree_records(process: subprocess.Popen, tree: str, id_bytes: int,
                  sha: str) -> Iterator[tuple[str, str, str]]:
    """(mode, name, object id) of each entry of one tree object, as git stores them."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(tree.encode() + b"\n")
    process.stdin.flush()
    header = process.stdout.readline().split()
    if len(header) != 3 or header[1] != b"tree":
        raise GitError(f"commit {sha[:12]}: cannot read tree {tree[:12]}")
    data = process.stdout.read(int(header[2]))
    process.stdout.read(1)
    offset = 0
    while offset < len(data):
        space = data.index(b" ", offset)
        end = data.index(b"\0", space)
        mode = data[offset:space].decode()
        name = data[space + 1:end].decode("utf-8", "surrogateescape")
        object_id = data[end + 1:end + 1 + id_bytes].hex()
        offset = end + 1 + id_bytes
        yield mode, name, object_id


def _plain_component(name: str) -> bool:
    """A name that means itself in a file system: what is written is what is read back."""
    return name not in ("", ".", "..") and name.casefold() != ".git" and "/" not in name


def _read_object(process: subprocess.Popen, object_id: str) -> tuple[int, Iterator[bytes]]:
    """The size of a blob and its content in chunks (a blob may be far larger than memory: git
    stores gigabytes of zeros in a few megabytes). Consume the chunks before the next read."""
    assert process.stdin is not None and process.stdout is not None
    stdout = process.stdout
    process.stdin.write(object_id.encode() + b"\n")
    process.stdin.flush()
    header = stdout.readline().split()
    if len(header) != 3 or header[1] != b"blob":
        raise GitError(f"cannot read object {object_id[:12]}")
    size = int(header[2])

    def chunks() -> Iterator[bytes]:
        left = size
        while left:
            chunk = stdout.read(min(left, _CHUNK))
            if not chunk:
                raise GitError(f"cannot read object {object_id[:12]}: it ended early")
            left -= len(chunk)
            yield chunk
        stdout.read(1)  # the newline after the content

    return size, chunks()


def export_tree(root: Path, sha: str, destination: Path) -> Path:
    """Write exactly the tree committed at ``sha`` into ``destination``: every file with its
    committed bytes and executable bit, every symlink as its committed target."""
    destination.mkdir(parents=True, exist_ok=True)
    with clean_view(root) as view:
        entries = _tree_entries(root, sha, view)
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith("GIT_")}
        process = subprocess.Popen(
            ["git", "-c", f"safe.directory={root}", "-C", str(root), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**environment, **_GIT_ENV, **view},
        )
        links: set[PurePosixPath] = set()
        try:
            for mode, object_id, path in entries:
                # A crafted tree may hold a symlink and a directory of the same name ("a" ->
                # /somewhere, then "a/b"): writing "a/b" would follow the link out of the export.
                if any(parent in links for parent in PurePosixPath(path).parents):
                    raise GitError(f"commit {sha[:12]} holds an unsafe path {path!r} (beneath "
                                   "a symlink of the same commit)")
                if mode == "120000":
                    links.add(PurePosixPath(path))
                _write_entry(destination / path, mode, *_read_object(process, object_id))
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


def _write_entry(target: Path, mode: str, size: int, chunks: Iterator[bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if mode == "120000":
        if size > 4096:
            raise GitError(f"{target.name}: a symlink target longer than 4096 bytes")
        os.symlink(b"".join(chunks).decode("utf-8", "surrogateescape"), target)
        return
    permissions = _MODES.get(mode, 0o644)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, permissions)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    os.chmod(target, permissions)


def file_at(root: Path, sha: str, relative: PurePosixPath) -> bytes | None:
    """The bytes of ``relative`` as committed at ``sha``, or None when it is not there."""
    with clean_view(root) as view:
        result = _git(root, "show", f"{sha}:{relative.as_posix()}", check=False, text=False,
                      view=view)
    return result.stdout if result.returncode == 0 else None


def in_commit(root: Path, sha: str, relative: PurePosixPath) -> bool:
    """Whether ``relative`` (a file, link or directory) is part of the tree committed at ``sha``."""
    if not relative.parts or ".." in relative.parts or relative.is_absolute():
        return False
    with clean_view(root) as view:
        result = _git(root, "cat-file", "-e", f"{sha}:{relative.as_posix()}", check=False,
                      view=view)
    return result.returncode == 0


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


def is_protected(path: str, patterns: list[str]) -> bool:
    """Whether ``patterns`` (a benchmark's ``protected_paths``) cover the file ``path``."""
    return any(_glob_regex(pattern).match(path) for pattern in patterns)


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
    with clean_view(root) as view:
        _tree_entries(root, sha, view)  # the same refusals as the export: these paths reach it
        listing = _git(root, "ls-tree", "-r", "-z", "--full-tree", sha, view=view).stdout
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
        digest.update(f"{path}\0{files[path]}\n".encode("utf-8", "surrogateescape"))
    # Stored and shown: a name that is not UTF-8 keeps its odd bytes as \x escapes.
    shown = {path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"): value
             for path, value in files.items()}
    return ProtectedFiles("sha256:" + digest.hexdigest(), shown)


def head_subject(root: Path, sha: str) -> str:
    """The first line of the commit message at ``sha``."""
    with clean_view(root) as view:
        subject = _git(root, "log", "-1", "--format=%s", sha, check=False, text=False,
                       view=view).stdout
    return subject.decode("utf-8", "replace").strip()
