"""A benchmark of the command line's start (not a test: pytest does not collect it). ``make perf``
runs it; so does ``python tests/perf/perf_start.py``.

It times whole processes, as a shell or an optimisation loop starts them: ``python -c pass``
(the interpreter's own start, the floor), ``bench --help`` and ``bench list`` on an empty state
directory, and, for information (no target), ``bench list`` of a state directory with one
registered project, which loads the store and the manifest's models. They are interleaved, so
a machine that slows down mid-run slows each alike. Each figure is the median of N runs, after
one untimed run of each that leaves the bytecode compiled. Exits 1 when the median of a bench
command with a target is over it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 0.15


def bench_command() -> list[str]:
    """The installed ``bench`` script beside this interpreter, else ``python -m benchstone``."""
    script = Path(sys.executable).parent / "bench"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "benchstone"]


def child_environment(home: Path) -> dict[str, str]:
    env = dict(os.environ, BENCHSTONE_HOME=str(home))
    # An installed bench starts from compiled bytecode: let the untimed run write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False, cwd=cwd)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed


def benchstone_location(env: dict[str, str]) -> str:
    """Where the measured commands import benchstone from (this checkout, not an installed one)."""
    return subprocess.run([sys.executable, "-c", "import benchstone; print(benchstone.__file__)"],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


def one_registered_project(bench: list[str], tmp: Path) -> dict[str, str]:
    """An environment whose state directory has one project registered: bench init's own."""
    env = child_environment(tmp / "home-with-a-project")
    env.update({f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
                for what, value in (("NAME", "perf"), ("EMAIL", "perf@example.invalid"))})
    project = tmp / "project"
    project.mkdir()
    for command in (["git", "init", "-q"], [*bench, "init"], ["git", "add", "-A"],
                    ["git", "commit", "-q", "-m", "bench init"], [*bench, "register", "."]):
        timed(command, env, cwd=project)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="timed runs of each command")
    args = parser.parse_args()
    bench = bench_command()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "bench --help": [*bench, "--help"],
        "bench list": [*bench, "list"],
        "bench list (1 project)": [*bench, "list"],
    }
    with tempfile.TemporaryDirectory(prefix="benchstone-perf-start-") as tmp:
        env = child_environment(Path(tmp) / "home")
        envs = {name: env for name in commands}
        envs["bench list (1 project)"] = one_registered_project(bench, Path(tmp))
        location = benchstone_location(env)
        for name, command in commands.items():
            timed(command, envs[name])
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.n):
            for name, command in commands.items():
                times[name].append(timed(command, envs[name]))
    floor = statistics.median(times["python -c pass"])
    print(f"{args.n} runs each, interleaved; bench is {' '.join(bench)}, benchstone from "
          f"{Path(location).parent}")
    missed = []
    for name, samples in times.items():
        median = statistics.median(samples)
        target = ("" if name.startswith("python") or "project" in name else
                  f"  (target <= {TARGET_SECONDS:.2f} s)")
        print(f"{name:<22} median {median:.3f} s  min {min(samples):.3f} s  "
              f"{median / floor:5.1f} x python -c pass{target}")
        if target and median > TARGET_SECONDS:
            missed.append(name)
    if missed:
        print(f"over target: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
