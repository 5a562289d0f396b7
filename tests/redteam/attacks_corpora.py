"""Attacks on what a run reads as its corpus, and on the scratch bound.

The corpus attacks change the data a run reads after the harness verified it: from the host
side, while a slow repetition runs (a process the attacker started earlier, here a thread of
the test that waits for the first repetition to be on record), or by keeping an edit of a
committed corpus out of git's sight with ``git update-index --skip-worktree``. Every runner
reports the number it read from the corpus as its metric: the verified data says 1.0, the
attacker's data 0.001 (the benchmarks minimize), so a row below 1.0 is the attack rewarded.

The scratch attacks flood the scratch directory in the ways a size watchdog misses or trails:
many small files, a sparse file filled piecemeal, fallocate, a background writer that outlives
the main process. The kernel must stop each at ``scratch_size`` (an error row saying so), and
nothing of it may reach the host's disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from redteam.attack import attack, benchmark, expect_failures
from redteam.attacks_resources import MiB, PeakScratch
from redteam.lab import Lab

VERIFIED = "1.000\n"
ATTACKER = "0.001\n"

READS_CORPUS = r'''
import time
time.sleep(1.5)  # the attacker's window: the corpus is verified and mounted, the run is slow
path = config["corpus_path"]
if os.path.isdir(path):
    path = os.path.join(path, "input.txt")
value = float(open(path).read())
report(value, read=value)
'''


def _verified_hash(lab: Lab) -> str:
    """The tree hash of a corpus holding the verified input."""
    staging = Path(tempfile.mkdtemp(dir=lab.root))
    (staging / "input.txt").write_text(VERIFIED)
    try:
        return lab.corpus_hash(staging)
    finally:
        shutil.rmtree(staging)


class OnceRunning:
    """A host-side attacker: ``strike`` runs as soon as the lab's first repetition of a run is
    on record (the corpus verified and mounted), ``restore`` once the run has ended."""

    def __init__(self, lab: Lab, strike: Callable[[], None], restore: Callable[[], None]):
        self.lab, self.strike, self.restore = lab, strike, restore
        self.struck = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _started(self) -> int:
        if not (self.lab.home / "bench.db").exists():
            return 0
        try:
            with self.lab.database() as db:
                return db.execute(
                    "SELECT COUNT(*) FROM repetition_starts rs JOIN run_sets s "
                    "ON s.id = rs.run_set_id WHERE s.project = ?",
                    [self.lab.project_name]).fetchone()[0]
        except Exception:  # the store is being written: ask again
            return 0

    def _loop(self) -> None:
        baseline = self._started()
        while not self._stop.wait(0.02):
            if self._started() > baseline:
                self.strike()
                self.struck = True
                return

    def __enter__(self) -> OnceRunning:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.restore()


def _expect_verified_reads(lab: Lab, benchmark_name: str, count: int) -> None:
    rows = lab.runs(benchmark_name)
    lab.expect(len(rows) == count, f"{benchmark_name}: expected {count} rows, found {len(rows)}")
    for row in rows:
        lab.expect(row["status"] == "ok" and row["metric"] == 1.0,
                   f"{benchmark_name} rep {row['repetition']}: {row['status']} metric "
                   f"{row['metric']} ({row['message']}): the run read data the harness never "
                   "verified")


@attack("rewrite_project_corpus_mid_run",
        "pin an untracked corpus inside the project, then rewrite it in place from the host "
        "while slow repetitions run",
        "change the corpus after it was verified", as_user_too=True)
def rewrite_project_corpus_mid_run(lab: Lab) -> None:
    pinned = _verified_hash(lab)
    lab.make_project(READS_CORPUS, python=True, files={
        ".gitignore": "data/\n", "data/input.txt": VERIFIED,
    }, benchmarks=[benchmark(corpus_path="data", corpus_type="tree", corpus_hash=pinned,
                             repetitions=3, timeout_seconds=60)])
    lab.register()
    lab.arm()
    target = lab.project / "data" / "input.txt"

    def rewrite(text: str) -> Callable[[], None]:
        def write() -> None:
            with open(target, "r+") as handle:  # the same inode: a hard link would see it
                handle.write(text)
        return write

    with OnceRunning(lab, rewrite(ATTACKER), rewrite(VERIFIED)) as attacker:
        lab.bench("run", lab.project_name, "probe", allow={0}, timeout=240)
    lab.expect(attacker.struck, "the attacker never saw a repetition start")
    _expect_verified_reads(lab, "probe", 3)


@attack("swap_corpus_after_verification",
        "pin a corpus outside the project (by path, and by name with bench corpus add), then "
        "swap its directory for another and rewrite the original while repetitions run",
        "change the corpus after it was verified", as_user_too=True)
def swap_corpus_after_verification(lab: Lab) -> None:
    corpus = lab.make_corpus({"input.txt": VERIFIED})
    lab.make_project(READS_CORPUS, python=True, benchmarks=[
        benchmark(corpus_path=str(corpus), corpus_type="tree", corpus_hash=lab.corpus_hash(corpus),
                  repetitions=3, timeout_seconds=60),
        benchmark(name="named", corpus="held", repetitions=2, timeout_seconds=60),
    ])
    lab.setup("corpus", "add", "held", str(corpus), sandbox=None)
    lab.register()
    lab.arm()
    aside = lab.root / "corpus.verified"

    def swap() -> None:
        corpus.rename(aside)
        corpus.mkdir()
        (corpus / "input.txt").write_text(ATTACKER)
        os.chmod(corpus / "input.txt", 0o644)
        with open(aside / "input.txt", "r+") as handle:
            handle.write(ATTACKER)

    def restore() -> None:
        if aside.exists():
            with open(aside / "input.txt", "r+") as handle:
                handle.write(VERIFIED)
            shutil.rmtree(corpus)
            aside.rename(corpus)

    for name, count in (("probe", 3), ("named", 2)):
        with OnceRunning(lab, swap, restore) as attacker:
            lab.bench("run", lab.project_name, name, allow={0}, timeout=240)
        lab.expect(attacker.struck, f"{name}: the attacker never saw a repetition start")
        _expect_verified_reads(lab, name, count)


@attack("skip_worktree_corpus",
        "commit a corpus, then edit it under git update-index --skip-worktree (git status stays "
        "clean) and pin the manifest either to nothing or to the edited data",
        "feed the runs a corpus other than the commit's")
def skip_worktree_corpus(lab: Lab) -> None:
    staging = Path(tempfile.mkdtemp(dir=lab.root))
    (staging / "input.txt").write_text(ATTACKER)
    edited = lab.corpus_hash(staging)
    shutil.rmtree(staging)
    lab.make_project(READS_CORPUS, python=True, files={"data/input.txt": VERIFIED}, benchmarks=[
        benchmark(corpus_path="data", corpus_type="tree", repetitions=2, timeout_seconds=60),
        benchmark(name="pinned", corpus_path="data", corpus_type="tree", corpus_hash=edited,
                  repetitions=2, timeout_seconds=60),
    ])
    lab.git("update-index", "--skip-worktree", "data/input.txt")
    (lab.project / "data" / "input.txt").write_text(ATTACKER)
    lab.expect(lab.git("status", "--porcelain") == "", "git status shows the edit")
    lab.register()
    lab.arm()
    # Unpinned: the commit's corpus is what runs, whether or not the edit is allowed as dirty.
    refused = lab.bench("run", lab.project_name, "probe")
    if refused.returncode == 0:
        _expect_verified_reads(lab, "probe", 2)
    else:
        lab.expect(lab.runs("probe") == [], "a refused run recorded rows")
    lab.bench("run", lab.project_name, "probe", "--allow-dirty", allow={0})
    _expect_verified_reads(lab, "probe", 2)
    # Pinned to the edit: the commit does not hold what the manifest pins, so nothing runs.
    call = lab.bench("run", lab.project_name, "pinned", "--allow-dirty", allow={5})
    lab.expect("as committed at" in call.stderr, f"not refused for the commit's corpus: "
               f"{call.stderr.strip()[-300:]}")
    lab.expect(lab.runs("pinned") == [], "the pinned benchmark recorded rows")


# ---- the scratch bound ---------------------------------------------------------------------

SCRATCH = "64m"

MANY_FILES = """
written = 0
try:
    for i in range(1_000_000):  # a page each: 4 GiB, or 1,000,000 inodes
        with open(os.path.join(scratch, "f%d" % i), "w") as handle:
            handle.write("x")
        written += 1
