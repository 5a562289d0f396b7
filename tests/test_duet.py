"""``bench compare --duet``: both halves of a pair at the same time, on disjoint pinned cores.

The fixture (tests/fixtures/cpuproj) sleeps, then reports the cores it was allowed to run on
(``Cpus_allowed_list`` of /proc/self/status, read inside the sandbox) in its metadata; the rows
carry the harness's own start and end times and the cpuset it pinned.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all

from benchstone.errors import CompareError
from benchstone.evaluate.duet import cores_of_pair, duet_cores_needed, duet_plan, split_cores
from benchstone.sandbox.process import ProcessSandbox

TWO_CORES = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")


# ---- the core sets: pure ------------------------------------------------------------------

@pytest.mark.parametrize(("cpuset", "threads", "expected"), [
    ("0,1", 1, ("0", "1")),
    ("0-3", 2, ("0,1", "2,3")),
    ("2,5,7", 1, ("2", "5")),
    ("0-5", 2, ("0,1", "2,3")),
])
def test_a_lease_splits_into_two_disjoint_sets_of_the_benchmarks_threads(
        cpuset: str, threads: int, expected: tuple[str, str]) -> None:
    low, high = split_cores(cpuset, threads)
    assert (low, high) == expected
    assert not set(low.split(",")) & set(high.split(","))
    assert duet_cores_needed(threads) == 2 * threads


@pytest.mark.parametrize(("cpuset", "threads"), [("0", 1), ("0-2", 2), ("", 1)])
def test_a_lease_too_small_for_two_sets_is_refused_naming_the_fix(cpuset: str,
                                                                  threads: int) -> None:
    with pytest.raises(CompareError) as refused:
        split_cores(cpuset, threads)
    assert "--duet needs two disjoint sets" in str(refused.value)
    assert "without --duet" in (refused.value.fix or "")


@pytest.mark.parametrize("baseline_starts_low", [True, False])
def test_the_sets_swap_sides_from_pair_to_pair(baseline_starts_low: bool) -> None:
    sets = ("0", "1")
    plan = [cores_of_pair(sets, index, baseline_starts_low) for index in range(6)]
    assert all(pair["baseline"] != pair["candidate"] for pair in plan)
    assert all(set(pair.values()) == set(sets) for pair in plan)
    baseline_cores = [pair["baseline"] for pair in plan]
    assert baseline_cores[0] == ("0" if baseline_starts_low else "1")
    assert all(a != b for a, b in itertools.pairwise(baseline_cores))
    assert baseline_cores.count("0") == baseline_cores.count("1") == 3


def test_which_side_starts_on_which_set_is_drawn_afresh_for_every_two_pairs() -> None:
    """Within every two pairs each side has each set once; which side starts where is a fresh
    draw, so a half that knows its pair's place (from the clock, say) learns nothing of its side
    from its cores: across blocks the baseline's first set is either, about half the time."""
    sets = ("0", "1")
    plan = duet_plan(sets, 400, random.Random(11))
    blocks = [plan[i:i + 2] for i in range(0, 400, 2)]
    for first, second in blocks:
        assert first["baseline"] != second["baseline"]
        assert {first["baseline"], first["candidate"]} == set(sets)
    starts_low = sum(first["baseline"] == "0" for first, _ in blocks)
    assert 70 <= starts_low <= 130, starts_low  # 200 fair draws: 100 +- 4.3 standard errors
    # and knowing a pair's place tells nothing: the baseline's set at an even place is as often
    # one set as the other
    assert {pair["baseline"] for pair in plan[::2]} == set(sets)
    assert duet_plan(sets, 7, random.Random(3)) == duet_plan(sets, 7, random.Random(3))  # replayable


# ---- end to end, through the real CLI ------------------------------------------------------

@pytest.fixture
def cpuproj(make_project, bench) -> Path:
    root = make_project("cpuproj")
    registered = bench("register", str(root))
    assert registered.returncode == 0, registered.stderr
    return root


