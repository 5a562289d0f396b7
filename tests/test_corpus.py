"""Corpus pinning: the bytes, spec and tree hashes, corpus status, and ``bench corpus-hash``."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import pytest
from conftest import commit_all

from benchstone.errors import CorpusError
from benchstone.project.corpus import check_corpus, corpus_hash, tree_digest


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reference_tree_hash(root: Path) -> str:
    """The ``tree`` hash written from the format documented in benchstone/project/corpus.py, not its code."""
    records = []
    for directory, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, os.fsencode(root))
            info = os.lstat(full)
            if os.path.islink(full):
                record = b"link\0" + relative + b"\0" + os.readlink(full) + b"\n"
            elif os.path.isdir(full):
                record = b"dir\0" + relative + b"\0\n"
            else:
                with open(full, "rb") as handle:
                    digest = sha256(handle.read()).encode()
                mode = b"x" if info.st_mode & 0o111 else b"-"
                record = b"file\0" + relative + b"\0" + mode + b"\0" + digest + b"\n"
            records.append((relative, record))
    stream = b"".join(record for _path, record in sorted(records))
    return "sha256:" + sha256(stream)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A directory with nesting, names whose byte order differs from per-component order, an
    executable, an empty directory, symlinks (to a file, to a directory, dangling, absolute)."""
    root = tmp_path / "corpus"
    (root / "a").mkdir(parents=True)
    (root / "a" / "b").write_bytes(b"inner\n")
    (root / "a.txt").write_bytes(b"beside\n")  # b"a.txt" < b"a/b": '.' sorts before '/'
    (root / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "empty").mkdir()
    (root / "data.bin").write_bytes(bytes(range(256)) * 10)
    (root / "link-file").symlink_to("a.txt")
    (root / "link-dir").symlink_to("a")
    (root / "dangling").symlink_to("does/not/exist")
    (root / "absolute").symlink_to("/etc/hostname")
    (root / "spaces and ünïcode.txt").write_text("x")
    return root


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """An empty directory of the test's own: its ``tmp_path`` holds the state directory."""
    root = tmp_path / "empty"
    root.mkdir()
    return root


# ---- bytes and spec, as the seed -------------------------------------------------------------


def test_bytes_is_sha256_of_the_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # over one read chunk
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert corpus_hash(path, "bytes") == "sha256:" + sha256(data)


def test_bytes_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is not a file"):
        corpus_hash(tmp_path, "bytes")


def test_spec_is_sha256_of_corpus_spec_toml_only(tmp_path: Path) -> None:
    spec = b'generator = "uniform"\nn = 1000\n'
    (tmp_path / "corpus_spec.toml").write_bytes(spec)
    (tmp_path / "generated.bin").write_bytes(b"first")
    first = corpus_hash(tmp_path, "spec")
    assert first == "sha256:" + sha256(spec)
    (tmp_path / "generated.bin").write_bytes(b"regenerated differently")
    (tmp_path / "more").mkdir()
    assert corpus_hash(tmp_path, "spec") == first
    (tmp_path / "corpus_spec.toml").write_bytes(spec + b"seed = 2\n")
    assert corpus_hash(tmp_path, "spec") != first


def test_spec_needs_the_spec_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"corpus_spec\.toml"):
        corpus_hash(tmp_path, "spec")


def test_unknown_type_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="unknown corpus_type 'zip'"):
        corpus_hash(tmp_path, "zip")
    with pytest.raises(CorpusError, match="does not exist"):
        corpus_hash(tmp_path / "absent", "bytes")


# ---- tree: the documented format ------------------------------------------------------------


def test_tree_matches_the_documented_format(tree: Path) -> None:
    assert corpus_hash(tree, "tree") == reference_tree_hash(tree)
    assert tree_digest(tree) == reference_tree_hash(tree).removeprefix("sha256:")


def test_tree_of_an_empty_directory_is_sha256_of_nothing(empty: Path) -> None:
    assert corpus_hash(empty, "tree") == "sha256:" + sha256(b"")


def test_tree_of_one_file_written_out_by_hand(empty: Path) -> None:
    (empty / "f").write_bytes(b"hello")
    stream = b"file\0f\0-\0" + sha256(b"hello").encode() + b"\n"
    assert corpus_hash(empty, "tree") == "sha256:" + sha256(stream)


def test_tree_orders_paths_as_bytes(empty: Path) -> None:
    (empty / "a").mkdir()
    (empty / "a" / "b").write_bytes(b"1")
    (empty / "a.txt").write_bytes(b"2")
    stream = (b"dir\0a\0\n"
              + b"file\0a.txt\0-\0" + sha256(b"2").encode() + b"\n"
              + b"file\0a/b\0-\0" + sha256(b"1").encode() + b"\n")
    assert corpus_hash(empty, "tree") == "sha256:" + sha256(stream)


def test_tree_hash_is_stable_across_copies(tree: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tree, copy, symlinks=True)
    assert corpus_hash(copy, "tree") == corpus_hash(tree, "tree")


