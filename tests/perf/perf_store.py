"""A benchmark of the store's read path at 1,000,000 run rows (not a test: pytest does not
collect it). ``make perf`` runs it; so does ``python tests/perf/perf_store.py``.

It creates a store in a temporary directory through :class:`benchstone.store.Store` (so the
real migrations, indexes and append-only triggers are in place), bulk-inserts run sets, runs and
baseline pointers into the store's own tables, then times exactly the calls ``evaluate`` and
``history`` make, through the real ``Store`` methods and ``benchstone.evaluate.single.evaluate``.
Each figure is the median (and 95th percentile) of many timed calls, each on a different
benchmark and commit. Exits 1 when a median is over the target.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchstone import api  # noqa: E402
from benchstone.evaluate import single as evaluation  # noqa: E402
from benchstone.paths import Home, write_private  # noqa: E402
from benchstone.project.manifest import MANIFEST_RELATIVE_PATH, parse_manifest  # noqa: E402
from benchstone.project.registry import Project  # noqa: E402
from benchstone.store import Store  # noqa: E402

TARGET_MS = 50.0
PROJECTS = 5
BENCHMARKS = 10
REPETITIONS = 5
PROMOTE_EVERY = 20  # one run set in 20 becomes the baseline (a pointer row)
ENVIRONMENT = {"host": "perf", "cpu_model": "x", "cores": 2, "kernel": "6", "cpuset": "0"}
NOW = "2026-01-01T00:00:00.000000+00:00"


def sha_of(project: int, benchmark: int, commit: int) -> str:
    return f"{project:02x}{benchmark:02x}{commit:08x}".ljust(40, "0")


def manifest_text(project: int) -> str:
    lines = ["[project]", f'name = "proj{project}"', 'invocation = "true"', ""]
    for benchmark in range(BENCHMARKS):
        lines += ["[[benchmarks]]", f'name = "bench{benchmark}"', 'tier = "performance"',
                  'metric_direction = "minimize"', f"repetitions = {REPETITIONS}",
                  f"baseline_seeds = {list(range(1, REPETITIONS + 1))}", ""]
    return "\n".join(lines)


def fill(store: Store, total_runs: int, seed: int = 1) -> dict[str, Any]:
    """Insert ``total_runs`` run rows (``total_runs / REPETITIONS`` run sets), interleaved over
    every benchmark the way a busy host would write them, with a baseline pointer every
    ``PROMOTE_EVERY`` run sets. Returns what the timing needs to know."""
    rng = random.Random(seed)
    conn = store.db.conn
    run_sets = total_runs // REPETITIONS
    pairs = [(p, b) for p in range(PROJECTS) for b in range(BENCHMARKS)]
    commits: dict[tuple[int, int], int] = dict.fromkeys(pairs, 0)
    baseline_of: dict[tuple[int, int], tuple[int, str]] = {}
    candidates: dict[tuple[int, int], list[tuple[int, str]]] = {pair: [] for pair in pairs}
    seeds_json = json.dumps(list(range(1, REPETITIONS + 1)))
    env_json = json.dumps(ENVIRONMENT, sort_keys=True)
    set_rows, run_rows, pointer_rows = [], [], []
    run_id = 0
    for set_id in range(1, run_sets + 1):
        pair = pairs[set_id % len(pairs)]
        project, benchmark = f"proj{pair[0]}", f"bench{pair[1]}"
        if rng.random() < 0.5:  # about two run sets per commit
            commits[pair] += 1
        sha = sha_of(*pair, commits[pair])
        kind = "baseline" if pair not in baseline_of else "run"
        set_rows.append((set_id, project, benchmark, kind, sha, 0, None, set_id, REPETITIONS,
                         seeds_json, "process", None, None, "sha256:env", env_json, "0", None,
                         "sha256:protected", "{}", "m", None, None, None, "perf", "perf", NOW,
                         sha, 0, "perf", None))
        centre = 10.0 - 0.001 * set_id / len(pairs)
        for repetition in range(REPETITIONS):
            run_id += 1
            metric = centre * (1 + rng.gauss(0, 0.01))
            run_rows.append((run_id, set_id, project, benchmark, sha, 0, repetition + 1,
                             repetition, "ok", metric, None, None, None, None, 0, metric,
                             metric * 1.01, metric * 0.9, None, None, None, None, "process",
                             None, "0", "perf", NOW, NOW, None, "perf", None))
        if kind == "baseline" or set_id % (PROMOTE_EVERY * len(pairs)) < len(pairs):
            action = "establish" if kind == "baseline" else "promote"
            pointer_rows.append((project, benchmark, set_id, sha, set_id, action, 0, None, NOW,
                                 "perf", "perf"))
            baseline_of[pair] = (set_id, sha)
        else:
            candidates[pair].append((set_id, sha))
    with store.exclusive():  # one transaction: the connection commits each statement alone
        conn.executemany(f"INSERT INTO run_sets VALUES ({', '.join('?' * 30)})", set_rows)
        conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 31)})", run_rows)
        conn.executemany(
            "INSERT INTO baseline_pointers (project, benchmark, run_set_id, git_sha, meta_seed, "
            "action, forced, verdict, created_at, user, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)", pointer_rows)
    return {"pairs": pairs, "candidates": candidates, "run_sets": run_sets,
            "pointers": len(pointer_rows)}


def timed(function: Callable[[], Any], repeat: int) -> list[float]:
    function()  # warm up
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def register_projects(store: Store, home: Home, tmp: Path) -> dict[str, Project]:
    """A real git repository and a pinned manifest per project, so the API path works too."""
    projects = {}
    for number in range(PROJECTS):
        root = tmp / f"proj{number}"
        (root / "bench").mkdir(parents=True)
        raw = manifest_text(number).encode()
        (root / MANIFEST_RELATIVE_PATH).write_bytes(raw)
        git = ["git", "-C", str(root), "-c", "user.name=perf", "-c", "user.email=perf@invalid"]
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "perf"], check=True)
        manifest = parse_manifest(raw)
        pinned = write_private(home.project_dir(manifest.project.name) / "manifest.toml", raw)
        registration = store.add_registration(project=manifest.project.name, path=str(root),
                                              manifest_sha256=manifest.sha256,
                                              manifest_file=str(pinned))
        projects[manifest.project.name] = Project(registration, manifest)
    return projects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="run rows to insert")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per query")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="benchstone-perf-"))
    home = Home(tmp / "home").ensure()
    try:
        started = time.perf_counter()
        with Store(home.database) as store:
            info = fill(store, args.runs)
            projects = register_projects(store, home, tmp)
            total = store.count_all_runs()
        fill_seconds = time.perf_counter() - started
        size_mb = home.database.stat().st_size / 1e6
        print(f"filled {total:,} runs in {info['run_sets']:,} run sets and {info['pointers']:,} "
              f"baseline pointers ({PROJECTS} projects x {BENCHMARKS} benchmarks, "
              f"{REPETITIONS} repetitions) in {fill_seconds:.1f} s; database {size_mb:.0f} MB")

        rng = random.Random(7)
        store = Store(home.database)  # a fresh connection, as each bench command opens one

        def pick() -> tuple[str, str, int, str]:
            pair = rng.choice(info["pairs"])
            set_id, sha = rng.choice(info["candidates"][pair])
            return f"proj{pair[0]}", f"bench{pair[1]}", set_id, sha

        def q_current_pointer() -> None:
            project, benchmark, _set_id, _sha = pick()
            assert store.current_pointer(project, benchmark) is not None

        def q_run_set() -> None:
            project, benchmark, _set_id, _sha = pick()
            pointer = store.current_pointer(project, benchmark)
            assert pointer is not None
            assert store.run_set(pointer.run_set_id) is not None

        def q_runs_of() -> None:
            _project, _benchmark, set_id, _sha = pick()
            assert len(store.runs_of([set_id])) == REPETITIONS

        def q_candidates() -> None:
            project, benchmark, _set_id, sha = pick()
            assert store.run_sets(project, benchmark, git_sha=sha, kinds=("run",))

        def q_history() -> None:
            project, benchmark, _set_id, _sha = pick()
            sets = store.run_sets(project, benchmark, limit=20)
            assert len(store.runs_of([rs.id for rs in sets])) == 20 * REPETITIONS

        def q_pointers() -> None:
            project, benchmark, _set_id, _sha = pick()
            assert store.pointers(project, benchmark)

        def q_runs_at() -> None:
            project, benchmark, _set_id, sha = pick()
            assert store.runs_at(project, benchmark, sha)

        def q_evaluate() -> None:
            project, benchmark, _set_id, sha = pick()
            proj = projects[project]
            verdict = evaluation.evaluate(store, home, proj, proj.benchmark(benchmark),
                                          evaluation.EvaluateOptions(git_sha=sha))
            assert verdict.kind in ("PROMOTE", "REJECT"), verdict.reason

        def q_api_timeline() -> None:
            project, benchmark, _set_id, _sha = pick()
            assert len(api.timeline(project, benchmark, limit=20, home=home.root).entries) == 20

        queries: list[tuple[str, Callable[[], None], float | None]] = [
            ("current_pointer", q_current_pointer, TARGET_MS),
            ("current_pointer + run_set", q_run_set, TARGET_MS),
            ("runs_of (one run set)", q_runs_of, TARGET_MS),
            ("run_sets(git_sha=, kinds=run)", q_candidates, TARGET_MS),
            ("history: run_sets(limit=20) + runs_of", q_history, TARGET_MS),
            ("pointers", q_pointers, TARGET_MS),
            ("runs_at (correctness)", q_runs_at, TARGET_MS),
            ("evaluation.evaluate (all queries + gate)", q_evaluate, TARGET_MS),
            ("api.timeline (opens store, reads pinned manifest)", q_api_timeline, None),
        ]
        print(f"\n{'query':<50} {'median ms':>10} {'p95 ms':>8} {'target':>7}  result")
        failed = []
        for name, function, target in queries:
            samples = timed(function, args.repeat)
            median = statistics.median(samples)
            verdict = "-" if target is None else "ok" if median <= target else "FAIL"
            if verdict == "FAIL":
                failed.append(name)
            target_text = "-" if target is None else f"{target:.0f} ms"
            print(f"{name:<50} {median:>10.2f} {p95(samples):>8.2f} {target_text:>7}  {verdict}")
        store.close()
        print(f"\n{args.repeat} calls per query, each on a random benchmark and commit; "
              "the result compares the median with the target")
        if failed:
            print(f"FAIL: over {TARGET_MS:.0f} ms: {', '.join(failed)}")
            return 1
        return 0
    finally:
        if args.keep:
            print(f"store kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
