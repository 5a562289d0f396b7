"""How long `bench evaluate` of a `welch` and a `rank` benchmark takes, as a fresh process (not a
test: pytest does not collect it; ``make perf`` runs it).

The toy fixture project is registered in a temporary state directory with a 10-run baseline
and 8 candidate runs recorded straight through the store (no sandbox). The first evaluate of a
design computes its sequential boundaries and keeps them in the state directory; every later
one reads them back. Printed: the first (cold) run, then the median of N warm runs, beside the
process start floor (``python -c pass``). Target (exit 1 when missed): the warm median of each
<= 0.3 s.

Run: python tests/perf/perf_evaluate.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "evaluate"))
sys.path.append(str(ROOT))

TARGET_SECONDS = 0.3


def _project(workdir: Path) -> Path:
    from conftest import commit_all

    root = workdir / "toy"
    shutil.copytree(ROOT / "tests" / "fixtures" / "toy", root)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")
    return root


CPU: list[float] = []  # the processor time of each timed child, beside its wall time


def _timed(command: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if command[-1] != "pass" and done.returncode not in (0, 1, 2):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from stored_runs import stored_runs, wobbled

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = dict(os.environ, BENCHSTONE_HOME=str(workdir / "home"),
                   GIT_AUTHOR_NAME="perf", GIT_AUTHOR_EMAIL="perf@example.invalid",
                   GIT_COMMITTER_NAME="perf", GIT_COMMITTER_EMAIL="perf@example.invalid")
        os.environ.update({k: v for k, v in env.items() if k.startswith("GIT_")})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with stored_runs(lambda name: _project(workdir), workdir / "home") as state:
            for bench, centre in (("speedw", 1.0), ("qualityr", 10.0)):
                state.establish(bench, wobbled(centre, 10))
            state.commit()
            state.record("speedw", [v * 0.99 for v in wobbled(1.0, 8, first_seed=20)])
            state.record("qualityr", [v * 1.01 for v in wobbled(10.0, 8, first_seed=20)])
            project = state.project.name
        floor = statistics.median(_timed([sys.executable, "-c", "pass"], env)
                                  for _ in range(args.runs))
        print(f"python -c pass: {floor:.3f} s wall, {statistics.median(CPU):.3f} s processor "
              f"(median of {args.runs})")
        ok = True
        for bench in ("speedw", "qualityr"):
            command = [sys.executable, "-m", "benchstone", "evaluate", project, bench]
            os.chdir(workdir / "toy")
            cold = _timed(command, env)
            cold_cpu = CPU[-1]
            warm = statistics.median(_timed(command, env) for _ in range(args.runs))
            warm_cpu = statistics.median(CPU[-args.runs:])
            met = warm <= TARGET_SECONDS
            ok &= met
            policy = "welch" if bench == "speedw" else "rank"
            print(f"bench evaluate ({policy}): first {cold:.2f} s wall, {cold_cpu:.2f} s "
                  f"processor (computes and keeps the boundaries), then {warm:.3f} s wall, "
                  f"{warm_cpu:.3f} s processor, median of {args.runs} ({warm / floor:.1f}x the "
                  f"interpreter's start); target <= {TARGET_SECONDS} s wall: "
                  f"{'met' if met else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
