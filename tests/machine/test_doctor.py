"""`bench doctor`'s state-directory check: private files are made private, harness-owned corpora
stay readable by the container's user (their 0700 parent keeps other users out)."""

from __future__ import annotations

import stat
from pathlib import Path

from benchstone import api
from benchstone.machine.doctor import check_state_directory
from benchstone.paths import Home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_fix_makes_state_private_and_leaves_corpora_readable(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "held"
    data.mkdir()
    (data / "a.txt").write_text("held-out input\n")
    corpus = api.add_corpus("held", data, home=home)
    place = Home(home)
    stored = [path for path in place.corpora_dir.rglob("*") if path.is_file()]
    assert stored and all(mode(path) == 0o444 for path in stored)
    assert mode(place.corpora_dir) == 0o700

    assert check_state_directory(place, repair=False).ok, "a fresh corpus is not a problem"
    loose = place.root / "logs" / "loose.txt"
    loose.parent.mkdir(mode=0o700, exist_ok=True)
    loose.write_text("x")
    loose.chmod(0o644)
    found = check_state_directory(place, repair=False)
    assert not found.ok and str(loose) in found.detail

    assert check_state_directory(place, repair=True).ok
    assert mode(loose) == 0o600
    assert all(mode(path) == 0o444 for path in stored), "corpora keep their read-only modes"
    assert corpus.name == "held"
