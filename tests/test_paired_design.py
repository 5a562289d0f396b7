"""``design = "paired"`` through the real CLI (on both sandbox backends), and the rules that keep a
baseline run indistinguishable from a candidate run: the seeds and the protocol fields every
repetition sees.

Under the paired design ``bench run`` measures the baseline pointer's commit again, pair by pair
with HEAD; ``evaluate``, ``--until-decided``, ``evaluate --all``, ``explain`` and ``promote``
judge those pairs.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import commit_all, verdict_of

from benchstone import api
from benchstone.project.manifest import BenchmarkSpec, parse_manifest, resolved
from benchstone.run.environment import derive_seeds, protocol_slots
from benchstone.run.runner import RunRequest, _seeds_for, caller_chose_seeds, planned_repetitions

TOML_HEAD = """[project]
name = "p"
invocation = "true"
"""


def _set(root: Path, relative: str, text: str, message: str) -> str:
    (root / relative).write_text(text)
    return commit_all(root, message)


def _paired_toy(make_project, bench, where: str = "project") -> Path:
    """The toy project with design = "paired" (on the [project] table, or on speed only)."""
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    text = manifest.read_text()
    if where == "project":
        text = text.replace('language = "python"\n', 'language = "python"\ndesign = "paired"\n', 1)
    else:
        text = text.replace('promotion_sigma = 2.0\n', 'promotion_sigma = 2.0\ndesign = "paired"\n', 1)
    manifest.write_text(text)
    commit_all(root, "the paired design")
    registered = bench("register", str(root))
    assert registered.returncode == 0, registered.stderr
    return root


# ---- the seed and protocol rules -------------------------------------------------------------


def test_a_baseline_and_a_candidate_draw_their_seeds_alike() -> None:
    bench = BenchmarkSpec(name="b", tier="performance", metric_direction="minimize",
                          repetitions=3, baseline_seeds=[1, 2, 3, 4, 5])
    base_meta, base_seeds = _seeds_for(bench, RunRequest(kind="baseline"))
    cand_meta, cand_seeds = _seeds_for(bench, RunRequest(kind="run"))
    # both from a fresh secret meta seed, as many as each side runs; never the public list
    assert base_meta is not None and cand_meta is not None and base_meta != cand_meta
    assert base_seeds == derive_seeds(base_meta, 5) and cand_seeds == derive_seeds(cand_meta, 3)
    assert not set(base_seeds) & {1, 2, 3, 4, 5}
    assert not caller_chose_seeds(RunRequest(kind="baseline"))
    assert not caller_chose_seeds(RunRequest(kind="run"))
    # chosen by the caller: reproduces a set, recorded as such
    assert _seeds_for(bench, RunRequest(kind="run", meta_seed=7)) == (7, derive_seeds(7, 3))
    assert caller_chose_seeds(RunRequest(kind="run", meta_seed=7))
    assert caller_chose_seeds(RunRequest(kind="run", seeds=[4]))
    assert caller_chose_seeds(RunRequest(kind="run", seed_set="baseline"))
    assert _seeds_for(bench, RunRequest(kind="run", seed_set="baseline")) == (None, [1, 2, 3, 4, 5])
    # compare passes its own fresh seeds, chosen by the harness
    assert not caller_chose_seeds(RunRequest(kind="compare", meta_seed=7, seeds=[1],
                                             seeds_from="harness"))
    assert planned_repetitions(bench, RunRequest(kind="baseline", repetitions=9)) == 9


def test_repetition_total_is_the_design_count_on_both_sides() -> None:
    bench = BenchmarkSpec(name="b", tier="performance", metric_direction="minimize",
                          repetitions=3, baseline_seeds=[1, 2, 3, 4, 5])
    assert bench.design_repetitions == 5  # whatever either side runs
    only_repetitions = BenchmarkSpec(name="c", tier="quality", metric_direction="maximize",
                                     repetitions=4)
    assert only_repetitions.design_repetitions == 4


def test_protocol_slots_cycle_through_the_design_in_a_replayable_order() -> None:
    slots = protocol_slots(42, 12, 5)
    assert slots == protocol_slots(42, 12, 5)  # --meta-seed replays it
    assert sorted(slots[:5]) == sorted(slots[5:10]) == list(range(5))
    assert set(slots[10:]) <= set(range(5)) and len(set(slots[10:])) == 2
    assert sorted(protocol_slots(43, 5, 5)) == list(range(5))


def test_a_repetition_sees_each_slot_equally_often_on_either_side() -> None:
    """The index a single repetition sees has one distribution, whether its run set is a
    5-repetition baseline or a 3-repetition candidate: 6000 run sets of each."""
    trials = 6000
    baseline = Counter(s for meta in range(trials) for s in protocol_slots(meta, 5, 5))
    candidate = Counter(s for meta in range(trials, 2 * trials)
                        for s in protocol_slots(meta, 3, 5))
    for slot in range(5):
        assert baseline[slot] / (5 * trials) == pytest.approx(0.2)
        # 18000 draws: a standard error of 0.003 around 0.2; 0.015 is five of them
        assert candidate[slot] / (3 * trials) == pytest.approx(0.2, abs=0.015)


def test_the_design_is_classic_unless_the_manifest_says_paired() -> None:
    text = TOML_HEAD + """
