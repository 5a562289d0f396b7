"""What a newcomer meets in the first hour: the messages of the usual mistakes say plainly what
happened and name a fix that works. Through the real CLI, on the process backend (no engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git, verdict_of

SB = ("--sandbox", "process")


def welch_toy(make_project, bench) -> Path:
    """The toy project with its speed benchmark on the calibrated welch gate, baseline set."""
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('promotion_sigma = 2.0',
                                                     'gate_policy = "welch"\nmax_repetitions = 12'))
    commit_all(root, "welch")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", *SB).returncode == 0
    return root


def one_error(result) -> tuple[str, str | None]:
    """The error line and its fix line, with no traceback."""
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    fix = next((line.strip() for line in lines if line.strip().startswith("fix: ")), None)
    return error, fix


def test_a_commit_without_the_manifest_says_so_and_how_to_commit_it(bench, make_project) -> None:
    root = make_project("toy")
    manifest = (root / "bench" / "manifest.toml").read_text()
    git(root, "rm", "-q", "bench/manifest.toml")
    commit_all(root, "drop the manifest")
    (root / "bench" / "manifest.toml").write_text(manifest)
    assert bench("register", str(root)).returncode == 0
    error, fix = one_error(bench("run", "toy", "speed", "--allow-dirty", *SB))
    head = git(root, "rev-parse", "HEAD")
    assert error == (f"error: commit {head[:12]} has no bench/manifest.toml: the registered "
                     "manifest was never committed there")
    assert fix == "fix: commit it (git add bench/manifest.toml && git commit), then run again"


@pytest.mark.slow
def test_evaluate_after_promote_rejects_and_promote_again_says_why(bench, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed", *SB).returncode == 0
    (root / "src" / "speed.txt").write_text("0.8\n")
    faster = commit_all(root, "faster")
    assert bench("run", "toy", "speed", *SB).returncode == 0
    assert verdict_of(bench, "toy", "speed")[0] == 0
    assert bench("promote", "toy", "speed").returncode == 0

    code, verdict = verdict_of(bench, "toy", "speed")  # the baseline and candidate are one
    assert (code, verdict["kind"]) == (1, "REJECT"), verdict["reason"]
    assert verdict["reason"].startswith(f"{faster[:10]} is the baseline already")

    error, fix = one_error(bench("promote", "toy", "speed"))
    assert error.startswith(f"error: {faster[:10]} is the baseline of toy/speed already")
    assert fix is not None and "--force" not in fix
    error, _fix = one_error(bench("promote", "toy", "speed", "--force"))
    assert "nothing new to promote" in error
    history = json.loads(bench("history", "toy", "speed", "--json").stdout)
    assert [e["action"] for entry in history["entries"] for e in entry["baseline_events"]] == [
        "promote", "establish"]


@pytest.mark.slow
def test_a_calibrated_benchmark_rejects_after_promote_too(bench, make_project) -> None:
    root = welch_toy(make_project, bench)
    (root / "src" / "speed.txt").write_text("0.5\n")
    faster = commit_all(root, "faster")
    assert bench("run", "toy", "speed", *SB).returncode == 0
    code, verdict = verdict_of(bench, "toy", "speed")
    assert code == 0, verdict["reason"]
    assert bench("promote", "toy", "speed").returncode == 0
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "REJECT")
    assert verdict["reason"].startswith(f"{faster[:10]} is the baseline already")



def test_empty_baseline_seeds_are_refused_before_anything_runs(bench, make_project) -> None:
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("baseline_seeds = [1, 2, 3, 4, 5]\npromotion",
                                                     "baseline_seeds = []\npromotion"))
    commit_all(root, "no seeds")
    registered = bench("register", str(root))
    assert registered.returncode == 0
    assert ("baseline_seeds has 0 seed(s): bench baseline establish refuses to run"
            in " ".join(registered.stderr.split()))
    for background in ((), ("--background",)):
        result = bench("baseline", "establish", "toy", "speed", *background, *SB)
        error, fix = one_error(result)
        assert error == "error: toy/speed has no baseline_seeds: a baseline has nothing to run"
        assert fix is not None and "baseline_seeds = [1, 2, 3, 4, 5]" in fix
        assert "dispatched" not in result.stdout
    assert json.loads(bench("status", "--json").stdout) == []


def test_a_bad_state_directory_is_one_line_with_its_fix(bench, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for place, reason in ((a_file / "sub", "a file stands where a directory is needed"),
                          (a_file, "a file stands where a directory is needed"),
                          (Path("/proc/benchstone-nope"), "No such file or directory")):
        error, fix = one_error(bench("list", env={"BENCHSTONE_HOME": str(place)}))
        assert error == f"error: cannot use the state directory {place}: {reason}"
        assert fix is not None and fix.startswith("fix: set BENCHSTONE_HOME to a directory")


# SIGINT from a timer inside the process, so that it lands after the interpreter's own start-up
# and the console script's one-line import (which no program can guard), while the CLI loads or
# runs. The timer is the process's own interval timer, armed just before main, whose handler
# sends the SIGINT: a timer thread could fire while it was still starting, before main, on a
# busy machine. It is disarmed once main returns: at exit the handler is gone, and the timer's
# signal would kill the process.
INTERRUPT_AFTER = """
import os, signal, sys
from benchstone.__main__ import main  # what the console script imports before calling main
delay = float(sys.argv[1])
# Ctrl-C reaches a command in the terminal's foreground; one started in the background of a
# script (as a CI job may start the suite) inherits SIGINT ignored, where Python leaves it
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGALRM, lambda _signum, _frame: os.kill(os.getpid(), signal.SIGINT))
sys.argv = ["bench", "list"]
signal.setitimer(signal.ITIMER_REAL, delay)
try:
    code = main()
finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
sys.exit(code)
"""


def _lost_in_a_callback(stderr: str) -> bool:
    """CPython runs an exception raised in a weak reference's callback (the import system's
    module locks have them) as one it ignores and reports, and goes on: a Ctrl-C landing there is
    lost, whatever the program does. Its report names no frame of benchstone."""
    return (stderr.startswith("Exception ignored in") and "KeyboardInterrupt" in stderr
            and "benchstone" not in stderr)


def test_ctrl_c_while_the_cli_starts_is_one_line_and_exit_130(tmp_path: Path) -> None:
    env = {**os.environ, "BENCHSTONE_HOME": str(tmp_path / "home")}
    interrupted = 0
    for delay in (0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2, 0.3):
        done = subprocess.run([sys.executable, "-c", INTERRUPT_AFTER, str(delay)], env=env,
                              capture_output=True, text=True, timeout=60)
        if _lost_in_a_callback(done.stderr):  # then it ran on to its end
            assert done.returncode == 0, (delay, done.returncode, done.stderr)
            continue
        assert "Traceback" not in done.stderr, f"after {delay}s:\n{done.stderr}"
        if done.returncode == 130:
            assert done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr
            interrupted += 1
        else:  # it finished before the signal arrived
            assert done.returncode == 0, (delay, done.returncode, done.stderr)
    assert interrupted >= 3, "the signal arrived after the command had finished every time"


@pytest.mark.slow
def test_a_stop_while_evaluate_loads_its_modules_is_exit_130(bench, make_project) -> None:
    """SIGTERM at moments spread over an evaluate, most of them while it imports the gates and
    the models it needs: each is "interrupted" and 130 (or the verdict, when the command was
    already done), never an internal error. A module the API loads on first use once stood in
    the import table as a lazy module; interrupted while it loaded, it stayed half-loaded, the
    interpreter's ``from ... import`` of it dropped the interrupt, and the command went on to
    fail with ImportError, exit 5."""
    import signal
    import time

    root = make_project("toy")
    assert bench("register", str(root)).returncode == 0
    command = [sys.executable, "-m", "benchstone", "evaluate", "toy", "speed"]
    started = time.perf_counter()
    subprocess.run(command, cwd=root, capture_output=True, check=False, timeout=60)
    whole = time.perf_counter() - started  # once, compiled: this machine's pace, now
    interrupted = 0
    for step in range(1, 13):
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(whole * step / 12)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        assert "internal error" not in err and "Traceback" not in err, err
        # -SIGINT: an interrupt that landed inside pydantic's compiled core while it ran Python
        # code makes the interpreter end itself with SIGINT at exit, after our one line; a
        # shell's $? reads 130 either way
        if process.returncode in (130, -signal.SIGINT):
            assert err.strip().splitlines()[-1] == "interrupted", err
            interrupted += 1
        else:  # before the SIGTERM handler was in place (its default ends the process), or done
            assert process.returncode in (-signal.SIGTERM, 2), (process.returncode, err)
    assert interrupted >= 2, "the signal missed the command almost every time"


@pytest.mark.slow
def test_a_sequential_verdict_reads_plainly_first(bench, make_project) -> None:
    root = welch_toy(make_project, bench)
    (root / "src" / "speed.txt").write_text("0.5\n")
    commit_all(root, "twice as fast")
    assert bench("run", "toy", "speed", *SB).returncode == 0
    code, verdict = verdict_of(bench, "toy", "speed")
    lines = bench("evaluate", "toy", "speed").stdout.splitlines()
    runs = verdict["sequential"]["look"]
    low, high = verdict["effect_ci"]
    assert code == 0 and lines[0].startswith(f"verdict: PROMOTE  {verdict['effect']:.1%} faster (")
    assert f"CI {low:.1%} to {high:.1%}), decided after {runs} of at most 12 runs" in lines[0]
    assert lines[1] == f"  why: {verdict['reason']}"
