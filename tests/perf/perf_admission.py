"""Admission cost: what taking and releasing a lease adds to every run set, on a fresh store and
on one with a long job history (every foreground run set is a job).

Targets: a lease (admit + release) costs under 25 ms at the median with 20,000 finished jobs
in the store and a live lease, and the history makes it at most 10x slower than on a fresh
store (without the scheduler's low-water mark it was about 100 ms, 64x). Exits 1 when a target
is missed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchstone.jobs import leases
from benchstone.project.manifest import BenchmarkSpec
from benchstone.store import Store

HISTORY = 20_000
SAMPLES = 200
TARGET_MS = 25.0
TARGET_RATIO = 10.0
BENCH = BenchmarkSpec(name="speed", tier="performance")


def _fill(store: Store, jobs: int) -> None:
    with store.exclusive():
        for _ in range(jobs):
            fields = leases.job_fields("p", BENCH, "run", 5)
            store.add_job(**fields)
            store.add_job_event(job_id=fields["id"], state="running", pid=1, pid_start="1",
                                cores="0")
            store.add_job_event(job_id=fields["id"], state="done", pid=1, pid_start="1")


def _lease_ms(store: Store) -> float:
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        job, _event = leases.open_job(store, leases.job_fields("p", BENCH, "run", 5), wait=False)
        leases.close_job(store, job.id, "done")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Store(Path(tmp) / "fresh.db")
        fresh_ms = _lease_ms(fresh)
        fresh.close()

        full = Store(Path(tmp) / "full.db")
        _fill(full, HISTORY)
        # a live lease held by this very process (its pid is alive), as on a busy host
        held, _event = leases.open_job(full, leases.job_fields("p", BENCH, "run", 5), wait=False)
        full_ms = _lease_ms(full)
        leases.close_job(full, held.id, "done")
        full.close()

    ratio = full_ms / fresh_ms
    print(f"lease (admit + release), median of {SAMPLES}:")
    print(f"  fresh store                          {fresh_ms:7.2f} ms")
    print(f"  {HISTORY} finished jobs, 1 live lease   {full_ms:7.2f} ms   (target < {TARGET_MS} ms)")
    print(f"  ratio history/fresh                  {ratio:7.2f}x     (target <= {TARGET_RATIO}x)")
    missed = full_ms >= TARGET_MS or ratio > TARGET_RATIO
    print("MISSED" if missed else "ok")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