def test_executable_bit_changes_the_hash(tree: Path) -> None:
    before = corpus_hash(tree, "tree")
    os.chmod(tree / "data.bin", 0o744)
    assert corpus_hash(tree, "tree") != before
    os.chmod(tree / "data.bin", 0o644)
    assert corpus_hash(tree, "tree") == before
    os.chmod(tree / "data.bin", 0o600)  # other mode bits do not count
    assert corpus_hash(tree, "tree") == before


@pytest.mark.parametrize("change", ["content", "rename", "new empty dir", "remove"])
def test_every_kind_of_change_changes_the_hash(tree: Path, change: str) -> None:
    before = corpus_hash(tree, "tree")
    if change == "content":
        (tree / "a" / "b").write_bytes(b"inner!\n")
    elif change == "rename":
        (tree / "a" / "b").rename(tree / "a" / "c")
    elif change == "new empty dir":
        (tree / "a" / "sub").mkdir()
    else:
        (tree / "empty").rmdir()
    assert corpus_hash(tree, "tree") != before


def test_symlink_is_hashed_as_its_target_text_and_never_followed(tree: Path, tmp_path: Path) -> None:
    before = corpus_hash(tree, "tree")
    (tree / "a.txt").write_bytes(b"changed through the link's target\n")
    changed_target = corpus_hash(tree, "tree")
    assert changed_target != before  # a.txt itself changed...
    (tree / "a.txt").write_bytes(b"beside\n")
    assert corpus_hash(tree, "tree") == before  # ...but link-file only ever contributed its text

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"1")
    (tree / "escape").symlink_to(outside)
    with_escape = corpus_hash(tree, "tree")
    (outside / "secret").write_bytes(b"2")
    (outside / "more").write_bytes(b"3")
    assert corpus_hash(tree, "tree") == with_escape  # never followed out of the tree
    (tree / "escape").unlink()
    (tree / "escape").symlink_to(str(outside) + "/")
    assert corpus_hash(tree, "tree") != with_escape  # the target text is what counts


def test_symlinked_directory_inside_the_tree_is_not_walked_twice(empty: Path) -> None:
    (empty / "d").mkdir()
    (empty / "d" / "f").write_bytes(b"n")
    (empty / "l").symlink_to("d")
    stream = (b"dir\0d\0\n"
              + b"file\0d/f\0-\0" + sha256(b"n").encode() + b"\n"
              + b"link\0l\0d\n")  # no record for l/f
    assert corpus_hash(empty, "tree") == "sha256:" + sha256(stream)


def test_fifo_in_a_tree_is_an_error(tree: Path) -> None:
    os.mkfifo(tree / "a" / "pipe")
    with pytest.raises(CorpusError, match="only files, directories and symlinks"):
        corpus_hash(tree, "tree")


def test_socket_in_a_tree_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "s"))
        with pytest.raises(CorpusError):
            corpus_hash(root, "tree")
    finally:
        server.close()


def test_undecodable_file_names_are_hashed_as_their_bytes(empty: Path) -> None:
    name = b"\xff\xfe.bin"
    with open(os.path.join(os.fsencode(empty), name), "wb") as handle:
        handle.write(b"z")
    stream = b"file\0" + name + b"\0-\0" + sha256(b"z").encode() + b"\n"
    assert corpus_hash(empty, "tree") == "sha256:" + sha256(stream)


def test_tree_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(CorpusError, match="is not a directory"):
        corpus_hash(tmp_path / "f", "tree")


# ---- status ----------------------------------------------------------------------------------


def test_check_corpus_statuses(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"v1")
    pinned = "sha256:" + sha256(b"v1")
    assert check_corpus(None, "bytes", None).status == "n/a"
    assert check_corpus(path, "bytes", pinned).status == "ok"
    path.write_bytes(b"v2")
    drift = check_corpus(path, "bytes", pinned)
    assert (drift.status, drift.actual) == ("drift", "sha256:" + sha256(b"v2"))
    with pytest.raises(CorpusError, match="does not match the manifest"):
        drift.require()
    missing = check_corpus(tmp_path / "gone", "bytes", pinned)
    assert missing.status == "missing"
    with pytest.raises(CorpusError, match="does not exist"):
        missing.require()
    wrong_shape = check_corpus(tmp_path, "bytes", pinned)  # a directory where a file belongs
    assert wrong_shape.status == "missing"


# ---- the CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "spec", "tree"])
def test_bench_corpus_hash_prints_the_value(bench, tree: Path, kind: str) -> None:
    (tree / "corpus_spec.toml").write_bytes(b"n = 3\n")
    target = tree / "data.bin" if kind == "bytes" else tree
    args = ["corpus-hash", str(target)] + ([] if kind == "bytes" else ["--type", kind])
    result = bench(*args)
    assert result.returncode == 0, result.stderr
    expected = {"bytes": "sha256:" + sha256((tree / "data.bin").read_bytes()),
                "spec": "sha256:" + sha256(b"n = 3\n"), "tree": reference_tree_hash(tree)}[kind]
    assert result.stdout == expected + "\n"
    as_json = json.loads(bench(*args, "--json").stdout)
    assert as_json == {"path": str(target), "corpus_type": kind, "corpus_hash": expected}


