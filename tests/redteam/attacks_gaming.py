"""Attacks on the verdict itself: the project edits its own evaluator, loosens its gate, claims a
better number than the harness measured, hides its bad repetitions, or smuggles in uncommitted
edits; plus names that try to become paths outside the state directory."""

from __future__ import annotations

import os

from redteam.attack import HONEST, attack, benchmark, expect_not_rewarded
from redteam.lab import Lab, manifest_text


@attack("runner_edits_itself",
        "commit a bench/run.sh that reports half the measured metric",
        "edit any file in the project, including the benchmark runner")
def runner_edits_itself(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.commit("report a better metric", {"bench/run.sh": HONEST.replace("b + (s % 3)", "b / 2 + (s % 3)")})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    metrics = [row["metric"] for row in lab.runs()]
    lab.expect(all(m is not None and m < 0.6 for m in metrics), f"the edit did not run: {metrics}")
    verdict = expect_not_rewarded(lab, allowed=frozenset({"TAMPERED"}))
    lab.expect("bench/run.sh" in verdict.get("reason", ""), "TAMPERED does not name the file")
    lab.bench("promote", lab.project_name, "probe", allow={5})
    lab.bench("promote", lab.project_name, "probe", "--force", allow={5})


@attack("manifest_loosened",
        "commit a manifest with promotion_sigma = 0.001 and one repetition",
        "edit the manifest to loosen its own gate")
def manifest_loosened(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    loose = manifest_text(lab.project_name, [benchmark(promotion_sigma=0.001, repetitions=1,
                                                      baseline_seeds=[1])])
    lab.commit("loosen the gate", {"bench/manifest.toml": loose})
    lab.arm(may_add=())
    call = lab.bench("run", lab.project_name, "probe", allow={5})
    lab.expect("than the registered copy" in call.stderr, f"unclear refusal: {call.stderr.strip()}")
    lab.bench("baseline", "establish", lab.project_name, "probe", allow={5})
    expect_not_rewarded(lab)


CLAIMING = """\
sleep "$(cat src/sleep)"
printf '{"status": "ok", "metric": %s}\\n' "$(cat src/claim)" > "$3"
"""


@attack("claims_better_than_measured",
        "report metric 0.0001 while running 60% slower, with metric_source = harness_wall",
        "write results the harness did not measure (the gate uses harness timings)")
def claims_better_than_measured(lab: Lab) -> None:
    lab.make_project(CLAIMING, benchmarks=[benchmark(metric_source="harness_wall", repetitions=3,
                                                     baseline_seeds=[1, 2, 3])],
                     files={"src/sleep": "1.0\n", "src/claim": "1.0\n"})
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.commit("claim a great metric, run slower", {"src/sleep": "1.6\n", "src/claim": "0.0001\n"})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    rows = lab.runs()
    lab.expect([row["metric"] for row in rows] == [0.0001] * 3, "the claim was not recorded as made")
    walls = [row["harness_wall_seconds"] or 0 for row in rows]
    lab.expect(all(wall >= 1.5 for wall in walls), f"the harness did not measure the sleep: {walls}")
    verdict = expect_not_rewarded(lab)
    lab.expect(verdict.get("metric_source") == "harness_wall", "the gate did not use harness_wall")
    lab.bench("promote", lab.project_name, "probe", allow={5})


SELECTIVE = """\
index=$(sed -n 's/.*"repetition_index": *\\([0-9]*\\).*/\\1/p' "$2")
value=$(awk -v i="$index" '{ print $(i + 1) }' src/values)
if awk -v v="$value" -v c="$(cat src/hide_above)" 'BEGIN { exit !(v > c) }'; then
    printf '{"status": "error", "message": "crashed, honest"}\\n' > "$3"
else
    printf '{"status": "ok", "metric": %s}\\n' "$value" > "$3"
fi
"""


@attack("hides_bad_repetitions",
        "report its slow repetitions as errors so that only the fast ones reach the gate",
        "write results selectively (survivorship)")
def hides_bad_repetitions(lab: Lab) -> None:
    lab.make_project(SELECTIVE, benchmarks=[benchmark(repetitions=4, baseline_seeds=[1, 2, 3, 4])],
                     files={"src/values": "1.00 1.01 0.99 1.00\n", "src/hide_above": "9\n"})
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.commit("fast sometimes", {"src/values": "0.80 1.50 0.81 1.60\n", "src/hide_above": "1.2\n"})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    # repetition_index is a slot drawn in a secret order: two of the four hide, in any order
    statuses = sorted(row["status"] for row in lab.runs())
    lab.expect(statuses == ["error", "error", "ok", "ok"], f"unexpected rows {statuses}")
    verdict = expect_not_rewarded(lab, allowed=frozenset({"NEEDS_MORE_DATA"}))
    lab.expect("ok run(s), need 4" in verdict.get("reason", ""), f"reason: {verdict.get('reason')}")


@attack("uncommitted_edit_rides_along",
        "leave a better src/metric and an untracked override uncommitted, then run",
        "edit the project without committing (only the committed tree may run)")
def uncommitted_edit_rides_along(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.write({"src/metric": "0.100\n", "src/override": "0.1\n"})
    lab.arm()
    refused = lab.bench("run", lab.project_name, "probe", allow={5})
    lab.expect("uncommitted changes" in refused.stderr, "a dirty tree was not refused")
    lab.bench("run", lab.project_name, "probe", "--allow-dirty", allow={0})
    rows = lab.runs()
    lab.expect(all(row["git_dirty"] == 1 for row in rows), "dirty rows are not marked")
    lab.expect(all(row["metric"] >= 1.0 for row in rows),
               f"the uncommitted edit was measured: {[row['metric'] for row in rows]}")
    verdict = expect_not_rewarded(lab, allowed=frozenset({"NEEDS_MORE_DATA"}))
    lab.expect("dirty" in verdict.get("reason", ""), f"reason: {verdict.get('reason')}")


@attack("names_with_dot_dot",
        "name the project '../../escape' and a benchmark '../../x', and pass such names to the CLI",
        "every name that becomes a path is validated", engine=False)
def names_with_dot_dot(lab: Lab) -> None:
    lab.make_project(HONEST, name="../../escape")
    second = lab.root / "second"
    lab.write({"bench/manifest.toml": manifest_text("fine_name", [benchmark(name="../../x")]),
               "bench/run.sh": HONEST}, root=second)
    lab.git("init", "-q", "-b", "main", root=second)
    lab.git("add", "-A", root=second)
    lab.git("commit", "-q", "-m", "initial", root=second)
    outside = sorted(path.name for path in lab.root.parent.iterdir())
    lab.bench("list", allow={0})
    lab.arm(may_add=())
    for args in (("register", str(lab.project)),
                 ("register", str(second)),
                 ("run", "../../escape", "probe"),
                 ("history", "../../escape", "../../x"),
                 ("evaluate", "ok_name", "../../../etc/passwd"),
                 ("corpus", "add", "../../corpus", str(lab.project / "src"))):
        call = lab.bench(*args, sandbox="process", allow={5})
        lab.expect(call.stderr.startswith("error: ") and len(call.stderr.strip().splitlines()) <= 2,
                   f"not a one-line error: {call.stderr.strip()[:200]}")
        lab.expect("safe name" in call.stderr or "not registered" in call.stderr,
                   f"unclear refusal: {call.stderr.strip()[:200]}")
    lab.expect(sorted(path.name for path in lab.root.parent.iterdir()) == outside,
               "something was created next to the lab")
    lab.expect(not (lab.root / "escape").exists() and not (lab.root / "corpus").exists(),
               "a path escaped the state directory")


def _git_config(lab: Lab, entries: dict[str, str]) -> None:
    for key, value in entries.items():
        lab.git("config", "--local", key, value)


@attack("git_config_runs_code_on_the_host",
        "set core.fsmonitor, filter and diff drivers in .git/config to run a command on the host "
        "whenever the harness runs git", "edit any file in the project (.git/config included)",
        as_user_too=True)
def git_config_runs_code_on_the_host(lab: Lab) -> None:
    marker = lab.root / "pwned"
    command = f'sh -c "echo $0 >> {marker}; cat"'
    lab.make_project(HONEST, files={".gitattributes": "* filter=evil diff=evil\n"})
    _git_config(lab, {"core.fsmonitor": f"{command} fsmonitor; exit 1 #",
                      "filter.evil.clean": f"{command.replace('$0', 'clean')}",
                      "filter.evil.smudge": f"{command.replace('$0', 'smudge')}",
                      "diff.evil.textconv": f"{command.replace('$0', 'textconv')}",
                      "diff.external": f"{command.replace('$0', 'external')}"})
    lab.register()
    lab.write({"src/metric": "0.500\n"})  # dirty, so that the diff is taken too
    lab.arm(may_add=("runs", "run_sets", "baseline_pointers"))
    lab.bench("run", lab.project_name, "probe", "--allow-dirty", allow={0})
    lab.bench("baseline", "establish", lab.project_name, "probe", "--allow-dirty", allow={0})
    lab.expect(not marker.exists(), "git ran the project's commands on the host: "
               + (marker.read_text().replace("\n", " ") if marker.exists() else ""))


@attack("submodule_config_runs_code_on_the_host",
        "commit a checked-out submodule whose own .git/config names a core.fsmonitor, which git "
        "status and diff would run when they look into it", "edit any file in the project "
        "(a nested repository's configuration included)")
def submodule_config_runs_code_on_the_host(lab: Lab) -> None:
    marker = lab.root / "pwned"
    lab.make_project(HONEST)
    vendor = lab.project / "vendor"
    vendor.mkdir()
    lab.git("init", "-q", root=vendor)
    lab.write({"lib.txt": "1\n"}, root=vendor)
    lab.git("add", "-A", root=vendor)
    lab.git("commit", "-q", "-m", "a vendored library", root=vendor)
    lab.commit("vendor it as a submodule")
    lab.git("config", "--local", "core.fsmonitor", f"echo fsmonitor >> {marker}; false",
            root=vendor)
    lab.write({"lib.txt": "2\n"}, root=vendor)
    lab.register()
    lab.write({"src/metric": "0.500\n"})  # dirty, so that the diff is taken too
    lab.arm()
    lab.bench("run", lab.project_name, "probe", "--allow-dirty", allow={0})
    lab.expect(not marker.exists(), "git ran a submodule's fsmonitor on the host")


@attack("names_that_are_not_utf8",
        "commit a runner-side file whose name is not UTF-8 (bytes 0xff, 0xfe) under the "
        "protected bench/, with a commit message that is not UTF-8 either",
        "crash the harness; edit the benchmark runner without the protected files changing")
def names_that_are_not_utf8(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    (lab.project / os.fsdecode(b"bench/helper\xff\xfe.sh")).write_text("# sourced by nobody\n")
    lab.git("add", "-A")
    message = lab.root / "message"
    message.write_bytes(b"tidy \xff\xfe\n")
    lab.git("commit", "-q", "-F", str(message))
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    verdict = expect_not_rewarded(lab)
    lab.expect(verdict.get("kind") == "TAMPERED", f"evaluate says {verdict.get('kind')}")


@attack("smudge_filter_rewrites_the_runner",
        "keep the committed (protected) runner unchanged but have a smudge filter in .git/config "
        "rewrite it to report half the metric when the tree is exported",
        "edit the benchmark runner without the protected files changing")
def smudge_filter_rewrites_the_runner(lab: Lab) -> None:
    lab.make_project(HONEST)
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    lab.write({".gitattributes": "bench/run.sh filter=half\n"})
    lab.commit("attributes only")
    _git_config(lab, {"filter.half.smudge": "sed 's|b + (s % 3)|b / 2 + (s % 3)|'",
                      "filter.half.clean": "cat"})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    metrics = [row["metric"] for row in lab.runs()]
    lab.expect(all(m is not None and m >= 1.0 for m in metrics),
               f"the exported runner was not the committed one: metrics {metrics}")
    expect_not_rewarded(lab)


SOLVES = """\
seed=$(sed -n 's/.*"seed": *\\([0-9]*\\).*/\\1/p' "$2")
sh src/solve.sh "$seed"
printf '{"status": "ok", "metric": 1.0}\\n' > "$3"
"""
SANDBAG = "# the program\ncase \"$1\" in 1|2|3) sleep 1.6 ;; *) sleep 1.0 ;; esac\n"


@attack("sandbag_the_baseline",
        "recognise the manifest's baseline_seeds and run slower only then, so an unchanged "
        "program looks faster as a candidate (metric_source = harness_wall)",
        "write results that game the gate (baseline runs are recognisable)")
def sandbag_the_baseline(lab: Lab) -> None:
    # a calibrated gate promoting only 10 % or more: noise alone cannot promote it by luck
    lab.make_project(SOLVES, files={"src/solve.sh": SANDBAG}, benchmarks=[
        benchmark(metric_source="harness_wall", repetitions=3, baseline_seeds=[1, 2, 3],
                  gate_policy="welch", min_effect=0.1)])
    lab.register()
    lab.setup("baseline", "establish", lab.project_name, "probe")
    seeds = [row["seed"] for row in lab.runs()]
    lab.expect(not set(seeds) & {1, 2, 3}, f"the baseline ran the public seeds: {seeds}")
    lab.commit("a comment, nothing else", {"src/solve.sh": SANDBAG.replace("the program", "tidied")})
    lab.arm()
    lab.bench("run", lab.project_name, "probe", allow={0})
    expect_not_rewarded(lab)
