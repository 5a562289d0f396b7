"""No censoring, one budget per tree: a repetition is on record from the moment it starts, so
stopping the slow ones never leaves only the fast on record; and the sequential test belongs to
the commit's tree, so an empty commit continues it rather than starting afresh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, verdict_of

from benchstone.paths import Home
from benchstone.store import Store

SB = ("--sandbox", "process")
# From the third repetition of a run set on, a repetition takes a long time: the ones an agent
# would stop. The protocol no longer tells a repetition its position, so the runner counts in a
# host file named by src/slow.txt (the process backend, which isolates nothing, lets it).
SLOW_TAIL = '''
from pathlib import Path
if Path("src/slow.txt").exists():
    counter = Path(Path("src/slow.txt").read_text().strip())
    done = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(done + 1))
    if done >= 2:
        time.sleep(60)
'''


def welch_toy(make_project, bench) -> Path:
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('promotion_sigma = 2.0',
                                                     'gate_policy = "welch"\nmax_repetitions = 20'))
    runner = root / "bench" / "runner.py"
    text = runner.read_text()
    assert 'started = time.perf_counter()\n' in text
    runner.write_text(text.replace('started = time.perf_counter()\n',
                                   'started = time.perf_counter()\n' + SLOW_TAIL))
    commit_all(root, "welch, and a slow tail when src/slow.txt exists")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", *SB).returncode == 0
    return root


def rows_recorded(home: Path) -> int:
    store = Store(Home(home).database)
    try:
        return sum(len(store.runs_of([rs.id])) for rs in
                   store.run_sets("toy", "speed", kinds=("run",)))
    finally:
        store.close()


@pytest.mark.slow
def test_stopping_a_run_before_its_slow_repetition_ends_withholds_promote(
        bench, make_project, home: Path, tmp_path: Path) -> None:
    root = welch_toy(make_project, bench)
    (root / "src" / "speed.txt").write_text("0.5\n")  # a true gain on the fast repetitions...
    # ...and the slow ones it would hide
    (root / "src" / "slow.txt").write_text(f"{tmp_path / 'repetitions-started'}\n")
    commit_all(root, "twice as fast, but for the slow seeds")
    process = subprocess.Popen(
        [sys.executable, "-m", "benchstone", "run", "toy", "speed", *SB], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while rows_recorded(home) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the third repetition has started
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert rows_recorded(home) == 2  # only the fast repetitions have rows...
    code, verdict = verdict_of(bench, "toy", "speed")
    # final: no further run at this tree can promote, so a loop is not told to run more
    assert (code, verdict["kind"]) == (1, "REJECT"), verdict["reason"]
    assert "failed or never finished" in verdict["reason"]  # ...and the stopped one counts
    assert verdict["candidate"]["n_errors"] == 1


@pytest.mark.slow
def test_an_empty_commit_continues_the_same_sequential_test(bench, make_project) -> None:
    root = welch_toy(make_project, bench)
    (root / "src" / "speed.txt").write_text("0.99\n")
    commit_all(root, "a hair faster")
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0
    first = verdict_of(bench, "toy", "speed")[1]
    assert first["sequential"]["runs"] == 2
    git(root, "commit", "-q", "--allow-empty", "-m", "nothing but a new SHA")
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0
    again = verdict_of(bench, "toy", "speed")[1]
    assert again["sequential"]["runs"] == 4, "the new SHA did not get a fresh budget"
    assert len(again["candidate"]["run_set_ids"]) == 2
    (root / "src" / "speed.txt").write_text("0.98\n")
    commit_all(root, "a real change")
    assert bench("run", "toy", "speed", "-n", "2", *SB).returncode == 0
    changed = verdict_of(bench, "toy", "speed")[1]
    assert changed["sequential"]["runs"] == 2, "another tree is another test"
    runs = json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"]
    assert all(entry["run_set"]["tree_sha"] for entry in runs)