[[benchmarks]]
name = "a"
tier = "performance"
metric_direction = "minimize"
[[benchmarks]]
name = "o"
tier = "correctness"
"""
    plain = parse_manifest(text.encode())
    assert not resolved(plain.benchmark("a"), plain.project).is_paired
    paired = parse_manifest(text.replace('invocation = "true"\n',
                                         'invocation = "true"\ndesign = "paired"\n').encode())
    assert resolved(paired.benchmark("a"), paired.project).is_paired
    assert not resolved(paired.benchmark("o"), paired.project).is_paired  # nothing to pair
    own = parse_manifest(text.replace('name = "a"\n', 'name = "a"\ndesign = "classic"\n')
                         .replace('invocation = "true"\n',
                                  'invocation = "true"\ndesign = "paired"\n').encode())
    assert not resolved(own.benchmark("a"), own.project).is_paired
    with pytest.raises(Exception, match="design must be one of classic, paired"):
        parse_manifest(text.replace('name = "a"\n', 'name = "a"\ndesign = "later"\n').encode())


# ---- the paired design end to end -------------------------------------------------------------


@pytest.mark.slow
def test_the_paired_loop(bench, make_project, sandbox: str) -> None:
    root = _paired_toy(make_project, bench)
    sb = ("--sandbox", sandbox)
    assert verdict_of(bench, "toy", "speed")[0] == 2  # NO_BASELINE
    no_pointer = bench("run", "toy", "speed", *sb)
    assert no_pointer.returncode == 5 and "bench baseline establish toy speed" in no_pointer.stderr
    assert bench("baseline", "establish", "toy", "speed", *sb).returncode == 0

    _set(root, "src/speed.txt", "0.5\n", "twice as fast")
    ran = bench("run", "toy", "speed", *sb)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.count(" metric=") == 10  # 5 pairs: the baseline commit and HEAD
    assert "side=baseline" in ran.stdout and "side=candidate" in ran.stdout
    timeline = json.loads(bench("history", "toy", "speed", "--json").stdout)
    sides = {entry["run_set"]["side"]: entry for entry in timeline["entries"]
             if entry["run_set"]["kind"] == "compare"}
    assert set(sides) == {"baseline", "candidate"}
    assert [r["seed"] for r in sides["baseline"]["runs"]] == \
        [r["seed"] for r in sides["candidate"]["runs"]]  # one fresh seed per pair
    code, verdict = verdict_of(bench, "toy", "speed")
    assert verdict["candidate"]["n"] == verdict["baseline"]["n"] == 5
    assert code == {"PROMOTE": 0, "NEEDS_MORE_DATA": 2}[verdict["kind"]], verdict["reason"]
    assert any("design = paired" in w for w in verdict["warnings"])

    decided = bench("run", "toy", "speed", "--until-decided", *sb)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    assert "verdict: PROMOTE" in decided.stdout
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (0, "PROMOTE")
    assert verdict["policy"] == "paired_t" and verdict["effect"] == pytest.approx(0.5, abs=0.02)
    every = bench("evaluate", "--all", "toy", "--json")
    speed = next(v for v in json.loads(every.stdout)["benchmarks"] if v["benchmark"] == "speed")
    assert speed["kind"] == "PROMOTE"
    explained = bench("explain", "toy", "speed")
    assert explained.returncode == 0 and "design = paired" in explained.stdout

    promoted = bench("promote", "toy", "speed")
    assert promoted.returncode == 0, promoted.stderr
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "REJECT") and "baseline already" in verdict["reason"]

    # a comment-only change against the new baseline: the pairs find nothing to promote
    _set(root, "src/notes.txt", "tidied\n", "a comment, nothing else")
    unchanged = bench("run", "toy", "speed", "--until-decided", "--max-repetitions", "8", *sb)
    assert unchanged.returncode in (1, 2), unchanged.stdout
    assert "verdict: PROMOTE" not in unchanged.stdout


@pytest.mark.slow
def test_paired_api_shapes_and_refusals(bench, make_project) -> None:
    root = _paired_toy(make_project, bench, where="benchmark")
    api.establish_baseline("toy", "speed", sandbox="process")
    _set(root, "src/speed.txt", "0.5\n", "twice as fast")
    runs = api.run("toy", "speed", sandbox="process", repetitions=3)
    assert isinstance(runs, list) and len(runs) == 3  # the candidate halves, as Runs
    assert all(type(run).__name__ == "Run" for run in runs)
    assert runs.comparison.pairs_run == 3 and runs.run_set.side == "candidate"
    assert runs.model.baseline is not None and len(runs.model.baseline.runs) == 3
    verdict = api.evaluate("toy", "speed")
    assert type(verdict).__name__ == "Verdict" and verdict.candidate.n == 3
    # the quality benchmark of the same project stays classic
    assert api.run("toy", "quality", sandbox="process").run_set.kind == "run"

    chosen = bench("run", "toy", "speed", "--meta-seed", "7", "--sandbox", "process")
    assert chosen.returncode == 5 and "design = paired" in chosen.stderr
    reproduced = bench("run", "toy", "quality", "--meta-seed", "7", "--sandbox", "process")
    assert reproduced.returncode == 0 and "never gate evidence" in reproduced.stdout
    (root / "src" / "speed.txt").write_text("0.4\n")
    dirty = bench("run", "toy", "speed", "--allow-dirty", "--sandbox", "process")
    assert dirty.returncode == 5 and "committed trees" in dirty.stderr


@pytest.mark.slow
def test_a_paired_run_that_can_run_no_pair_says_why_and_exits_as_evaluate(
        bench, make_project, home) -> None:
    """A protected file changed since the baseline: no pair runs, and bench run says TAMPERED
    and exits 1 rather than print nothing and exit 0 (which reads as "the repetitions ran")."""
    root = _paired_toy(make_project, bench)
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    runner = root / "bench" / "runner.py"
    _set(root, "bench/runner.py", runner.read_text() + "# the harness's file, changed\n",
         "a change to a protected file")
    ran = bench("run", "toy", "speed", "--sandbox", "process")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stdout.startswith("verdict: TAMPERED") and "0 pair(s) run now" in ran.stdout
    as_json = bench("run", "toy", "speed", "--sandbox", "process", "--json")
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert (result["pairs_run"], result["verdict"]["kind"]) == (0, "TAMPERED")
    # in the background too: the job fails and says why, rather than end "done" with nothing
    started = bench("run", "toy", "speed", "--background", "--sandbox", "process", "--json")
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 120
    while (status := api.status(job, home=home)[0]).active:
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.5)
    assert status.state == "failed" and "no pair ran: TAMPERED" in (status.message or "")


@pytest.mark.slow
def test_a_paired_background_job_runs_pairs_at_the_commit_it_was_given(
        bench, make_project, home) -> None:
    root = _paired_toy(make_project, bench)
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    head = _set(root, "src/speed.txt", "0.5\n", "twice as fast")
    started = bench("run", "toy", "speed", "--background", "-n", "2", "--sandbox", "process",
                    "--json")
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)["id"]
    _set(root, "src/speed.txt", "0.25\n", "HEAD moves on while the job waits")
    deadline = time.monotonic() + 120
    while (status := api.status(job, home=home)[0]).active:
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.5)
    assert status.state == "done", status
    sets = [entry["run_set"] for entry in
            json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"]
            if entry["run_set"]["kind"] == "compare"]
    assert {rs["side"] for rs in sets} == {"baseline", "candidate"}
    assert {rs["job_id"] for rs in sets} == {job}
    assert next(rs for rs in sets if rs["side"] == "candidate")["git_sha"] == head


# ---- what the code under test sees on either side ---------------------------------------------

OBSERVER = '''"""Reports everything a repetition can observe, apart from the clock."""
import argparse, json, os, re, time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--entry"); parser.add_argument("--config"); parser.add_argument("--output")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
status = Path("/proc/self/status").read_text().splitlines()
cpus = next(line.split(":", 1)[1].strip() for line in status if line.startswith("Cpus_allowed_list"))
limits = Path("/proc/self/limits").read_text() if Path("/proc/self/limits").exists() else ""


def normalised(path):
    # what the kernel numbers (mount ids, anonymous devices, peer groups: they follow what
    # else the machine has mounted at the time) and random names (work directories, container
    # ids) aside; a position or a time would stay in
    lines = []
    for line in Path(path).read_text().splitlines():
        if path.endswith("mountinfo"):
            line = " ".join(line.split(" ")[3:])
        line = re.sub(r"(shared|master|propagate_from):[0-9]+", "<group>", line)
        lines.append(re.sub(r"[0-9a-f]{64}|[0-9a-f]{16}|overlay2/l/[A-Z0-9]{26}", "<random>",
                            line))
    return sorted(lines)  # in the order of the kernel's mount ids, set aside above


seen = {
    "config": config,
    "environment": dict(sorted(os.environ.items())),
    "cwd": os.getcwd(), "uid": os.getuid(), "argv": [args.entry, args.config, args.output],
    "cpus": cpus, "limits": limits,
    "files": sorted(os.listdir(".")),
    "mounts": normalised("/proc/self/mountinfo"), "cgroups": normalised("/proc/self/cgroup"),
    "stamps": sorted({int(os.lstat(os.path.join(d, n)).st_mtime)
                      for d, dirs, files in os.walk(".") for n in dirs + files}),
    "ages": {where: time.time() - os.stat(where).st_ctime for where in (".", "/benchstone/io")},
}
Path(args.output).write_text(json.dumps({"status": "ok", "metric": 1.0, "metadata": seen}))
'''


@pytest.mark.docker
def test_a_baseline_and_a_candidate_repetition_observe_the_same_world(
        bench, make_project, docker_client) -> None:
    """Through the real engine: everything a baseline repetition observes (its protocol fields,
    environment, paths, user, limits, cores, and its mounts and cgroups, whose host paths would
    otherwise name its position in the run set) is what a candidate repetition observes, except
    the seed and the slot, which are drawn alike. The cores are compared by count: which free
    core the scheduler grants is not a side's policy (under the paired design both halves share
    one lease)."""
    root = make_project("toy")
    (root / "bench" / "runner.py").write_text(OBSERVER)
    commit_all(root, "an observing runner")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "toy", "speed").returncode == 0
    _set(root, "src/notes.txt", "a comment\n", "a comment, nothing else")
    assert bench("run", "toy", "speed").returncode == 0

    timeline = json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"]
    seen = {entry["run_set"]["kind"]: [run["metadata"] for run in entry["runs"]]
            for entry in timeline}
    assert set(seen) == {"baseline", "run"} and len(seen["baseline"]) == len(seen["run"]) == 5

    def world(observed: dict) -> dict:
        """What must be equal: all but the seed and the slot (drawn alike on both sides), the
        container's host name (its random id, drawn alike too) and which cores."""
        config = {k: v for k, v in observed["config"].items()
                  if k not in ("seed", "repetition_index")}
        environment = {k: v for k, v in observed["environment"].items() if k != "HOSTNAME"}
        cpus = observed["cpus"].replace("-", ",").split(",")
        return {**observed, "config": config, "environment": environment, "cpus": len(cpus),
                "ages": None}

    first = world(seen["baseline"][0])
    for side, observations in seen.items():
        for observed in map(world, observations):
            differing = sorted(key for key in first if observed[key] != first[key])
            assert not differing, (side, {key: (
                sorted(set(map(str, first[key])) - set(map(str, observed[key]))),
                sorted(set(map(str, observed[key])) - set(map(str, first[key]))))
                for key in differing})
    for side in seen.values():  # every slot once: the same multiset on both sides
        assert sorted(o["config"]["repetition_index"] for o in side) == list(range(5))
        assert {o["config"]["repetition_total"] for o in side} == {5}
    assert not {o["config"]["seed"] for o in seen["baseline"]} & {1, 2, 3, 4, 5}
    # the files' times tell nothing of when the run set began, so nothing of the position in it:
    # one fixed modification time, and change times of the moment each repetition starts
    assert first["stamps"] == [946_684_800]
    for side in seen.values():
        for where in (".", "/benchstone/io"):
            ages = [o["ages"][where] for o in side]
            assert max(ages) - min(ages) < 1.5, (where, ages)
