"""Attacks that tell the sides of a comparison apart, or pick what they are measured on: code that
reads the protocol to learn whether it is the baseline, code whose cost falls with the wall
clock (so that a baseline measured earlier looks slower), seeds searched offline and passed as
``--meta-seed``, and a runner clock replaced by the code under test in the default template."""

from __future__ import annotations

import time
from typing import Any

from benchstone.run.environment import derive_seeds
from redteam.attack import attack, benchmark, expect_not_rewarded
from redteam.lab import Lab

# Each family's gate: calibrated, and only promoting an estimated improvement of 10 % or more,
# so that the noise of a shared machine cannot promote an unchanged program by luck; every
# attack below would earn far more than that if it worked.
GATE: dict[str, Any] = {"metric_source": "harness_wall", "gate_policy": "welch",
                        "min_effect": 0.1}


def _walls(rows: list[dict[str, Any]]) -> list[float]:
    return [row["harness_wall_seconds"] or 0.0 for row in rows]


def _compare_rows(lab: Lab, benchmark_name: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of every ``compare`` run set of ``benchmark_name``, by side."""
    with lab.database() as db:
        rows = db.execute(
            "SELECT r.*, s.side FROM runs r JOIN run_sets s ON s.id = r.run_set_id "
            "WHERE s.project = ? AND s.benchmark = ? AND s.kind = 'compare' ORDER BY r.id",
            [lab.project_name, benchmark_name]).fetchall()
    found: dict[str, list[dict[str, Any]]] = {"baseline": [], "candidate": []}
    for row in rows:
        found[row["side"]].append(dict(row))
    return found


TELLS_THE_SIDE = """\
total=$(sed -n 's/.*"repetition_total": *\\([0-9]*\\).*/\\1/p' "$2")
if [ "$total" = "$(cat src/baseline_total)" ]; then sleep 2.0; else sleep 1.0; fi
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""


@attack("side_from_repetition_total",
        "sleep only when repetition_total is the number of baseline_seeds, so that an "
        "unchanged program is slow as the baseline and fast as the candidate",
        "tell a baseline run from a candidate run by the protocol's fields")
def side_from_repetition_total(lab: Lab) -> None:
    lab.make_project(TELLS_THE_SIDE, files={"src/baseline_total": "4\n"}, benchmarks=[
        benchmark(repetitions=3, baseline_seeds=[1, 2, 3, 4], **GATE)])
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.commit("a comment, nothing else", {"src/notes": "tidied\n"})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    walls = _walls(lab.runs())
    # the candidate saw the baseline's repetition_total, so it slept as long as the baseline
    lab.expect(all(wall >= 1.9 for wall in walls), f"the candidate told its side: walls {walls}")
    expect_not_rewarded(lab)


DRIFTS = """\
left=$(( $(cat src/deadline) - $(date +%s) ))
[ "$left" -gt 0 ] || left=0
sleep "$(awk -v l="$left" 'BEGIN { printf "%.2f", l / 20 }')"
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""


@attack("cost_falls_with_the_clock",
        "sleep in proportion to a committed deadline minus now, so that whatever runs later is "
        "faster, and ask for a verdict on a comment-only change (design = paired)",
        "gain from a baseline measured at another time (drift of the machine or the clock)")
def cost_falls_with_the_clock(lab: Lab) -> None:
    deadline = int(time.time()) + 50
    lab.make_project(DRIFTS, files={"src/deadline": f"{deadline}\n"}, benchmarks=[
        benchmark(repetitions=3, baseline_seeds=[1, 2, 3], design="paired", max_repetitions=12,
                  timeout_seconds=30, **GATE)])
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    established = _walls(lab.runs())
    lab.commit("a comment, nothing else", {"src/notes": "tidied\n"})
    lab.arm(may_add=("runs", "run_sets", "comparisons"))
    lab.bench("run", lab.project_name, "probe", "--until-decided", allow={1, 2})
    pairs = _compare_rows(lab, "probe")
    later = _walls(pairs["candidate"])
    # the drift was there: a baseline measured once, earlier, would have lost to the candidate
    lab.expect(bool(later) and min(established) > max(later[:3]),
               f"no drift to exploit: baseline {established}, candidate {later}")
    lab.expect(len(pairs["baseline"]) == len(pairs["candidate"]),
               "the baseline commit was not measured again pair by pair")
    expect_not_rewarded(lab)


EASY_SEEDS = """\
seed=$(sed -n 's/.*"seed": *\\([0-9]*\\).*/\\1/p' "$2")
if [ $((seed % 4)) -eq 0 ]; then sleep 1.0; else sleep 1.6; fi
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""


def easy_meta_seed(count: int) -> int:
    """What the attacker searches offline: a meta seed whose every derived seed is easy."""
    return next(meta for meta in range(10**6)
                if all(seed % 4 == 0 for seed in derive_seeds(meta, count)))


@attack("chosen_meta_seed",
        "search meta seeds offline for one whose derived seeds are all easy instances, then "
        "bench run --meta-seed N on an unchanged program",
        "choose the seeds a candidate is measured on")
def chosen_meta_seed(lab: Lab) -> None:
    lab.make_project(EASY_SEEDS, benchmarks=[benchmark(repetitions=3, baseline_seeds=[1, 2, 3],
                                                       **GATE)])
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.commit("a comment, nothing else", {"src/notes": "tidied\n"})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", "--meta-seed", str(easy_meta_seed(3)), allow={0})
    rows = lab.runs()
    seen = [(row["seed"], row["harness_wall_seconds"]) for row in rows]
    lab.expect(all(row["seed"] % 4 == 0 for row in rows) and max(_walls(rows)) < 1.45,
               f"the chosen seeds were not the easy ones: {seen}")
    verdict = expect_not_rewarded(lab, allowed=frozenset({"NEEDS_MORE_DATA"}))
    lab.expect(any("chosen by the caller" in warning for warning in verdict.get("warnings", [])),
               f"evaluate does not say why the run set was left out: {verdict.get('warnings')}")
    lab.bench("promote", lab.project_name, "probe", allow={5})
    lab.bench("promote", lab.project_name, "probe", "--force", allow={5})


SOLVER = "def solve():\n    total = 0\n    for i in range({steps}):\n        total += i * i\n" \
         "    return total\n"
# Imported by the runner inside the timed region: from then on its clock runs at a quarter of
# the speed, and the solver does half as much work again.
CLOCK_PATCH = """import time

_real = time.perf_counter
_start = _real()
time.perf_counter = lambda: _start + (_real() - _start) / 4

""" + SOLVER


@attack("template_clock_patched",
        "in a project scaffolded by bench init, replace time.perf_counter on import so that "
        "the runner reports a quarter of the time, while doing 50% more work",
        "write results the harness did not measure (the default template must not trust the "
        "runner's clock)")
def template_clock_patched(lab: Lab) -> None:
    lab.project.mkdir(parents=True)
    lab.write({"README": "an existing project\n"})
    lab.git("init", "-q", "-b", "main")
    lab.bench("init", str(lab.project), "--name", lab.project_name, allow={0})
    runner = lab.project / "bench" / "runner.py"
    workload = "    rng = random.Random(seed)\n    sorted(rng.random() for _ in range(100_000))\n"
    if workload not in runner.read_text():
        raise RuntimeError("the template's workload() changed: update this attack")
    lab.write({"bench/runner.py": runner.read_text().replace(
                   workload, "    import solve\n\n    solve.solve()\n"),
               "solve.py": SOLVER.format(steps=2_000_000)})
    lab.commit("benchmark the solver")
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "speed")
    lab.commit("a faster solver, honestly", {"solve.py": CLOCK_PATCH.format(steps=3_000_000)})
    lab.arm(may_add=("runs", "run_sets", "comparisons"))
    lab.bench("run", lab.project_name, "speed", "--until-decided", allow={1, 2})
    pairs = _compare_rows(lab, "speed")
    claimed = [row["metric"] for row in pairs["candidate"]]
    honest = [row["metric"] for row in pairs["baseline"]]
    lab.expect(bool(claimed) and max(claimed) < min(honest),
               f"the patched clock did not lie: claimed {claimed}, baseline {honest}")
    cpu = {side: [row["harness_cpu_seconds"] or 0.0 for row in rows]
           for side, rows in pairs.items()}
    lab.expect(sum(cpu["candidate"]) > sum(cpu["baseline"]),
               f"the kernel did not count the extra work: {cpu}")
    verdict = expect_not_rewarded(lab, "speed")
    lab.expect(verdict.get("metric_source") == "harness_cpu",
               f"the template does not gate on harness_cpu: {verdict.get('metric_source')}")