def test_bench_corpus_hash_bad_input_is_one_error_line(bench, tmp_path: Path) -> None:
    for args in (["corpus-hash", str(tmp_path / "absent")],
                 ["corpus-hash", str(tmp_path), "--type", "zip"]):
        result = bench(*args)
        assert result.returncode == 5
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_a_corpus_nested_too_deeply_is_one_error_line(bench, tmp_path: Path) -> None:
    """Nesting past the recursion limit (whoever writes the corpus can) is refused, not a
    crash, and never a hash that leaves entries out."""
    deep = tmp_path / "deep"
    deep.mkdir()
    level = deep
    try:
        for _ in range(1200):  # os.makedirs itself recurses
            level = level / "d"
            level.mkdir()
        result = bench("corpus-hash", str(deep), "--type", "tree")
        assert result.returncode == 5, result.stderr
        assert result.stderr.startswith("error: ") and "too deeply" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert check_corpus(deep, "tree", "sha256:" + "0" * 64).status == "missing"
    finally:
        from benchstone.system.workdirs import remove_tree

        remove_tree(deep)  # pytest's own clean-up of old runs would recurse too deep


def test_drift_is_shown_by_register_and_list_and_stops_a_run(bench, make_project) -> None:
    root = make_project("toy")
    corpus = root / "bench" / "corpus"
    corpus.mkdir()
    (corpus / "data.txt").write_text("v1\n")
    pinned = corpus_hash(corpus, "tree")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'promotion_sigma = 2.0\n',
        f'promotion_sigma = 2.0\ncorpus_path = "bench/corpus"\ncorpus_type = "tree"\n'
        f'corpus_hash = "{pinned}"\n', 1))
    commit_all(root, "pin the corpus")

    registered = bench("register", str(root), "--json")
    assert registered.returncode == 0, registered.stderr
    statuses = {b["name"]: b["corpus"] for b in json.loads(registered.stdout)["benchmarks"]}
    assert statuses == {"speed": "ok", "quality": "n/a", "output": "n/a"}

    (corpus / "data.txt").write_text("v2\n")  # drift (and a dirty tree, allowed below)
    listed = bench("list", "--json")
    assert {b["name"]: b["corpus"] for b in json.loads(listed.stdout)[0]["benchmarks"]}["speed"] == "drift"
    assert "corpus drift" in bench("list").stdout

    # The corpus is committed: a run reads it from the commit, so the working tree's edit never
    # reaches it. Committing the edit without pinning it stops the run.
    run = bench("run", "toy", "speed", "--sandbox", "process", "--allow-dirty",
                "--repetitions", "1")
    assert run.returncode == 0, run.stderr
    commit_all(root, "change the corpus, not its pin")
    run = bench("run", "toy", "speed", "--sandbox", "process")
    assert run.returncode == 5
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: corpus "), run.stderr
    assert "as committed at" in run.stderr and "does not match the manifest" in run.stderr
    assert len(json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"]) == 1

    (corpus / "data.txt").unlink()
    (corpus).rmdir()
    listed = bench("list", "--json")
    assert {b["name"]: b["corpus"] for b in json.loads(listed.stdout)[0]["benchmarks"]}["speed"] == "missing"


def test_a_directory_the_walk_cannot_list_is_a_corpus_error(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads every directory, so the walk's own report of an unreadable one is played here.
    corpus = tmp_path / "corpus"
    (corpus / "locked").mkdir(parents=True)
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(CorpusError, match=r"locked: cannot be listed \(Permission denied\)"):
        corpus_hash(corpus, "tree")


def test_a_name_another_caller_took_during_the_copy_stays_theirs(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the harness service two callers may add the same new name at once. The one whose
    row lands first keeps it: the other's ownership check is asked again under the write lock,
    after its copy, and refuses."""
    import subprocess
    import sys

    import benchstone.project.corpora as corpora
    from benchstone.errors import NotYourCorpus
    from benchstone.paths import Home
    from benchstone.store import Store

    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for directory, text in ((mine, "alice's data"), (theirs, "bob's data")):
        directory.mkdir()
        (directory / "input.txt").write_text(text)
    digest_of = corpora.tree_digest

    def bob_adds_meanwhile(root: Path) -> str:
        # a real second caller, in a process of its own, while alice's copy is being hashed
        subprocess.run([sys.executable, "-m", "benchstone", "corpus", "add", "shared", str(theirs)],
                       env={**os.environ, "BENCHSTONE_CALLER": "bob"}, check=True,
                       capture_output=True)
        return digest_of(root)

    monkeypatch.setattr(corpora, "tree_digest", bob_adds_meanwhile)
    monkeypatch.setenv("BENCHSTONE_CALLER", "alice")
    with Store(home / "bench.db") as store:
        with pytest.raises(NotYourCorpus, match="added by bob"):
            corpora.add_corpus(store, Home(home), "shared", mine)
        record = store.corpus("shared")
    assert record is not None and record.caller == "bob"
    assert (Path(record.path) / "input.txt").read_text() == "bob's data"