except OSError as exc:
    report(0.001, written=written, error=str(exc))
else:
    report(0.001, written=written)
"""

SPARSE = """
fd = os.open(os.path.join(scratch, "sparse"), os.O_CREAT | os.O_WRONLY, 0o600)
os.lseek(fd, 1 << 40, os.SEEK_SET)
os.write(fd, b"x")  # 1 TiB apparent, one page allocated
filled = 0
try:
    for step in range(4096):  # then fill it piecemeal, 1 MiB every GiB: 4 GiB in all
        os.pwrite(fd, b"x" * (1 << 20), step << 30)
        filled += 1
except OSError:
    pass
os.close(fd)
report(0.001, filled_mib=filled)
"""

FALLOCATE = """
fd = os.open(os.path.join(scratch, "reserved"), os.O_CREAT | os.O_WRONLY, 0o600)
reserved = 0
try:
    for step in range(8192):  # reserve 8 GiB, 1 MiB at a time, without writing a byte
        os.posix_fallocate(fd, step << 20, 1 << 20)
        reserved += 1
except OSError:
    pass
os.close(fd)
os.link(os.path.join(scratch, "reserved"), os.path.join(scratch, "hard-link"))
report(0.001, reserved_mib=reserved)
"""

BACKGROUND = """
import subprocess
subprocess.Popen(["sh", "-c", 'trap "" TERM HUP; i=0; while :; do '
                  'dd if=/dev/zero of="$0/flood-$i" bs=1M count=16 2>/dev/null; i=$((i+1)); done',
                  scratch], start_new_session=True)
