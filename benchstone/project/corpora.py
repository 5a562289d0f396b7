"""Harness-owned corpora: held-out data copied into ``$BENCHSTONE_HOME/corpora/<hash>/``.

The project never holds such data in its tree, so code under test cannot read it except through
the read-only mount a benchmark with ``corpus = "NAME"`` receives.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from benchstone.errors import CorpusError, NotYourCorpus
from benchstone.paths import Home, check_name, private_dir
from benchstone.project.corpus import CorpusCheck, check_corpus, tree_digest
from benchstone.project.snapshots import make_read_only
from benchstone.store import Store
from benchstone.store.records import Corpus
from benchstone.system.host import served_caller


def _check_copyable(source: Path) -> None:
    """Refuse what a copy could not hold: special files, and symlinks that lead out of the
    corpus (their target would stay outside the harness's store, unhashed and, in a sandbox,
    dangling)."""
    root = os.path.realpath(source)
    fix = "replace it with what it points to (cp -rL makes such a copy), or remove it"
    for directory, dirnames, filenames in os.walk(source):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            relative = path.relative_to(source)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(path)
                lexical = os.path.normpath(os.path.join(os.path.dirname(relative), target))
                real = os.path.realpath(path)
                if (os.path.isabs(target) or lexical == ".." or lexical.startswith("../")
                        or os.path.commonpath([root, real]) != root):
                    raise CorpusError(f"{relative} in {source} is a symlink to {target}, "
                                      "outside the corpus", fix=fix)
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise CorpusError(f"{relative} in {source} is not a regular file, directory "
                                  "or symlink (a FIFO, socket or device)", fix="remove it")


def add_corpus(store: Store, home: Home, name: str, source: Path) -> Corpus:
    """Copy ``source`` (a directory, or one file) into the harness's corpus store as ``name``."""
    check_name(name, "corpus")
    _refuse_another_callers(store.corpus(name))
    source = source.expanduser()
    if not source.exists():
        raise CorpusError(f"{source} does not exist")
    if source.is_dir():
        _check_copyable(source)
    elif not source.is_file():
        raise CorpusError(f"{source} is not a regular file or directory (a FIFO, socket or device)",
                          fix="give a directory or a file")
    private_dir(home.corpora_dir)
    staging = Path(tempfile.mkdtemp(dir=home.corpora_dir, prefix=".incoming-"))
    try:
        content = staging / "content"
        if source.is_dir():
            shutil.copytree(source, content, symlinks=True)
        else:
            content.mkdir()
            shutil.copy2(source, content / source.name)
        # The top directory stays writable until it has moved: moving a directory to another
        # parent needs write permission on it, which only root does without.
        make_read_only(content, including_root=False)
        digest = tree_digest(content)
        final = home.corpora_dir / digest
        if not final.exists():
            os.rename(content, final)
            os.chmod(final, 0o555)
    finally:
        for directory, _dirs, _files in os.walk(staging):
            os.chmod(directory, 0o700)
        shutil.rmtree(staging, ignore_errors=True)
    # Asked again under the write lock: another caller may have taken the name during the copy.
    with store.exclusive():
        _refuse_another_callers(store.corpus(name))
        return store.add_corpus(name=name, sha256=f"sha256:{digest}", path=str(final),
                                source=str(source.absolute()))


def check_owned_corpus(store: Store, name: str) -> CorpusCheck:
    record = store.corpus(name)
    if record is None:
        return CorpusCheck(
            "missing", None, None,
            detail=f"no harness-owned corpus named {name!r} (add it: bench corpus add {name} PATH)",
        )
    return check_corpus(Path(record.path), "tree", record.sha256)


def _refuse_another_callers(previous: Corpus | None) -> None:
    """Under the harness service, a corpus name is every benchmark's that names it: only the
    caller who added it (or an administrator) may point it at other data."""
    asking = served_caller()
    if previous is None or asking is None or previous.caller in (None, asking):
        return
    raise NotYourCorpus(
        f"corpus {previous.name!r} was added by {previous.caller}: only they or an "
        "administrator of the benchstone service may point it at other data",
        fix="add your data under a name of your own (bench corpus add NAME PATH), or ask "
            f"{previous.caller} or an administrator")
