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

# A Valgrind client request on x86-64 (valgrind.h): rotations of rdi that add up to none, then
# xchg rbx,rbx; rax points at the request, rdx returns its answer (0 outside Valgrind).
_CLIENT_REQUEST = bytes.fromhex("4889f831d248c1c70348c1c70d48c1c73d48c1c7334887db4889d0c3")
_CALLGRIND = (ord("C") << 24) | (ord("T") << 16)
_ZERO_STATS, _STOP_INSTRUMENTATION = _CALLGRIND + 1, _CALLGRIND + 5


class instructions_region:
    """The measured region for ``metric_source = "harness_instructions"`` with
    ``instructions_scope = "marked_region"``: callgrind counts this process's instructions
    from where the region starts (what ran before is zeroed) to where it ends (nothing after is
    counted). Every other process of the invocation is counted whole. Outside Valgrind, and
    off x86-64 Linux, it does nothing."""

    def __enter__(self) -> "instructions_region":
        _client_request(_ZERO_STATS)
        return self

    def __exit__(self, *exc: object) -> None:
        _client_request(_STOP_INSTRUMENTATION)


def _client_request(request: int) -> int:
    import ctypes
    import mmap
    import platform

    call = getattr(_client_request, "call", None)
    if call is None:
        if platform.machine() != "x86_64" or not sys.platform.startswith("linux"):
            return 0
        memory = mmap.mmap(-1, mmap.PAGESIZE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        memory.write(_CLIENT_REQUEST)
        address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
        call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong))(address)
        _client_request.memory, _client_request.call = memory, call  # kept alive
    return call((ctypes.c_ulong * 6)(request, 0, 0, 0, 0, 0))


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
            with instructions_region():
                started = time.perf_counter()
                benchmark(config["seed"], config["corpus_path"])
                seconds = time.perf_counter() - started
            result = {"status": "ok", "metric": seconds, "wall_clock_seconds": seconds}
        except Exception as exc:  # an error row with the reason, not a crash
            result = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    Path(args.output).write_text(json.dumps(result, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
