"""What the kernel scratch bound and corpus snapshots cost, measured in one run.

- handover: the engine-measured run time (``StartedAt`` to ``FinishedAt``) of a no-op repetition
  with the entry script's trusted last step (kill what is left, probe the room left, hand the
  result out through the pipes), against the same repetition whose entry script ``exec``s the
  invocation and hands nothing over (the pipes left out), interleaved;
- snapshots: for a tree corpus of 64 files of 4 MiB (256 MiB), the check of the original (one
  hash), a first snapshot (copy and hash of the copy), and a reused one (hash of the snapshot).

Targets: the trusted step adds under 50 ms to a repetition's measured time; a reused snapshot
costs at most 1.5x the check of the original it follows.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchstone.paths import Home
from benchstone.project.corpus import corpus_hash
from benchstone.project.snapshots import take_snapshot
from benchstone.run.protocol import InvocationConfig
from benchstone.sandbox import create_backend
from benchstone.sandbox.base import CONFIG_FILE, Limits, Repetition, RunSetSpec
from benchstone.sandbox.docker import backend as docker_backend
from benchstone.sandbox.docker.handover import Handed

ROUNDS = 12
NOOP_RUNNER = 'printf \'{"status": "ok", "metric": 1}\' > "$2"\n'


class NoHandover:
    """Makes no pipes, so the entry script ``exec``s the invocation as it used to."""

    def __init__(self, *args: object) -> None:
        pass

    def __enter__(self) -> NoHandover:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def finish(self) -> Handed:
        return Handed(scratch_full=False, stragglers=False, complete=False, kinds={})

    def close(self) -> None:
        pass


def repetition_seconds(workdir: Path, rounds: int) -> dict[str, list[float]]:
    project = workdir / "project"
    (project / "bench").mkdir(parents=True)
    (project / "bench" / "run.sh").write_text(NOOP_RUNNER)
    for path in (workdir, project, project / "bench"):
        os.chmod(path, 0o755)
    spec = RunSetSpec(
        project="perf", benchmark="noop", run_token=f"perf-handover-{os.getpid()}",
        project_dir=project, corpus=None,
        invocation="sh bench/run.sh {config_path} {output_path}", entry_point="noop",
        limits=Limits(timeout_seconds=60, memory_bytes=512 * 1024**2, pids=256,
                      tmpfs_bytes=64 * 1024**2, scratch_bytes=64 * 1024**2, cpuset="0"),
    )
    backend = create_backend("docker")
    backend.prepare(spec, lambda message: None)
    real = docker_backend.Handover
    times: dict[str, list[float]] = {"handover": [], "exec": []}
    count = 0
    for round_index in range(rounds + 1):
        for mode in ("handover", "exec"):
            docker_backend.Handover = real if mode == "handover" else NoHandover  # type: ignore[misc]
            scratch = workdir / f"rep-{count}" / "scratch"
            scratch.mkdir(parents=True, mode=0o700)
            (scratch / CONFIG_FILE).write_text(InvocationConfig(
                benchmark="noop", seed=count, corpus_path="", repetition_index=0,
                repetition_total=1).to_json())
            outcome = backend.run(spec, Repetition(index=count, scratch_dir=scratch,
                                                   log_stem=workdir / "logs" / f"r{count}"))
            count += 1
            assert outcome.exit_code == 0, outcome
            if mode == "handover":
                assert (scratch / "result.json").exists()
            if round_index and outcome.wall_seconds is not None:  # the first round warms up
                times[mode].append(outcome.wall_seconds)
    docker_backend.Handover = real  # type: ignore[misc]
    backend.cleanup()
    return times


def snapshot_seconds(workdir: Path) -> dict[str, float]:
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True)
    block = os.urandom(1 << 20)
    for index in range(64):
        with open(corpus / f"part-{index:02d}.bin", "wb") as handle:
            for _ in range(4):
                handle.write(block)
    home = Home(workdir / "home")
    started = time.perf_counter()
    pinned = corpus_hash(corpus, "tree")
    check = time.perf_counter() - started
    started = time.perf_counter()
    first = take_snapshot(home, corpus, "tree", pinned)
    made = time.perf_counter() - started
    started = time.perf_counter()
    again = take_snapshot(home, corpus, "tree", pinned)
    reused = time.perf_counter() - started
    first.release()
    again.release()
    return {"check": check, "first": made, "reused": reused}


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="benchstone-perf-"))
    try:
        times = repetition_seconds(workdir / "reps", ROUNDS)
        snap = snapshot_seconds(workdir / "snap")
    finally:
        for directory, _dirs, _files in os.walk(workdir):
            os.chmod(directory, 0o700)
        shutil.rmtree(workdir, ignore_errors=True)
    with_step = statistics.median(times["handover"])
    without = statistics.median(times["exec"])
    added = (with_step - without) * 1000
    ratio = snap["reused"] / snap["check"]
    print(f"median of {len(times['handover'])} interleaved rounds, engine-measured run time of a "
          "no-op repetition")
    print(f"  with the trusted step and handover   {with_step * 1000:7.1f} ms")
    print(f"  exec, nothing handed over            {without * 1000:7.1f} ms")
    print(f"  added by the trusted step            {added:+7.1f} ms   target < 50 ms  "
          f"{'ok' if added < 50 else 'MISSED'}")
    print("tree corpus of 64 files x 4 MiB (256 MiB)")
    print(f"  check of the original (hash)         {snap['check']:7.2f} s")
    print(f"  first snapshot (copy + hash)         {snap['first']:7.2f} s   "
          f"{snap['first'] / snap['check']:.2f}x the check")
    print(f"  reused snapshot (hash again)         {snap['reused']:7.2f} s   "
          f"{ratio:.2f}x the check   target <= 1.5x  {'ok' if ratio <= 1.5 else 'MISSED'}")
    return 0 if added < 50 and ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
