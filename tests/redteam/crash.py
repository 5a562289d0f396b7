"""Crash safety: SIGKILL the harness (``bench run``, several repetitions, docker backend) at
points of a run set drawn from a seeded random schedule, and check after each kill that the
store is intact, that no row is half-written, that ``bench gc`` leaves no container and no work
directory behind, and that the next run works.

The points are times spread over a calibrated, uninterrupted run set (from before the store is
opened to after the last row); each kill is classified by what had happened when it landed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from redteam.attack import benchmark
from redteam.lab import Lab

SCHEDULE_SEED = 20_261_128
SLOW_HONEST = """\
set -eu
sleep 0.5
seed=$(sed -n 's/.*"seed": *\\([0-9]*\\).*/\\1/p' "$2")
printf '{"status": "ok", "metric": %s}\\n' "$(awk -v s="$seed" 'BEGIN { print 1 + (s % 3) / 1000 }')" > "$3"
"""


@dataclass
class KillPoint:
    index: int
    delay: float
    phase: str
    rows_recorded: int
    container_alive: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class CrashReport:
    points: list[KillPoint]
    calibrated_seconds: float
    final_run_ok: bool
    problems: list[str]

    @property
    def survived(self) -> int:
        return sum(1 for point in self.points if not point.problems)

    @property
    def ok(self) -> bool:
        return self.final_run_ok and not self.problems and self.survived == len(self.points)

    def phases(self) -> Counter[str]:
        return Counter(point.phase for point in self.points)


def store_problems(database: Path) -> list[str]:
    """Everything wrong with the store after a crash: integrity, foreign keys, half-written
    rows, run sets whose rows are not a prefix of their repetitions."""
    problems = []
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    connection.row_factory = sqlite3.Row
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        dangling = connection.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            problems.append(f"{len(dangling)} row(s) reference a missing row")
        sets = {row["id"]: row for row in connection.execute("SELECT * FROM run_sets")}
        by_set: dict[int, list[sqlite3.Row]] = {}
        for run in connection.execute("SELECT * FROM runs ORDER BY id"):
            by_set.setdefault(run["run_set_id"], []).append(run)
            required = ("project", "benchmark", "git_sha", "seed", "repetition", "status", "sandbox",
                        "host", "started_at", "finished_at")
            missing = [name for name in required if run[name] is None]
            if missing:
                problems.append(f"run {run['id']} lacks {missing}")
            if run["status"] == "ok" and (run["metric"] is None or run["failure"] is not None):
                problems.append(f"run {run['id']} is ok without a metric")
            if run["status"] == "error" and (not run["failure"] or not run["message"]):
                problems.append(f"run {run['id']} is an error without its failure and message")
        for set_id, run_set in sets.items():
            seeds = json.loads(run_set["seeds"])
            if len(seeds) != run_set["repetitions"] or not run_set["env_hash"]:
                problems.append(f"run set {set_id} is incomplete")
            runs = by_set.get(set_id, [])
            if [run["repetition"] for run in runs] != list(range(len(runs))):
                problems.append(f"run set {set_id} rows are not repetitions 0..{len(runs) - 1}")
            if any(run["seed"] != seeds[run["repetition"]] for run in runs
                   if run["repetition"] < len(seeds)):
                problems.append(f"run set {set_id} has a row with the wrong seed")
    finally:
        connection.close()
    return problems


def _landed(lab: Lab, last_set: int, repetitions: int) -> tuple[str, int]:
    """Where a kill landed, read from the store: before the run set row, or after k rows."""
    with lab.database() as db:
        row = db.execute("SELECT MAX(id) FROM run_sets").fetchone()
        newest = row[0] or 0
        if newest <= last_set:
            return "before the run set row", 0
        done = db.execute("SELECT COUNT(*) FROM runs WHERE run_set_id = ?", [newest]).fetchone()[0]
    if done >= repetitions:
        return "after the last row", done
    return f"after {done} of {repetitions} rows", done


def _last_set(lab: Lab) -> int:
    with lab.database() as db:
        return db.execute("SELECT MAX(id) FROM run_sets").fetchone()[0] or 0


def campaign(base: Path, points: int = 20, repetitions: int = 3, seed: int = SCHEDULE_SEED,
             say=lambda line: None) -> CrashReport:
    lab = Lab(base / "crash", "crash")
    problems: list[str] = []
    kills: list[KillPoint] = []
    try:
        lab.make_project(SLOW_HONEST, benchmarks=[benchmark(repetitions=repetitions, timeout_seconds=60)])
        lab.register()
        started = time.monotonic()
        lab.setup("run", lab.project_name, "probe")
        calibrated = time.monotonic() - started
        schedule = random.Random(seed)
        for index in range(points):
            delay = schedule.uniform(0.0, calibrated * 1.05)
            last_set = _last_set(lab)
            process = subprocess.Popen(
                [sys.executable, "-m", "benchstone", "run", lab.project_name, "probe",
                 "--sandbox", "docker"], cwd=lab.root, env=lab.environment(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
            phase, done = _landed(lab, last_set, repetitions)
            alive = bool(lab.containers())
            point = KillPoint(index, delay, phase, done, alive)
            point.problems += store_problems(lab.home / "bench.db")
            gc = lab.bench("gc")
            if gc.returncode != 0:
                point.problems.append(f"bench gc failed: {gc.describe()}")
            if lab.containers():
                point.problems.append("a container survived bench gc")
            leftovers = [path.name for path in lab.tmp.iterdir()]
            if leftovers:
                point.problems.append(f"bench gc left {leftovers} in the temporary directory")
            kills.append(point)
            say(f"  kill {index + 1:2}/{points} at {delay:5.2f}s  {phase:<24} "
                f"container {'running' if alive else 'none   '}  "
                f"{'ok' if not point.problems else point.problems}")
        final = lab.bench("run", lab.project_name, "probe", sandbox="docker")
        rows = lab.runs()
        final_ok = final.returncode == 0 and len(rows) == repetitions and \
            all(row["status"] == "ok" for row in rows)
        if not final_ok:
            problems.append(f"the run after the crashes failed: {final.describe()}")
        problems += store_problems(lab.home / "bench.db")
        return CrashReport(kills, calibrated, final_ok, problems)
    finally:
        lab.close()
