"""The runner benchstone calls for this project; it speaks benchstone's JSON-over-files protocol.

benchstone runs ``python3 bench/runner.py --entry=NAME --config=IN --output=OUT`` from the
project's root, in a fresh copy of the committed tree. IN holds the benchmark name, the seed and
the corpus path; OUT receives ``{"status": "ok", "metric": ...}`` or ``{"status": "error",
"message": ...}``. Replace ``workload`` with the code you want to measure; keep the rest.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project's own modules


def workload(seed: int, corpus_path: str) -> None:
    """What is timed. Replace this with a call into your project, e.g. ``solver.solve(data)``."""
    rng = random.Random(seed)
    sorted(rng.random() for _ in range(100_000))


BENCHMARKS = {"@BENCHMARK@": workload}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entry", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    benchmark = BENCHMARKS.get(args.entry)
    if benchmark is None:
        result = {"status": "error", "message": f"unknown entry point {args.entry!r}"}
    else:
        try:
            started = time.perf_counter()
            benchmark(config["seed"], config["corpus_path"])
            seconds = time.perf_counter() - started
            result = {"status": "ok", "metric": seconds, "wall_clock_seconds": seconds}
        except Exception as exc:  # an error row with the reason, not a crash
            result = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    Path(args.output).write_text(json.dumps(result, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
