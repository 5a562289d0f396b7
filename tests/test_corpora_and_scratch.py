"""End to end through the CLI and the engine: a run reads the corpus that was verified (from the
commit, or from its snapshot), and the kernel bounds the scratch directory."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import commit_all, git

from benchstone.project.corpus import corpus_hash

pytestmark = pytest.mark.docker

READS_CORPUS = """\
import json, os, sys, time
config = json.load(open(sys.argv[1]))
time.sleep(float(os.environ.get("PAUSE", "0")))
path = config["corpus_path"]
if os.path.isdir(path):
    path = os.path.join(path, "input.txt")
value = float(open(path).read())
json.dump({"status": "ok", "metric": value}, open(sys.argv[2], "w"))
"""


def _project(tmp_path: Path, runner: str, benchmark: str, files: dict[str, str]) -> Path:
    root = tmp_path / "proj"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "runner.py").write_text(runner)
    (root / "bench" / "manifest.toml").write_text(
        '[project]\nname = "corpora"\nlanguage = "python"\n'
        'invocation = "python3 bench/runner.py {config_path} {output_path}"\n\n'
        '[[benchmarks]]\nname = "probe"\ntier = "performance"\nmetric_direction = "minimize"\n'
        'repetitions = 2\nbaseline_seeds = [1, 2]\ntimeout_seconds = 60\n' + benchmark)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")
    return root


def _rows(home: Path) -> list[dict]:
    """The rows of the newest run set, read from the store itself."""
    connection = sqlite3.connect(f"file:{home / 'bench.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            "SELECT * FROM runs WHERE run_set_id = (SELECT MAX(id) FROM run_sets) "
            "ORDER BY repetition").fetchall()
        return [dict(row) for row in rows]
    finally:
        connection.close()


def _metrics(home: Path) -> list[float | None]:
    return [row["metric"] for row in _rows(home) if row["status"] == "ok"]


def test_a_committed_corpus_is_read_from_the_commit(bench, tmp_path: Path, home: Path,
                                                    docker_client) -> None:
    root = _project(tmp_path, READS_CORPUS, 'corpus_path = "data"\ncorpus_type = "tree"\n',
                    {"data/input.txt": "1.0\n"})
    assert bench("register", str(root)).returncode == 0
    git(root, "update-index", "--skip-worktree", "data/input.txt")
    (root / "data" / "input.txt").write_text("0.5\n")
    run = bench("run", "corpora", "probe", "--sandbox", "docker", "--allow-dirty")
    assert run.returncode == 0, run.stderr
    assert _metrics(home) == [1.0, 1.0]


def test_an_untracked_corpus_runs_from_a_reused_read_only_snapshot(bench, tmp_path: Path,
                                                                   home: Path,
                                                                   docker_client) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "input.txt").write_text("1.0\n")
    os.chmod(corpus, 0o755)
    os.chmod(corpus / "input.txt", 0o644)
    pinned = corpus_hash(corpus, "tree")
    root = _project(tmp_path, READS_CORPUS, f'corpus_path = "{corpus}"\ncorpus_type = "tree"\n'
                    f'corpus_hash = "{pinned}"\n', {})
    assert bench("register", str(root)).returncode == 0
    assert bench("run", "corpora", "probe", "--sandbox", "docker").returncode == 0
    assert _metrics(home) == [1.0, 1.0]
    snapshot = home / "snapshots" / f"tree-{pinned[7:]}" / "data"
    assert (snapshot / "input.txt").read_text() == "1.0\n"
    assert (snapshot / "input.txt").stat().st_mode & 0o777 == 0o444
    inode = (snapshot / "input.txt").stat().st_ino
    assert not list((home / "snapshots" / ".leases").iterdir())  # released when the run ended

    # the original drifts: refused, and the snapshot is not what decides
    (corpus / "input.txt").write_text("0.5\n")
    drifted = bench("run", "corpora", "probe", "--sandbox", "docker")
    assert drifted.returncode == 5 and "does not match the manifest" in drifted.stderr
    (corpus / "input.txt").write_text("1.0\n")
    assert bench("run", "corpora", "probe", "--sandbox", "docker").returncode == 0
    assert (snapshot / "input.txt").stat().st_ino == inode  # reused, not copied again

    gc = bench("gc")
    assert gc.returncode == 0 and "1 corpus snapshot" in gc.stdout
    assert not snapshot.exists()


RESULT_THEN_FLOOD = """\
import json, os, sys
out = sys.argv[2]
scratch = os.path.dirname(out)
json.dump({"status": "ok", "metric": 1.0}, open(out, "w"))
written = 0
try:
    with open(os.path.join(scratch, "flood"), "wb") as handle:
        while written < 256 * 1024 * 1024:
            handle.write(b"x" * (1 << 20))
            handle.flush()
            written += 1 << 20
except OSError as exc:
    print(f"refused after {written // (1 << 20)} MiB: {exc.strerror}", file=sys.stderr)
    raise SystemExit(0)
print(f"wrote {written // (1 << 20)} MiB", file=sys.stderr)
"""


def test_the_kernel_stops_scratch_at_scratch_size(bench, tmp_path: Path, home: Path,
                                                   docker_client) -> None:
    root = _project(tmp_path, RESULT_THEN_FLOOD, 'scratch_size = "16m"\n', {})
    assert bench("register", str(root)).returncode == 0
    run = bench("run", "corpora", "probe", "--sandbox", "docker", "--repetitions", "1")
    assert run.returncode == 1
    history = _rows(home)
    assert [(row["status"], row["failure"]) for row in history] == [("error", "scratch_limit")]
    assert "scratch_size = 16m" in history[0]["message"]
    logs = list((home / "logs" / "corpora" / "probe").glob("*.stderr"))
    told = logs[0].read_text()
    assert "No space left on device" in told
    assert int(told.split("refused after ")[1].split(" MiB")[0]) <= 16


OVERSIZE = """\
import json, os, sys
out = sys.argv[2]
kind = json.load(open(sys.argv[1]))["repetition_index"]
if kind == 0:
    with open(out, "w") as handle:
        handle.write('{"status": "ok", "metric": 1.0, "message": "' + "x" * 3_000_000 + '"}')
else:
    os.symlink("/benchstone/project/bench/runner.py", out)
"""


def test_oversized_and_symlinked_results_are_still_refused(bench, tmp_path: Path, home: Path,
                                                           docker_client) -> None:
    root = _project(tmp_path, OVERSIZE, "", {})
    assert bench("register", str(root)).returncode == 0
    run = bench("run", "corpora", "probe", "--sandbox", "docker")
    assert run.returncode == 1
    history = _rows(home)
    messages = sorted(row["message"] for row in history)
    assert any("over the" in message and "limit" in message for message in messages), messages
    assert any("symlink" in message for message in messages), messages


EMPTY_FILES = """\
import json, os, sys
out = sys.argv[2]
scratch = os.path.dirname(out)
json.dump({"status": "ok", "metric": 1.0}, open(out, "w"))
try:
    for index in range(1_000_000):  # empty files take no page, only an inode each
        open(os.path.join(scratch, "f%d" % index), "w").close()
except OSError:
    pass
"""


def test_empty_files_are_bounded_by_inodes(bench, tmp_path: Path, home: Path,
                                           docker_client) -> None:
    root = _project(tmp_path, EMPTY_FILES, "", {})
    assert bench("register", str(root)).returncode == 0
    run = bench("run", "corpora", "probe", "--sandbox", "docker", "--repetitions", "1")
    assert run.returncode == 1
    assert [(row["status"], row["failure"]) for row in _rows(home)] == [("error", "scratch_limit")]
