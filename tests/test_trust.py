"""Beyond the original's trust model: pinned evaluator files, harness-owned metrics, harness-owned
corpora, clean gates, same-environment comparisons and "faster but wrong is rejected"."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import commit_all, verdict_of

from benchstone import api


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new))


def test_editing_the_runner_is_tampering(bench, make_project, sandbox: str) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", sandbox)
    _edit(root, "bench/runner.py", 'metric = float(read("src/speed.txt")) * wobble',
          'metric = 0.5 * float(read("src/speed.txt")) * wobble')
    commit_all(root, "report a better number")
    bench("run", "toy", "speed", "--sandbox", sandbox)
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "TAMPERED")
    assert "bench/runner.py" in verdict["reason"]
    refused = bench("promote", "toy", "speed", "--force")
    assert refused.returncode == 5 and "TAMPERED" in refused.stderr
    # the deliberate way forward: a new baseline, measured with the new evaluator
    bench("baseline", "establish", "toy", "speed", "--sandbox", sandbox)
    _edit(root, "src/speed.txt", "1.0", "0.8")
    commit_all(root, "a real improvement")
    bench("run", "toy", "speed", "--sandbox", sandbox)
    assert verdict_of(bench, "toy", "speed")[1]["kind"] == "PROMOTE"


@pytest.mark.slow
def test_protected_paths_are_configurable(bench, make_project) -> None:
    root = make_project("toy")
    _edit(root, "bench/manifest.toml", 'name = "speed"\n',
          'name = "speed"\nprotected_paths = ["src/*.txt"]\n')
    commit_all(root, "protect the inputs instead")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", "process")
    _edit(root, "bench/runner.py", "wobble = 1 +", "wobble = 1.0 +")  # not protected now
    commit_all(root, "harmless runner edit")
    bench("run", "toy", "speed", "--sandbox", "process")
    assert verdict_of(bench, "toy", "speed")[1]["kind"] == "REJECT"
    _edit(root, "src/speed.txt", "1.0", "0.5")
    commit_all(root, "protected input changed")
    bench("run", "toy", "speed", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "TAMPERED")
    assert "src/speed.txt" in verdict["reason"]


@pytest.mark.slow
def test_harness_wall_metric_ignores_what_the_runner_claims(bench, make_project,
                                                            sandbox: str) -> None:
    root = make_project("shellproj")
    _edit(root, "bench/manifest.toml", 'tier = "performance"',
          'tier = "performance"\nmetric_source = "harness_wall"')
    (root / "bench" / "run.sh").write_text(
        'sleep "$(cat src/metric)"\nprintf \'{"status": "ok", "metric": 0.001}\' > "$3"\n')
    commit_all(root, "a runner that lies about its speed")
    bench("register", str(root))
    assert bench("baseline", "establish", "shellproj", "probe", "--sandbox", sandbox).returncode == 0
    # slower for real, while claiming the same 0.001 s
    _edit(root, "src/metric", "1.000", "1.5")
    commit_all(root, "slower")
    bench("run", "shellproj", "probe", "--sandbox", sandbox)
    code, verdict = verdict_of(bench, "shellproj", "probe")
    assert verdict["metric_source"] == "harness_wall"
    assert all(0.9 < v < 1.6 for v in verdict["baseline"]["values"])
    assert all(1.4 < v < 2.2 for v in verdict["candidate"]["values"])
    assert (code, verdict["kind"]) == (1, "REJECT")
    runs = json.loads(bench("history", "shellproj", "probe", "--json").stdout)["entries"][0]["runs"]
    assert {run["metric"] for run in runs} == {0.001}  # recorded, never gated on
    # history's means are of the gated number, and say so
    sets = [line for line in bench("history", "shellproj", "probe").stdout.splitlines()
            if line.startswith("  ") and " set " in line]
    assert len(sets) == 2 and all("(harness_wall)" in line for line in sets)
    assert not any("mean=0.001" in line for line in sets)


def test_harness_owned_corpus(bench, make_project, tmp_path: Path, sandbox: str,
                              home: Path) -> None:
    heldout = tmp_path / "heldout"
    heldout.mkdir()
    (heldout / "answers.txt").write_text("held-out-marker-7f3a\n")
    added = bench("corpus", "add", "heldout", str(heldout))
    assert added.returncode == 0 and added.stdout.startswith("corpus heldout = sha256:")
    assert "heldout" in bench("corpus", "list").stdout
    root = make_project("shellproj")
    _edit(root, "bench/manifest.toml", 'tier = "performance"', 'tier = "performance"\ncorpus = "heldout"')
    (root / "bench" / "run.sh").write_text(
        'corpus=$(sed -n \'s/.*"corpus_path": *"\\([^"]*\\)".*/\\1/p\' "$2")\n'
        'out=$(dirname "$3")\n'
        'cat "$corpus/answers.txt" > "$out/read"\n'
        '(grep -rl "held-out-""marker" . > "$out/in_tree") || true\n'
        '(echo tampered > "$corpus/answers.txt") 2>/dev/null && echo yes > "$out/wrote"\n'
        'python3 -c "import json,sys; d=open(sys.argv[1]).read(); '
        'print(json.dumps({\'status\':\'ok\',\'metric\':1,\'metadata\':{\'read\':d}}))" '
        '"$out/read" > "$3"\n'
        '[ -s "$out/in_tree" ] && exit 7; [ -e "$out/wrote" ] && exit 8; exit 0\n')
    commit_all(root, "read the held-out corpus")
    assert bench("register", str(root)).returncode == 0
    result = bench("run", "shellproj", "probe", "-n", "1", "--sandbox", sandbox)
    runs = json.loads(bench("history", "shellproj", "probe", "--json").stdout)["entries"][0]["runs"]
    if sandbox == "process":
        # no isolation: the corpus is readable, but nothing keeps the runner from writing it
        assert runs[0]["metadata"] == {"read": "held-out-marker-7f3a\n"} or runs[0]["exit_code"] == 8
        return
    assert result.returncode == 0, result.stdout + result.stderr
    assert runs[0]["status"] == "ok" and runs[0]["metadata"] == {"read": "held-out-marker-7f3a\n"}
    stored = api.corpora(home=home)[0]
    assert (Path(stored.path) / "answers.txt").read_text() == "held-out-marker-7f3a\n"


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["sigma", "welch"])
def test_pointing_a_corpus_name_at_other_data_is_never_compared(bench, make_project,
                                                                tmp_path: Path,
                                                                policy: str) -> None:
    """``corpus add NAME`` may point a harness-owned name at new data; runs on the new data are
    never judged against a baseline measured on the old (here: inputs half as hard)."""
    for name, value in (("hard", "10.0"), ("easy", "5.0")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "input.txt").write_text(f"{value}\n")
    assert bench("corpus", "add", "data", str(tmp_path / "hard")).returncode == 0
    root = make_project("shellproj")
    _edit(root, "bench/manifest.toml", 'tier = "performance"',
          f'tier = "performance"\ncorpus = "data"\ngate_policy = "{policy}"')
    (root / "bench" / "run.sh").write_text(
        'corpus=$(sed -n \'s/.*"corpus_path": *"\\([^"]*\\)".*/\\1/p\' "$2")\n'
        'seed=$(sed -n \'s/.*"seed": *\\([0-9]*\\).*/\\1/p\' "$2")\n'
        'printf \'{"status": "ok", "metric": %s.%s}\\n\' "$(cut -d. -f1 "$corpus/input.txt")" '
        '"$seed" > "$3"\n')
    commit_all(root, "the metric is the corpus's difficulty")
    assert bench("register", str(root)).returncode == 0
    assert bench("baseline", "establish", "shellproj", "probe", "--sandbox",
                 "process").returncode == 0
    assert bench("corpus", "add", "data", str(tmp_path / "easy")).returncode == 0
    (root / "NOTE").write_text("nothing but the data changed\n")
    commit_all(root, "a note")
    for _ in range(2):
        assert bench("run", "shellproj", "probe", "--sandbox", "process").returncode == 0
    code, verdict = verdict_of(bench, "shellproj", "probe")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA"), verdict["reason"]
    assert "the baseline ran on corpus data sha256:" in verdict["reason"]
    assert "samples on different data are never compared" in verdict["reason"]
    assert verdict_of(bench, "shellproj", "probe", "--allow-cross-env")[1]["kind"] != "PROMOTE"


def test_a_missing_harness_corpus_stops_the_run(bench, make_project) -> None:
    root = make_project("shellproj")
    _edit(root, "bench/manifest.toml", 'tier = "performance"', 'tier = "performance"\ncorpus = "nope"')
    commit_all(root, "needs a corpus that was never added")
    registered = bench("register", str(root))
    assert "corpus missing" in registered.stdout
    result = bench("run", "shellproj", "probe", "--sandbox", "process")
    assert result.returncode == 5 and "bench corpus add nope PATH" in result.stderr


@pytest.mark.slow
def test_different_environment_is_not_compared_for_performance(make_project,
                                                                home: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to record a second environment")
    root = make_project("toy")
    _edit(root, "bench/manifest.toml", 'tier = "performance"',
          'tier = "performance"\nprotected_paths = ["bench/runner.py"]')
    _edit(root, "bench/manifest.toml", 'tier = "quality"',
          'tier = "quality"\nprotected_paths = ["bench/runner.py"]')
    commit_all(root, "protect only the runner")
    api.register(root, home=home)
    api.establish_baseline("toy", "speed", sandbox="process", home=home)
    api.establish_baseline("toy", "quality", sandbox="process", home=home)
    # the same machine, but now pinned to two cores: a different environment
    _edit(root, "bench/manifest.toml", 'tier = "performance"', 'tier = "performance"\nthreads = 2')
    _edit(root, "bench/manifest.toml", 'tier = "quality"', 'tier = "quality"\nthreads = 2')
    _edit(root, "src/speed.txt", "1.0", "0.8")
    _edit(root, "src/quality.txt", "10.0", "12.0")
    commit_all(root, "better at both, on two cores")
    api.register(root, home=home)
    api.run("toy", "speed", sandbox="process", home=home)
    api.run("toy", "quality", sandbox="process", home=home)
    verdict = api.evaluate("toy", "speed", home=home)
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert "pinned_cores: 1 -> 2" in verdict.reason and "--allow-cross-env" in verdict.reason
    assert api.evaluate("toy", "speed", allow_cross_env=True, home=home).kind == "PROMOTE"
    quality = api.evaluate("toy", "quality", home=home)
    assert quality.kind == "PROMOTE"
    assert any("pinned_cores" in warning for warning in quality.warnings)


def _speed_requiring_frozen_output(bench, make_project) -> Path:
    """toy, whose speed requires output, with a speed baseline and output's reference frozen."""
    root = make_project("toy")
    _edit(root, "bench/manifest.toml", 'promotion_sigma = 2.0',
          'promotion_sigma = 2.0\nrequires = ["output"]')
    commit_all(root, "speed requires correct output")
    bench("register", str(root))
    bench("baseline", "establish", "toy", "speed", "--sandbox", "process")
    bench("run", "toy", "output", "--sandbox", "process")
    bench("freeze-reference", "toy", "output")
    return root


