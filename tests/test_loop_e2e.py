"""The original benchstone's whole loop through the real CLI, on both sandbox backends.

register -> baseline establish -> commit an improvement -> run -> evaluate -> promote ->
evaluate at the new SHA, plus every other verdict, exit code and runner failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, verdict_of


def _set(root: Path, relative: str, text: str, message: str) -> str:
    (root / relative).write_text(text)
    return commit_all(root, message)



def test_the_whole_loop(bench, make_project, sandbox: str) -> None:
    root = make_project("toy")
    sb = ("--sandbox", sandbox)
    assert bench("register", str(root)).returncode == 0
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NO_BASELINE")

    established = bench("baseline", "establish", "toy", "speed", *sb)
    assert established.returncode == 0, established.stderr
    assert "dispatched 5 run(s)" in established.stdout
    assert "baseline set: toy/speed" in established.stdout
    assert established.stdout.count(" metric=") == 5

    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")

    improved = _set(root, "src/speed.txt", "0.8\n", "faster")
    ran = bench("run", "toy", "speed", *sb)
    assert ran.returncode == 0, ran.stderr
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (0, "PROMOTE"), verdict["reason"]
    assert verdict["candidate"]["git_sha"] == improved
    assert verdict["candidate_mean"] < verdict["baseline_mean"]
    text = bench("evaluate", "toy", "speed")
    assert text.stdout.startswith("verdict: PROMOTE  sigma=+")
    assert "baseline mean=" in text.stdout and "candidate mean=" in text.stdout

    promoted = bench("promote", "toy", "speed")
    assert promoted.returncode == 0, promoted.stderr
    assert f"-> {improved[:10]}" in promoted.stdout

    # at the new SHA the promoted runs are the baseline: a regression from 0.8 is a REJECT
    _set(root, "src/speed.txt", "0.9\n", "slower again")
    assert bench("run", "toy", "speed", *sb).returncode == 0
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "REJECT")
    assert verdict["baseline"]["git_sha"] == improved
    assert bench("promote", "toy", "speed").returncode == 5

    history = bench("history", "toy", "speed")
    assert "<- baseline (promote" in history.stdout
    assert "<- baseline (establish" in history.stdout
    rows = json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"]
    assert {rs["run_set"]["sandbox"] for rs in rows} == {sandbox}
    assert all(run["sandbox"] == sandbox for rs in rows for run in rs["runs"])


def test_expect_mismatch_exits_4(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    result = bench("evaluate", "toy", "speed", "--expect", "PROMOTE")
    assert result.returncode == 4
    assert "expected PROMOTE, got NO_BASELINE" in result.stderr
    # a match exits 0, whatever the verdict's own code (the original: "exit 0 on match")
    assert bench("evaluate", "toy", "speed", "--expect", "no_baseline").returncode == 0


@pytest.mark.slow
def test_mann_whitney_policy_and_its_ceiling(bench, make_project, sandbox: str) -> None:
    root = make_project("toy")
    bench("register", str(root))
    assert bench("baseline", "establish", "toy", "quality", "--sandbox", sandbox).returncode == 0
    _set(root, "src/quality.txt", "12.0\n", "better quality")
    assert bench("run", "toy", "quality", "--sandbox", sandbox).returncode == 0
    code, verdict = verdict_of(bench, "toy", "quality")
    # 5 v 5 all better: U = 25, z = (25 - 12.5) / sqrt(25 * 11 / 12) = 2.611
    assert (code, verdict["kind"]) == (0, "PROMOTE")
    assert verdict["statistic"] == pytest.approx(12.5 / (25 * 11 / 12) ** 0.5)
    # 3 candidate runs cannot reach z = 2.0 against 5: the ceiling is sqrt(45/9) = 2.236... but
    # 2 runs cannot: sqrt(30/8) = 1.936 < 2.0
    assert bench("run", "toy", "quality", "-n", "2", "--sandbox", sandbox).returncode == 0
    code, verdict = verdict_of(bench, "toy", "quality")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "cannot exceed 1.94" in verdict["reason"]


def test_at_sha_leaves_the_working_tree_alone(bench, make_project, sandbox: str) -> None:
    root = make_project("toy")
    first = git(root, "rev-parse", "HEAD")
    later = _set(root, "src/speed.txt", "0.7\n", "later")
    (root / "scratch-notes.txt").write_text("untracked but present\n")
    status_before = git(root, "status", "--porcelain")
    bench("register", str(root))
    result = bench("baseline", "establish", "toy", "speed", "--at-sha", first[:8],
                   "--sandbox", sandbox)
    assert result.returncode == 0, result.stderr
    assert f"git_sha={first[:10]}" in result.stdout
    assert git(root, "rev-parse", "HEAD") == later
    assert git(root, "status", "--porcelain") == status_before
    timeline = json.loads(bench("history", "toy", "speed", "--json").stdout)
    metrics = [run["metric"] for run in timeline["entries"][0]["runs"]]
    assert all(0.98 < m < 1.02 for m in metrics)  # measured at the first commit: 1.0, not 0.7


@pytest.mark.slow
def test_dirty_tree_is_refused_then_recorded_and_kept_out_of_gates(bench, make_project,
                                                                   home: Path) -> None:
    root = make_project("toy")
    bench("register", str(root))
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    _set(root, "src/speed.txt", "0.8\n", "faster")
    (root / "notes.txt").write_text("an untracked file\n")
    refused = bench("run", "toy", "speed", "--sandbox", "process")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: ") and "uncommitted changes" in refused.stderr
    assert "--allow-dirty" in refused.stderr
    assert "Traceback" not in refused.stderr

    allowed = bench("run", "toy", "speed", "--sandbox", "process", "--allow-dirty")
    assert allowed.returncode == 0 and "dirty=True" in allowed.stdout
    diffs = list((home / "logs" / "toy" / "speed").glob("*.diff"))
    assert len(diffs) == 1 and diffs[0].stat().st_mode & 0o777 == 0o600
    assert "an untracked file" in diffs[0].read_text()

    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "dirty" in verdict["reason"] and "--include-dirty" in verdict["reason"]
    code, verdict = verdict_of(bench, "toy", "speed", "--include-dirty")
    assert (code, verdict["kind"]) == (0, "PROMOTE")
    assert any("dirty" in warning for warning in verdict["warnings"])


RUNNER_FAILURES = {
    "non_zero_exit": ("echo 'it broke' >&2; exit 3", "runner_exit", "status 3: it broke"),
    "no_output": ("exit 0", "no_result", "wrote no result file"),
    "invalid_output": ("echo 'not json' > \"$3\"", "invalid_result", "not valid JSON"),
    "not_an_object": ("echo '[1, 2]' > \"$3\"", "invalid_result", "not an object"),
    "nan_metric": ("echo '{\"status\": \"ok\", \"metric\": NaN}' > \"$3\"", "invalid_result",
                   "NaN"),
    "error_status": ("echo '{\"status\": \"error\", \"message\": \"no solution\"}' > \"$3\"",
                     "runner_error", "no solution"),
    "timeout": ("sleep 60", "timeout", "timeout after 3 s"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(RUNNER_FAILURES))
def test_runner_failures_are_rows_and_the_run_goes_on(bench, make_project, sandbox: str,
                                                      case: str) -> None:
    script, failure, message = RUNNER_FAILURES[case]
    root = make_project("shellproj")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("timeout_seconds = 20", "timeout_seconds = 3"))
    # the repetition in protocol slot 1 fails (one of the three, in a drawn order); the others
    # succeed
    runner = root / "bench" / "run.sh"
    original = runner.read_text()
    runner.write_text(original.replace(
        'base=$(cat src/metric)',
        'base=$(cat src/metric)\n'
        'slot=$(sed -n \'s/.*"repetition_index": *\\([0-9]*\\).*/\\1/p\' "$2")\n'
        f'if [ "$slot" = "1" ]; then\n{script}\nexit 0\nfi'))
    commit_all(root, f"fail with {case}")
    bench("register", str(root))
    result = bench("baseline", "establish", "shellproj", "probe", "--sandbox", sandbox)
    assert result.returncode == 0, result.stderr
    runs = json.loads(bench("history", "shellproj", "probe", "--json").stdout)["entries"][0]["runs"]
    assert sorted(run["status"] for run in runs) == ["error", "ok", "ok"]
    failed = next(run for run in runs if run["status"] == "error")
    assert failed["failure"] == failure
    assert message in failed["message"]
    assert "\n" not in failed["message"]
    assert f"error ({failure})" in result.stdout


def test_every_repetition_failing_exits_1(bench, make_project) -> None:
    root = make_project("shellproj")
    _set(root, "bench/run.sh", "exit 1\n", "always fails")
    bench("register", str(root))
    result = bench("run", "shellproj", "probe", "--sandbox", "process")
    assert result.returncode == 1
    assert "every repetition failed (3 error row(s) recorded)" in result.stderr


def test_changed_manifest_at_the_commit_stops_the_run(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    manifest = root / "bench" / "manifest.toml"
    _set(root, "bench/manifest.toml",
         manifest.read_text().replace("promotion_sigma = 2.0", "promotion_sigma = 0.1"),
         "loosen my own gate")
    result = bench("run", "toy", "speed", "--sandbox", "process")
    assert result.returncode == 5
    assert "different bench/manifest.toml than the registered copy" in result.stderr
    assert "bench register" in result.stderr


def test_at_sha_before_the_manifest_changed_says_which_commits_can_be_measured(
        bench, make_project) -> None:
    root = make_project("toy")
    first = git(root, "rev-parse", "HEAD")
    manifest = root / "bench" / "manifest.toml"
    more = manifest.read_text().replace("repetitions = 5", "repetitions = 6", 1)
    _set(root, "bench/manifest.toml", more, "one more repetition")
    assert bench("register", str(root)).returncode == 0
    result = bench("baseline", "establish", "toy", "speed", "--at-sha", first[:8],
                   "--sandbox", "process")
    assert result.returncode == 5
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: commit {first[:12]} has a different bench/manifest.toml")
    # registering the old manifest again would only move the problem to HEAD
    assert lines[1].startswith("  fix: ") and "bench register" not in lines[1]
    assert "registered manifest" in lines[1] and "HEAD" in lines[1]


@pytest.mark.slow
def test_promote_refuses_to_choose_between_run_sets(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", "process")
    _set(root, "src/speed.txt", "0.8\n", "faster")
    seeds = []
    for _ in range(2):
        ran = bench("run", "toy", "speed", "--sandbox", "process", "--json")
        assert ran.returncode == 0
        seeds.append(json.loads(ran.stdout)["run_set"]["meta_seed"])
    refused = bench("promote", "toy", "speed")
    assert refused.returncode == 5 and "will not choose silently" in refused.stderr
    assert "--meta-seed" in refused.stderr
    chosen = bench("promote", "toy", "speed", "--meta-seed", str(seeds[0]))
    assert chosen.returncode == 0 and f"meta_seed={seeds[0]}" in chosen.stdout


@pytest.mark.slow
def test_promote_force_is_recorded(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", "process")
    _set(root, "src/speed.txt", "1.2\n", "slower")
    bench("run", "toy", "speed", "--sandbox", "process")
    refused = bench("promote", "toy", "speed")
    assert refused.returncode == 5 and "the gate says REJECT" in refused.stderr
    forced = bench("promote", "toy", "speed", "--force")
    assert forced.returncode == 0 and "(forced)" in forced.stdout
    assert "forced" in bench("history", "toy", "speed").stdout


def test_seeds_derive_from_the_meta_seed(bench, make_project) -> None:
    from benchstone.run.environment import derive_seeds

    root = make_project("toy")
    bench("register", str(root))
    result = bench("run", "toy", "speed", "--sandbox", "process", "--meta-seed", "4427", "-n", "3")
    seeds = [int(part.split("=")[1]) for part in result.stdout.split() if part.startswith("seed=")]
    assert seeds == derive_seeds(4427, 3)


@pytest.mark.slow
def test_ctrl_c_keeps_finished_repetitions(bench, make_project, sandbox: str,
                                          docker_client_if_docker) -> None:
    root = make_project("shellproj")
    _set(root, "bench/run.sh", 'printf \'{"status":"ok","metric":1}\' > "$3"; sleep 2\n', "slow")
    bench("register", str(root))
    process = subprocess.Popen(
        [sys.executable, "-m", "benchstone", "run", "shellproj", "probe", "-n", "5",
         "--sandbox", sandbox], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy(), preexec_fn=_interruptible)
    deadline = time.monotonic() + 60
    seen = ""
    while "[1/5" not in seen and time.monotonic() < deadline:
        seen += process.stdout.readline()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (seen, out, err)
    assert "repetition(s) were recorded and kept" in err
    runs = json.loads(bench("history", "shellproj", "probe", "--json").stdout)["entries"][0]["runs"]
    assert 1 <= len(runs) < 5
    if docker_client_if_docker is not None:
        mine = f"benchstone.harness.pid={process.pid}"  # other test sessions may share the engine
        left = docker_client_if_docker.containers.list(all=True, filters={"label": mine})
        assert left == []


def _interruptible() -> None:
    # A shell that starts the suite in the background ignores SIGINT, and an ignored SIGINT is
    # inherited: Python then installs no KeyboardInterrupt handler, as for a user's Ctrl-C in a
    # terminal it must have one.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def docker_client_if_docker(request: pytest.FixtureRequest, sandbox: str):
    return request.getfixturevalue("docker_client") if sandbox == "docker" else None


@pytest.mark.docker
def test_a_shell_runner_in_an_image_without_python(bench, make_project, docker_client) -> None:
    from benchstone.sandbox.docker.image import DEFAULT_IMAGE

    tag = "benchstone-test-nopython:latest"
    dockerfile = (f"FROM {DEFAULT_IMAGE}\nUSER root\n"
                  "RUN rm -f /usr/bin/python* /usr/local/bin/python*\nUSER 10001:10001\n")
    import io

    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                               network_mode="none")
    root = make_project("shellproj")
    manifest = root / "bench" / "manifest.toml"
    _set(root, "bench/manifest.toml",
         manifest.read_text().replace('language = "shell"', f'language = "shell"\nimage = "{tag}"'),
         "use an image without python")
    _set(root, "bench/run.sh", (root / "bench" / "run.sh").read_text().replace(
        "set -eu", 'set -eu\nif command -v python3 >/dev/null; then exit 9; fi'), "assert no python")
    bench("register", str(root))
    try:
        result = bench("baseline", "establish", "shellproj", "probe")
    finally:
        docker_client.images.remove(tag, force=True)  # no test image left on the engine
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" metric=1") == 3 and "error" not in result.stdout
    timeline = json.loads(bench("history", "shellproj", "probe", "--json").stdout)
    assert timeline["entries"][0]["run_set"]["image"] == tag


@pytest.mark.docker
def test_baseline_and_candidate_from_different_sandboxes_are_not_compared(
        bench, make_project, docker_client) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", "docker")
    _set(root, "src/speed.txt", "0.5\n", "much faster")
    bench("run", "toy", "speed", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "different sandboxes are never compared" in verdict["reason"]


@pytest.mark.docker
def test_baseline_and_candidate_from_different_images_are_not_compared(
        bench, make_project, docker_client, tmp_path: Path) -> None:
    """The project's image rebuilt between baseline and candidate (same tag, new id): the
    samples come from different environments and are never compared."""
    import io

    from benchstone.sandbox.docker.image import DEFAULT_IMAGE

    tag = f"benchstone-test-rebuilt:{tmp_path.name.lower()[-20:].strip('_-.') or 'x'}"

    def build(revision: str) -> None:
        dockerfile = f"FROM {DEFAULT_IMAGE}\nLABEL test.revision={revision}\n"
        docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                                   network_mode="none")

    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    _set(root, "bench/manifest.toml", manifest.read_text().replace(
        'language = "python"', f'language = "python"\nimage = "{tag}"'), "a project image")
    bench("register", str(root))
    try:
        build("one")
        assert bench("baseline", "establish", "toy", "speed").returncode == 0
        build("two")
        _set(root, "src/speed.txt", "0.5\n", "much faster")
        assert bench("run", "toy", "speed").returncode == 0
    finally:
        docker_client.images.remove(tag, force=True)
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "different sandboxes are never compared" in verdict["reason"]