report(0.001)  # a valid result; the main process exits cleanly 3 s later, its child never does
import time
time.sleep(3)
"""


def _scratch_flood(lab: Lab, runner: str) -> None:
    lab.make_project(runner, python=True, benchmarks=[
        benchmark(scratch_size=SCRATCH, repetitions=1, timeout_seconds=60)])
    lab.register()
    lab.arm()
    free_before = shutil.disk_usage(lab.root).free
    with PeakScratch(lab) as peak:
        call = lab.bench("run", lab.project_name, "probe", allow={1}, timeout=180)
    free_after = shutil.disk_usage(lab.root).free
    expect_failures(lab, {"scratch_limit"}, 1)
    for row in lab.runs():
        lab.expect(SCRATCH in (row["message"] or ""), f"unclear message: {row['message']}")
    lab.expect(call.seconds < 90, f"the run took {call.seconds:.0f} s")
    lab.expect(peak.bytes < MiB, f"{peak.bytes // 1024} KiB reached the host's scratch directory")
    lab.notes.append(f"host scratch peak {peak.bytes // 1024} KiB; host free space "
                     f"{(free_before - free_after) / MiB:+.0f} MiB used meanwhile (others included)")


@attack("scratch_flood_many_files",
        "write a million one-byte files into scratch (scratch_size = 64m)",
        "exhaust disk through many small files")
def scratch_flood_many_files(lab: Lab) -> None:
    _scratch_flood(lab, MANY_FILES)


@attack("scratch_flood_sparse",
        "make a 1 TiB sparse file in scratch and fill it 1 MiB per GiB (scratch_size = 64m)",
        "exhaust disk through one sparse file a size poll undercounts")
def scratch_flood_sparse(lab: Lab) -> None:
    _scratch_flood(lab, SPARSE)


@attack("scratch_flood_fallocate",
        "reserve 8 GiB of scratch with posix_fallocate, 1 MiB at a time, then hard-link the "
        "file (scratch_size = 64m)",
        "exhaust disk without writing a byte")
def scratch_flood_fallocate(lab: Lab) -> None:
    _scratch_flood(lab, FALLOCATE)


@attack("scratch_flood_background_writer",
        "leave a detached child writing into scratch forever after a valid result and a clean "
        "exit (scratch_size = 64m)",
        "exhaust disk after the main process is done")
def scratch_flood_background_writer(lab: Lab) -> None:
    _scratch_flood(lab, BACKGROUND)
