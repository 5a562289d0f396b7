"""The demo project's runner: speaks benchstone's JSON-over-files protocol."""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from primes import count_primes

parser = argparse.ArgumentParser()
parser.add_argument("--entry")
parser.add_argument("--config")
parser.add_argument("--output")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())

if args.entry == "speed":
    started = time.perf_counter()
    count_primes(60_000)
    metric = time.perf_counter() - started
elif args.entry == "output":
    answers = {str(limit): count_primes(limit) for limit in (10, 100, 1_000, 10_000)}
    Path(config["artifact_path"]).write_text(json.dumps(answers, sort_keys=True) + "\n")
    metric = 1.0
else:
    sys.exit(f"unknown entry point {args.entry}")

Path(args.output).write_text(json.dumps({"status": "ok", "metric": metric}))
