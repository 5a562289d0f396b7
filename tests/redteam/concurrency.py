"""Concurrency: eight ``bench run`` processes on different benchmarks of one project write to one
store at once (most on the process backend, to stay quick on two cores, and some on docker),
while readers run ``evaluate`` and ``history`` in a loop. The scheduler gives each run cores of
its own, so the writers start with ``--wait``: those without a core queue, polling the store in
write transactions while the others record rows. Every repetition's row must be there exactly
once, and no lock error (nor any other failure) may reach a user.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from redteam.attack import benchmark
from redteam.crash import store_problems
from redteam.lab import Lab

QUICK = """\
seed=$(sed -n 's/.*"seed": *\\([0-9]*\\).*/\\1/p' "$2")
printf '{"status": "ok", "metric": %s}\\n' "$(awk -v s="$seed" 'BEGIN { print 1 + (s % 7) / 1000 }')" > "$3"
"""
LOCK_WORDS = ("locked", "busy", "Traceback", "internal error")


@dataclass
class ConcurrencyReport:
    writers: int
    docker_writers: int
    readers: int
    reads: int
    rows_expected: int
    rows_found: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def campaign(base: Path, writers: int = 8, docker_writers: int = 2, repetitions: int = 20,
             readers: int = 3) -> ConcurrencyReport:
    lab = Lab(base / "concurrency", "concurrency")
    names = [f"b{index}" for index in range(writers)]
    problems: list[str] = []
    try:
        lab.make_project(QUICK, benchmarks=[benchmark(name=name, repetitions=repetitions,
                                                      baseline_seeds=[1, 2]) for name in names])
        lab.register()
        for name in names[:readers]:  # give the readers a baseline to evaluate against
            lab.setup("baseline", "establish", lab.project_name, name, sandbox="process")
        stop = threading.Event()
        reads: list[subprocess.CompletedProcess[str]] = []

        def read_loop(benchmark_name: str) -> None:
            while not stop.is_set():
                for verb in (["evaluate", "--json"], ["history"], ["list"]):
                    args = [verb[0], *([lab.project_name, benchmark_name] if verb[0] != "list" else []),
                            *verb[1:]]
                    reads.append(subprocess.run([sys.executable, "-m", "benchstone", *args],
                                                capture_output=True, text=True, cwd=lab.root,
                                                env=lab.environment(), timeout=300))

        threads = [threading.Thread(target=read_loop, args=(name,), daemon=True)
                   for name in names[:readers]]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        processes = [
            subprocess.Popen([sys.executable, "-m", "benchstone", "run", lab.project_name, name,
                              "--sandbox", "docker" if index < docker_writers else "process",
                              "--meta-seed", str(1000 + index), "--wait"],
                             cwd=lab.root, env=lab.environment(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for index, name in enumerate(names)
        ]
        for name, process in zip(names, processes, strict=True):
            stdout, stderr = process.communicate(timeout=900)
            if process.returncode != 0:
                problems.append(f"writer {name} exited {process.returncode}: {stderr.strip()[-200:]}")
            if any(word in stdout + stderr for word in LOCK_WORDS):
                problems.append(f"writer {name} showed the user: {stderr.strip()[-200:]}")
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
        elapsed = time.monotonic() - started
        for read in reads:
            output = read.stdout + read.stderr
            if read.returncode not in (0, 1, 2) or any(word in output for word in LOCK_WORDS):
                problems.append(f"a reader got exit {read.returncode}: {read.stderr.strip()[-200:]}")
        found = 0
        with lab.database() as db:
            for name in names:
                sets = db.execute("SELECT id, repetitions FROM run_sets WHERE benchmark = ? AND "
                                  "kind = 'run'", [name]).fetchall()
                if len(sets) != 1:
                    problems.append(f"{name}: {len(sets)} run sets, expected 1")
                    continue
                rows = [row[0] for row in db.execute(
                    "SELECT repetition FROM runs WHERE run_set_id = ? ORDER BY repetition", [sets[0][0]])]
                found += len(rows)
                if rows != list(range(repetitions)):
                    problems.append(f"{name}: repetitions {rows}, expected 0..{repetitions - 1}")
        problems += store_problems(lab.home / "bench.db")
        return ConcurrencyReport(writers, docker_writers, readers, len(reads), writers * repetitions,
                                 found, elapsed, problems)
    finally:
        lab.close()