@pytest.mark.slow
def test_faster_but_wrong_is_rejected(bench, make_project) -> None:
    root = _speed_requiring_frozen_output(bench, make_project)
    _edit(root, "src/speed.txt", "1.0", "0.5")
    commit_all(root, "faster")
    bench("run", "toy", "speed", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "required correctness benchmark output has not run here" in verdict["reason"]
    _edit(root, "src/output.txt", "world", "w0rld")
    commit_all(root, "faster and wrong")
    bench("run", "toy", "speed", "--sandbox", "process")
    bench("run", "toy", "output", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "REJECT")
    assert "required correctness benchmark output says FAIL" in verdict["reason"]
    _edit(root, "src/output.txt", "w0rld", "world")
    commit_all(root, "faster and right")
    bench("run", "toy", "speed", "--sandbox", "process")
    bench("run", "toy", "output", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (0, "PROMOTE")
    assert "required correctness: output PASS" in verdict["details"]


def test_requires_must_name_a_correctness_benchmark(bench, make_project) -> None:
    root = make_project("toy")
    _edit(root, "bench/manifest.toml", 'promotion_sigma = 2.0',
          'promotion_sigma = 2.0\nrequires = ["quality"]')
    commit_all(root, "bad requires")
    result = bench("register", str(root))
    assert result.returncode == 5
    assert "requires names 'quality', which is not a correctness benchmark" in result.stderr


def test_every_row_records_its_environment(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("run", "toy", "speed", "-n", "2", "--sandbox", "process")
    entry = json.loads(bench("history", "toy", "speed", "--json").stdout)["entries"][0]
    environment = entry["run_set"]["environment"]
    assert set(environment) >= {"host", "cpu_model", "cores", "kernel", "sandbox", "pinned_cores"}
    assert entry["run_set"]["cpuset"] and all(run["cpuset"] for run in entry["runs"])
    assert entry["run_set"]["env_hash"].startswith("sha256:")
    assert entry["run_set"]["protected_hash"].startswith("sha256:")
    assert "bench/runner.py" in entry["run_set"]["protected_files"]


def test_repository_configuration_runs_nothing_on_the_host(bench, make_project,
                                                           tmp_path: Path) -> None:
    """The project's .git/config is written by whoever controls the project: a file-system
    monitor, a smudge filter or an external diff driver it names must never run."""
    from conftest import git

    root = make_project("toy")
    markers = {name: tmp_path / f"ran-{name}"
               for name in ("fsmonitor", "smudge", "clean", "diff", "textconv")}
    (root / ".gitattributes").write_text("* filter=evil diff=evil\n")
    commit_all(root, "attributes that name drivers")
    git(root, "config", "core.fsmonitor", f"touch {markers['fsmonitor']}; false")
    git(root, "config", "filter.evil.smudge", f"touch {markers['smudge']}; cat")
    git(root, "config", "filter.evil.clean", f"touch {markers['clean']}; cat")
    git(root, "config", "diff.external", f"touch {markers['diff']}")
    git(root, "config", "diff.evil.textconv", f"touch {markers['textconv']}; cat")
    bench("register", str(root))
    (root / "src" / "speed.txt").write_text("0.9\n")  # dirty: status and diff both run
    result = bench("run", "toy", "speed", "-n", "2", "--sandbox", "process", "--allow-dirty")
    assert result.returncode == 0, result.stderr
    assert [name for name, path in markers.items() if path.exists()] == []


def test_a_submodules_configuration_runs_nothing_on_the_host(bench, make_project,
                                                              tmp_path: Path) -> None:
    """A checked-out submodule has a configuration of its own, also written by whoever controls
    the project: git status and diff would run status inside it, and so its fsmonitor."""
    from conftest import git

    root = make_project("toy")
    sub = root / "vendor"
    sub.mkdir()
    git(sub, "init", "-q")
    (sub / "lib.txt").write_text("1\n")
    commit_all(sub, "a vendored library")
    commit_all(root, "vendor it as a submodule")
    marker = tmp_path / "ran-submodule-fsmonitor"
    git(sub, "config", "core.fsmonitor", f"touch {marker}; false")
    (sub / "lib.txt").write_text("2\n")
    bench("register", str(root))
    (root / "src" / "speed.txt").write_text("0.9\n")
    result = bench("run", "toy", "speed", "-n", "1", "--sandbox", "process", "--allow-dirty")
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


@pytest.mark.parametrize(("old", "new", "message"), [
    ('promotion_sigma = 2.0', 'promotion_sigma = 2.0\nrequires = ["nope"]',
     "requires names 'nope', which is no benchmark of this manifest"),
    ('reference_policy = "byte_equivalence"',
     'reference_policy = "byte_equivalence"\nrequires = ["output"]',
     "requires is set on a correctness benchmark"),
])
def test_a_requires_that_cannot_work_is_a_manifest_error(bench, make_project, old: str,
                                                          new: str, message: str) -> None:
    root = make_project("toy")
    _edit(root, "bench/manifest.toml", old, new)
    commit_all(root, "requires that cannot work")
    result = bench("register", str(root))
    assert result.returncode == 5
    assert message in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr


def test_corpus_add_keeps_inner_symlinks_and_refuses_ones_leading_out(bench, tmp_path: Path,
                                                                       home: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not in the corpus\n")
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text("a\n")
    (corpus / "sub" / "to_a").symlink_to("../a.txt")
    added = bench("corpus", "add", "inner", str(corpus))
    assert added.returncode == 0, added.stderr
    stored = Path(api.corpora(home=home)[0].path)
    assert (stored / "sub" / "to_a").read_text() == "a\n"
    (corpus / "here").symlink_to(".")  # inside the corpus, but a way out through it is not
    for name, target in (("abs", str(outside)), ("up", "../outside.txt"),
                         ("via_here", "here/../outside.txt"), ("parent", "here/..")):
        link = corpus / name
        link.symlink_to(target)
        result = bench("corpus", "add", "leaky", str(corpus))
        assert result.returncode == 5, (name, result.stderr)
        assert f"{name} in {corpus} is a symlink to {target}, outside the corpus" in result.stderr
        assert "fix:" in result.stderr and "internal error" not in result.stderr
        link.unlink()
    assert [c.name for c in api.corpora(home=home)] == ["inner"]


def test_corpus_add_refuses_a_fifo_with_one_line(bench, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    os.mkfifo(corpus / "pipe")
    result = bench("corpus", "add", "piped", str(corpus), timeout=60)
    assert result.returncode == 5
    assert "pipe in" in result.stderr and "is not a regular file" in result.stderr
    assert "internal error" not in result.stderr
    result = bench("corpus", "add", "piped", str(corpus / "pipe"), timeout=60)
    assert result.returncode == 5 and "is not a regular file or directory" in result.stderr


def test_corpus_add_over_a_name_with_new_content_warns(bench, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one\n")
    first = bench("corpus", "add", "held", str(corpus))
    assert first.returncode == 0 and "warning" not in first.stderr
    again = bench("corpus", "add", "held", str(corpus))
    assert again.returncode == 0 and "warning" not in again.stderr
    (corpus / "a.txt").write_text("two\n")
    changed = bench("corpus", "add", "held", str(corpus))
    assert changed.returncode == 0
    assert f"warning: held named {first.stdout.split(' = ')[1][:19]} until now" in changed.stderr
    assert "bench baseline establish" in changed.stderr


@pytest.mark.slow
def test_a_required_benchmark_whose_runs_failed_is_named_as_such(bench, make_project) -> None:
    root = _speed_requiring_frozen_output(bench, make_project)
    _edit(root, "src/speed.txt", "1.0", "0.5")
    (root / "src" / "output.txt").unlink()
    commit_all(root, "faster, and the output is gone")
    bench("run", "toy", "speed", "--sandbox", "process")
    bench("run", "toy", "output", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (1, "REJECT")
    assert "required correctness benchmark output says FAIL" in verdict["reason"]
    assert "1 of its 1 run(s) at" in verdict["reason"] and "failed" in verdict["reason"]


@pytest.mark.slow
def test_a_baseline_recorded_on_a_dirty_tree_is_kept_out_of_the_gate(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    (root / "notes.txt").write_text("an untracked file\n")
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process",
                 "--allow-dirty").returncode == 0
    (root / "notes.txt").unlink()
    _edit(root, "src/speed.txt", "1.0", "0.5")
    commit_all(root, "faster")
    bench("run", "toy", "speed", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "speed")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "baseline" in verdict["reason"] and "dirty tree" in verdict["reason"]
    assert "--include-dirty" in verdict["reason"]
    code, verdict = verdict_of(bench, "toy", "speed", "--include-dirty")
    assert (code, verdict["kind"]) == (0, "PROMOTE")
    assert "the baseline was recorded on a dirty tree (--include-dirty)" in verdict["warnings"]
