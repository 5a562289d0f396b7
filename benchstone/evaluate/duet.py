"""Duet pairs: both halves of a pair run at the same time, each pinned to cores of its own.

Alternating pairs run one half after the other, so whatever else the machine does during one
half and not the other (a neighbour's build, a noisy tenant on a shared host) lands in the pair
ratio. A duet starts the two halves together, on two disjoint sets of the benchmark's
``threads`` cores inside the comparison's one lease, so that interference hits both alike and
cancels in the ratio (duet benchmarking: Bulej et al., "Duet Benchmarking: Improving
Measurement Accuracy in the Cloud", Empirical Software Engineering 25, 2020). What the two
halves still share, the memory bus and the caches beyond a core, they share symmetrically,
since the sets swap sides from one pair to the next: over the pairs neither side keeps the same
cores.

Rows are recorded exactly as alternating pairs record them (the same comparison, side and pair
index), each half by a thread with a store connection of its own: SQLite connections are not
shared across threads.
"""

from __future__ import annotations

import contextlib
import random
import threading
from pathlib import Path

from benchstone.errors import CompareError
from benchstone.evaluate.paired import SIDES
from benchstone.jobs.scheduler import format_cpuset
from benchstone.run.runner import RunSetSession
from benchstone.store import Store
from benchstone.store.records import Run
from benchstone.system.cpus import parse_cpuset
from benchstone.system.signals import STOP_CHECK_SECONDS

# The other half normally reaches the start within a container's creation time; the wait ends
# at once when it fails before starting, so this only bounds an engine that hangs.
START_TIMEOUT_SECONDS = 300.0


def duet_cores_needed(threads: int) -> int:
    return 2 * max(1, threads)


def split_cores(cpuset: str, threads: int) -> tuple[str, str]:
    """Two disjoint sets of ``threads`` cores each from a lease's ``cpuset``, the lower-numbered
    first; CompareError naming the fix when the lease holds fewer than twice ``threads``."""
    cores = parse_cpuset(cpuset)
    size = max(1, threads)
    if len(cores) < 2 * size:
        raise CompareError(
            f"--duet needs two disjoint sets of {size} core(s) (threads = {threads}); the lease "
            f"holds {len(cores)} ({cpuset or 'none'})",
            fix="run the comparison without --duet (alternating pairs), or grant more cores "
            "(BENCHSTONE_MAX_THREADS, or fewer jobs running beside it)")
    return format_cpuset(cores[:size]), format_cpuset(cores[size:2 * size])


def cores_of_pair(sets: tuple[str, str], index: int, baseline_starts_low: bool) -> dict[str, str]:
    """The cores each side gets in pair ``index``: the sets swap sides within each two pairs,
    the baseline on the first set in the first of them when ``baseline_starts_low`` (which the
    caller draws afresh for every two pairs)."""
    low, high = sets
    baseline_low = baseline_starts_low == (index % 2 == 0)
    return {"baseline": low, "candidate": high} if baseline_low else {
        "baseline": high, "candidate": low}


def duet_plan(sets: tuple[str, str], pairs: int, order: random.Random) -> list[dict[str, str]]:
    """The cores of each side in each of ``pairs`` pairs: within every two pairs the sides swap
    sets, and which side starts on which set is drawn afresh for every two. Sides kept on one
    set for a whole comparison would let a half that learned its pair's place (from the clock,
    say) tell its side from its cores."""
    plan = []
    for index in range(pairs):
        if index % 2 == 0:
            baseline_starts_low = order.random() < 0.5
        plan.append(cores_of_pair(sets, index, baseline_starts_low))
    return plan


def run_together(sessions: dict[str, RunSetSession], cores: dict[str, str],
                 store_path: Path) -> dict[str, Run]:
    """Run the next repetition of both sessions at once, each on ``cores[side]``; both start
    together (a barrier just before each sandbox starts). The rows are counted in the sessions
    once both halves ended; the first error of a half is raised then (the other half's row is
    kept)."""
    barrier = threading.Barrier(len(SIDES))
    rows: dict[str, Run] = {}
    errors: dict[str, BaseException] = {}

    def ready() -> None:
        # a half whose partner failed before its start runs alone: its row is still true
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=START_TIMEOUT_SECONDS)

    def half(side: str) -> None:
        try:
            with Store(store_path) as store:
                rows[side] = sessions[side].run_next(store, cores[side], ready)
        except BaseException as exc:  # handed to the caller's thread below
            errors[side] = exc
        finally:
            barrier.abort()  # never leave the partner waiting for a half that has ended

    threads = [threading.Thread(target=half, args=(side,), name=f"duet-{side}", daemon=True)
               for side in SIDES]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            # in short waits: a stop the kernel hands to another thread would otherwise wait
            # for both halves to end (signals.STOP_CHECK_SECONDS)
            while thread.is_alive():
                thread.join(timeout=STOP_CHECK_SECONDS)
    except BaseException:  # a stop reaches this thread only: end both halves, then go
        for side in SIDES:
            if sessions[side].backend is not None:
                sessions[side].backend.stop_running()
        for thread in threads:
            thread.join(timeout=10)
        raise
    for side in SIDES:
        if side in rows:
            sessions[side].accept(rows[side])
    for side in SIDES:
        if side in errors:
            raise errors[side]
    return rows