def _moment(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _pair_of_commits(root: Path, sleep: str) -> None:
    """HEAD~1 and HEAD: the same program, sleeping ``sleep`` seconds each half."""
    (root / "src/sleep").write_text(f"{sleep}\n")
    commit_all(root, "the baseline")
    (root / "NOTES").write_text("the same program\n")
    commit_all(root, "the candidate: the same program")


def _duet(bench, root: Path, *args: str, env: dict[str, str] | None = None
          ) -> tuple[Any, dict[str, Any]]:
    result = bench("compare", "cpuproj", "pinned", "--against", "HEAD~1", "--duet", "--json",
                   *args, env=env)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def _assert_halves_overlapped_on_disjoint_cores(compared: dict[str, Any], pairs: int) -> None:
    assert compared["design"] == "duet"
    assert compared["pairs_run"] == pairs
    baseline, candidate = compared["baseline"], compared["candidate"]
    assert baseline["run_set"]["comparison_id"] == candidate["run_set"]["comparison_id"] \
        == compared["comparison_id"]
    assert (baseline["run_set"]["side"], candidate["run_set"]["side"]) == ("baseline",
                                                                            "candidate")
    lease = set(baseline["run_set"]["cpuset"].split(","))
    assert len(lease) == 2 and candidate["run_set"]["cpuset"] == baseline["run_set"]["cpuset"]
    halves = list(zip(baseline["runs"], candidate["runs"], strict=True))
    assert len(halves) == pairs
    for index, (b, c) in enumerate(halves):
        assert b["repetition"] == c["repetition"] == index and b["seed"] == c["seed"]
        # each half ran where the harness says, as the kernel saw it inside the sandbox
        assert b["metadata"]["cpus_allowed_list"] == b["cpuset"]
        assert c["metadata"]["cpus_allowed_list"] == c["cpuset"]
        assert b["cpuset"] != c["cpuset"] and {b["cpuset"], c["cpuset"]} <= lease
        assert [b["cpuset"], c["cpuset"]] == compared["duet_cores"][index]
        # at the same time: each started before the other ended
        assert _moment(b["started_at"]) < _moment(c["finished_at"])
        assert _moment(c["started_at"]) < _moment(b["finished_at"])
    baseline_cores = [b["cpuset"] for b, _ in halves]
    blocks = zip(baseline_cores[0::2], baseline_cores[1::2], strict=False)  # a last one alone
    assert all(x != y for x, y in blocks), "the sets swap sides within every two pairs"


@TWO_CORES
@pytest.mark.docker
def test_duet_halves_run_at_once_in_containers_on_disjoint_cores(bench, cpuproj,
                                                                 docker_client) -> None:
    _pair_of_commits(cpuproj, "3")  # longer than a container takes to start
    result, compared = _duet(bench, cpuproj, "--pairs", "3", "--sandbox", "docker")
    assert result.returncode == 2, result.stderr  # NEEDS_MORE_DATA: an A/A comparison
    _assert_halves_overlapped_on_disjoint_cores(compared, 3)
    assert any("design: duet" in warning for warning in compared["verdict"]["warnings"])


@pytest.mark.slow
@TWO_CORES
def test_duet_with_the_process_sandbox_pins_and_overlaps_and_keeps_deciding(bench,
                                                                             cpuproj) -> None:
    _pair_of_commits(cpuproj, "1")  # both halves sleep: they overlap
    result, compared = _duet(bench, cpuproj, "--until-decided", "--max-repetitions", "4",
                             "--sandbox", "process")
    assert result.returncode == 2, result.stderr
    _assert_halves_overlapped_on_disjoint_cores(compared, 4)
    assert compared["verdict"]["kind"] == "NEEDS_MORE_DATA"
    # the pairs count on for the same two commits, and say how they ran
    _, more = _duet(bench, cpuproj, "--pairs", "2", "--sandbox", "process")
    assert more["pairs_total"] == 6
    assert any("4 pair(s) ran as duets" in warning for warning in more["verdict"]["warnings"])


@TWO_CORES
def test_a_failing_candidate_half_in_a_duet_withholds_promotion(bench, cpuproj) -> None:
    (cpuproj / "src/metric").write_text("not a number\n")
    commit_all(cpuproj, "the candidate: a broken result")
    result, compared = _duet(bench, cpuproj, "--pairs", "2", "--sandbox", "process")
    assert result.returncode != 0
    assert [run["status"] for run in compared["candidate"]["runs"]] == ["error", "error"]
    assert compared["verdict"]["kind"] != "PROMOTE"
    assert compared["verdict"]["candidate"]["n_errors"] == 2


def test_duet_is_refused_where_two_sets_of_cores_cannot_exist(bench, cpuproj) -> None:
    (cpuproj / "src/sleep").write_text("0.1\n")
    commit_all(cpuproj, "the candidate")
    result = bench("compare", "cpuproj", "pinned", "--against", "HEAD~1", "--duet",
                   "--sandbox", "process", env={"BENCHSTONE_MAX_THREADS": "1"})
    assert result.returncode != 0 and not result.stdout
    message = result.stderr.strip().splitlines()
    assert any("--duet needs two disjoint sets of 1 core(s), 2 in all; this machine's thread "
               "budget is 1" in line for line in message), result.stderr
    assert "without --duet" in result.stderr and "Traceback" not in result.stderr
    history = json.loads(bench("history", "cpuproj", "pinned", "--json").stdout)
    assert history["entries"] == []  # nothing recorded


def test_duet_is_refused_with_a_sandbox_that_cannot_pin(bench, cpuproj,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A platform without sched_setaffinity cannot exist here: the process sandbox is told it
    # has none, which is what it reads from the platform.
    monkeypatch.setattr(ProcessSandbox, "pins_cores", False)
    (cpuproj / "src/sleep").write_text("0.1\n")
    commit_all(cpuproj, "the candidate")
    result = bench("compare", "cpuproj", "pinned", "--against", "HEAD~1", "--duet",
                   "--sandbox", "process")
    assert result.returncode != 0 and not result.stdout
    assert "--duet needs a sandbox that pins each half to cores of its own; the process " \
        "sandbox cannot pin here" in result.stderr
    assert "--sandbox docker" in result.stderr and "Traceback" not in result.stderr
    history = json.loads(bench("history", "cpuproj", "pinned", "--json").stdout)
    assert history["entries"] == []


@pytest.mark.slow
@TWO_CORES
def test_evaluate_of_a_paired_design_says_its_pairs_ran_as_duets(bench, cpuproj) -> None:
    manifest = cpuproj / "bench/manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'entry_point = "pinned"\n', 'entry_point = "pinned"\ndesign = "paired"\n', 1))
    (cpuproj / "src/sleep").write_text("0.2\n")
    commit_all(cpuproj, "the pinned benchmark is paired")
    assert bench("register", str(cpuproj)).returncode == 0
    established = bench("baseline", "establish", "cpuproj", "pinned", "--sandbox", "process")
    assert established.returncode == 0, established.stderr
    (cpuproj / "NOTES").write_text("the same program\n")
    commit_all(cpuproj, "the candidate: the same program")
    compared = bench("compare", "cpuproj", "pinned", "--duet", "--pairs", "3",
                     "--sandbox", "process")
    assert compared.returncode == 2, compared.stderr
    code, verdict = _evaluated(bench)
    assert code == 2 and verdict["kind"] == "NEEDS_MORE_DATA"
    assert ("3 pair(s) ran as duets (both halves at once, on disjoint cores), 0 alternating "
            "(one half after the other)") in verdict["warnings"]
    alternating = bench("compare", "cpuproj", "pinned", "--pairs", "2", "--sandbox", "process")
    assert alternating.returncode == 2, alternating.stderr
    _, verdict = _evaluated(bench)
    assert ("3 pair(s) ran as duets (both halves at once, on disjoint cores), 2 alternating "
            "(one half after the other)") in verdict["warnings"]


def _evaluated(bench) -> tuple[int, dict[str, Any]]:
    result = bench("evaluate", "cpuproj", "pinned", "--json")
    return result.returncode, json.loads(result.stdout)


def _sleeping(seconds: str) -> list[int]:
    """The pids of this machine's ``sleep SECONDS`` processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                words = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if words[:2] == [b"sleep", seconds.encode()]:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@TWO_CORES
def test_a_stopped_duet_leaves_neither_half_running(cpuproj) -> None:
    """SIGTERM reaches the command's main thread while both halves run in threads of their
    own: the halves' processes end with the command, not minutes later."""
    import signal
    import subprocess
    import sys
    import time

    pause = "41.37"  # a duration no other process here sleeps
    _pair_of_commits(cpuproj, pause)
    command = subprocess.Popen(
        [sys.executable, "-m", "benchstone", "compare", "cpuproj", "pinned", "--against",
         "HEAD~1", "--duet", "--pairs", "1", "--sandbox", "process"],
        cwd=cpuproj, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_sleeping(pause)) < 2:
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "the halves did not start"
            time.sleep(0.1)
        command.send_signal(signal.SIGTERM)
        _out, err = command.communicate(timeout=30)
        assert command.returncode == 130, err
        assert "Traceback" not in err
        time.sleep(0.5)
        assert _sleeping(pause) == []
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        for pid in _sleeping(pause):
            os.kill(pid, signal.SIGKILL)
