"""``bench demo``: the whole loop on a bundled project, in containers, from a fresh machine.

It makes sure an engine and the runner image exist, copies the demo project into a temporary
git repository, and then does what an optimization loop does: register, establish a baseline,
commit a change, run, evaluate; revert a change that is faster but wrong (a required
correctness benchmark fails), then promote one that is faster and right.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchstone import api
from benchstone.kinds import VerdictKind
from benchstone.report import render
from benchstone.resources import bundled
from benchstone.run.runner import Progress

PROJECT = "primes"
SPEED = "count_speed"
OUTPUT = "count_output"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=benchstone demo",
         "-c", "user.email=demo@benchstone.invalid", *args],
        check=True, capture_output=True,
    )


def _materialize(root: Path) -> None:
    source = Path(__file__).resolve().parent / "project"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("*.txt", "__pycache__"))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "count primes by trial division")


def _commit_version(root: Path, variant: str, message: str) -> None:
    source = Path(__file__).resolve().parent / "project" / f"{variant}.py.txt"
    (root / "primes.py").write_text(source.read_text())
    _git(root, "commit", "-q", "-am", message)


def run_demo(say: Callable[[str], None], progress: Progress, *, workdir: Path | None = None,
             offline: bool | None = None) -> dict[str, str]:
    """Run the demo; returns the verdicts by step. ``workdir`` is kept, a temporary one not."""
    from benchstone.sandbox.docker import image, provision

    bundled("images", "python", "Dockerfile")  # fail early if the package is incomplete
    say("== engine and runner image")
    provision.ensure_engine(say)
    image.build_image(say, offline=offline)
    base = workdir or Path(tempfile.mkdtemp(prefix="benchstone-demo-"))
    home, root = base / "home", base / "primes"
    verdicts: dict[str, str] = {}
    try:
        _materialize(root)
        say(f"== register {root}")
        for line in render.register_lines(api.register(root, home=home)):
            say(line)

        say("== baseline: trial division")
        api.establish_baseline(PROJECT, SPEED, home=home, progress=progress)
        api.run(PROJECT, OUTPUT, home=home, progress=progress)
        event = api.freeze_reference(PROJECT, OUTPUT, home=home)
        say(f"reference frozen: {OUTPUT} = {event.new_sha256[:12]}")

        say("== candidate 1: skip even numbers (faster, but one answer is wrong)")
        _commit_version(root, "wrong", "skip even numbers")
        verdicts["wrong"] = _run_and_evaluate(say, progress, home)
        say("exit code 1: revert it, as an optimization loop would (git reset --hard HEAD~1)")
        _git(root, "reset", "-q", "--hard", "HEAD~1")

        say("== candidate 2: a sieve (faster, same answers)")
        _commit_version(root, "sieve", "count primes with a sieve")
        verdicts["sieve"] = _run_and_evaluate(say, progress, home)
        if verdicts["sieve"] == VerdictKind.PROMOTE:
            pointer = api.promote(PROJECT, SPEED, home=home).pointer
            say(f"baseline promoted: {PROJECT}/{SPEED} -> {pointer.git_sha[:10]}")
        say(f"== done: wrong-but-fast {verdicts['wrong']}, sieve {verdicts['sieve']}")
        return verdicts
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            say(f"kept: project {root}, state {home}")


def _run_and_evaluate(say: Callable[[str], None], progress: Progress, home: Path) -> str:
    api.run(PROJECT, OUTPUT, home=home, progress=progress)
    for line in render.verdict_lines(api.evaluate(PROJECT, OUTPUT, home=home)):
        say(line)
    # Repetition by repetition until the sequential gate decides: a fixed five can leave a
    # noisy machine undecided, and "faster but wrong" is only rejected once it is faster.
    verdict = api.run_until_decided(PROJECT, SPEED, home=home, progress=progress).verdict
    for line in render.verdict_lines(verdict):
        say(line)
    return verdict.kind
