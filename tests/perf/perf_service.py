"""A benchmark of what the harness service costs a command (not a test: pytest does not collect
it). ``make perf`` runs it; so does ``python tests/perf/perf_service.py``.

It times whole ``bench`` processes, local and through a service (started in this process, as
this user, on a socket of its own), interleaved: ``bench list`` (no commit sent) and ``bench
evaluate`` of the toy project (its commit bundled, fetched into the service's mirror and checked
out before the verb runs). Each figure is the median of N runs after one untimed run of each.
It prints the figures and the ratios; there is no target.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchstone.service.server import Server, Settings  # noqa: E402


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 2):
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="timed runs of each command")
    args = parser.parse_args()
    bench = [sys.executable, "-m", "benchstone"]
    with tempfile.TemporaryDirectory(prefix="benchstone-perf-service-") as tmp:
        base = Path(tmp)
        settings = Settings(socket_path=base / "bench.sock", state_dir=base / "state")
        server = Server(settings)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            project = base / "toy"
            shutil.copytree(ROOT / "tests" / "fixtures" / "toy", project)
            git = ["git", "-C", str(project), "-c", "user.name=perf", "-c",
                   "user.email=perf@example.invalid"]
            subprocess.run([*git, "init", "-q"], check=True)
            subprocess.run([*git, "add", "-A"], check=True)
            subprocess.run([*git, "commit", "-q", "-m", "toy"], check=True)
            common = dict(os.environ, PYTHONPATH=os.pathsep.join(
                filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
            local = {**common, "BENCHSTONE_SERVICE": "local",
                     "BENCHSTONE_HOME": str(base / "local")}
            served = {**common, "BENCHSTONE_SERVICE": str(settings.socket_path),
                      "BENCHSTONE_HOME": str(base / "client")}
            for env in (local, served):
                subprocess.run([*bench, "register", "."], env=env, cwd=project, check=True,
                               stdout=subprocess.DEVNULL)
            commands = {"bench list": [*bench, "list"],
                        "bench evaluate toy speed": [*bench, "evaluate", "toy", "speed"]}
            cases = [(f"{name} ({mode})", command, env) for name, command in commands.items()
                     for mode, env in (("local", local), ("service", served))]
            for _name, command, env in cases:
                timed(command, env, project)
            times: dict[str, list[float]] = {name: [] for name, _c, _e in cases}
            for _ in range(args.n):
                for name, command, env in cases:
                    times[name].append(timed(command, env, project))
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    print(f"{args.n} runs each, interleaved; bench is {' '.join(bench)}")
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    for name, samples in times.items():
        print(f"{name:<34} median {medians[name]:.3f} s  min {min(samples):.3f} s")
    for name in commands:
        local_median, served_median = medians[f"{name} (local)"], medians[f"{name} (service)"]
        print(f"{name}: through the service {served_median - local_median:+.3f} s, "
              f"{served_median / local_median:.2f} x local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
