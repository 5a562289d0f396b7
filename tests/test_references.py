"""The correctness tier: harness-owned artifacts, frozen references, PASS/FAIL/NO_REFERENCE."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import FIXTURES, commit_all, verdict_of

from benchstone import api
from benchstone.errors import ReferenceExists
from benchstone.project.references import compare_artifacts, diff_excerpt


@pytest.mark.slow
def test_freeze_fail_with_offset_revert_pass_replace(bench, make_project, sandbox: str,
                                                     home: Path) -> None:
    root = make_project("toy")
    sb = ("--sandbox", sandbox)
    bench("register", str(root))
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (2, "NO_REFERENCE")
    refused = bench("freeze-reference", "toy", "output")
    assert refused.returncode == 5 and "bench run toy output" in refused.stderr

    assert bench("run", "toy", "output", *sb).returncode == 0
    frozen = bench("freeze-reference", "toy", "output")
    assert frozen.returncode == 0, frozen.stderr
    reference_hash = hashlib.sha256(b"hello\nworld\n").hexdigest()
    assert reference_hash[:12] in frozen.stdout
    stored = home / "artifacts" / "toy" / "output" / f"{reference_hash}.bin"
    assert stored.read_bytes() == b"hello\nworld\n"
    assert stored.stat().st_mode & 0o777 == 0o600
    again = bench("freeze-reference", "toy", "output")
    assert again.returncode == 5 and "replace-reference" in again.stderr

    (root / "src" / "output.txt").write_text("hello\nWorld\n")
    commit_all(root, "capitalize")
    assert bench("run", "toy", "output", *sb).returncode == 0
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (1, "FAIL")
    assert "first difference at byte 6 (reference 12 bytes, candidate 12 bytes)" in verdict["reason"]
    # where and how much, never what: the reference's content stays out of every verdict
    shown = json.dumps(verdict)
    assert "world" not in shown and "World" not in shown
    from benchstone import api

    diff = api.reference_diff("toy", "output")  # a person asks for the content explicitly
    assert "-world" in diff and "+World" in diff

    (root / "src" / "output.txt").write_text("hello\nworld\n")
    commit_all(root, "revert")
    assert bench("run", "toy", "output", *sb).returncode == 0
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (0, "PASS")

    (root / "src" / "output.txt").write_text("hello\nworld, v2\n")
    commit_all(root, "new format")
    bench("run", "toy", "output", *sb)
    no_reason = bench("replace-reference", "toy", "output")
    assert no_reason.returncode == 64 and "--reason" in no_reason.stderr
    empty_reason = bench("replace-reference", "toy", "output", "--reason", "  ")
    assert empty_reason.returncode == 5 and "non-empty --reason" in empty_reason.stderr
    replaced = bench("replace-reference", "toy", "output", "--reason", "format v2")
    assert replaced.returncode == 0, replaced.stderr
    assert stored.exists()  # the old reference stays on disk
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (0, "PASS")

    events = json.loads(bench("references", "toy", "output", "--json").stdout)
    assert [e["action"] for e in events] == ["freeze", "replace"]
    assert events[1]["old_sha256"] == reference_hash and events[1]["reason"] == "format v2"
    log = home / "references.log"
    assert log.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["freeze", "replace"]
    assert set(lines[1]) >= {"time", "user", "host", "project", "benchmark", "sha", "old_hash",
                             "new_hash", "reason"}
    assert "format v2" in bench("references", "toy", "output").stdout

    with sqlite3.connect(home / "bench.db") as conn, pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE reference_events SET new_sha256 = 'forged'")
    with sqlite3.connect(home / "bench.db") as conn, pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM reference_events")


def test_evaluate_at_the_frozen_sha_passes(bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    bench("freeze-reference", "toy", "output")
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (0, "PASS")


def test_missing_or_oversized_artifact_is_an_error_row(bench, make_project) -> None:
    root = make_project("toy")
    runner = root / "bench" / "runner.py"
    source = runner.read_text()
    writes = 'write(config["artifact_path"], read("src/output.txt"))'
    assert writes in source
    runner.write_text(source.replace(writes, 'if config["repetition_index"] % 2:\n'
                                             '        write(config["artifact_path"], "x" * 4096)'))
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'reference_policy = "byte_equivalence"',
        'reference_policy = "byte_equivalence"\nartifact_max_bytes = 1024\nrepetitions = 4'))
    commit_all(root, "misbehave")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    runs = json.loads(bench("history", "toy", "output", "--json").stdout)["entries"][0]["runs"]
    messages = {run["message"] for run in runs}
    assert all(run["status"] == "error" and run["failure"] == "artifact" for run in runs)
    assert messages <= {"the runner wrote no artifact",
                        "the artifact is 4096 bytes, over the 1024-byte limit"}
    assert len(messages) == 2


@pytest.mark.docker
def test_the_reference_cannot_be_found_from_inside_the_sandbox(bench, make_project, home: Path,
                                                                docker_client) -> None:
    root = make_project("toy")
    secret = b"the-frozen-reference-bytes-0123456789\n"
    (root / "src" / "output.txt").write_bytes(secret)
    commit_all(root, "reference content")
    bench("register", str(root))
    bench("run", "toy", "output")
    assert bench("freeze-reference", "toy", "output").returncode == 0
    digest = hashlib.sha256(secret).hexdigest()

    # the candidate forgets the answer and goes looking for it everywhere it can read
    (root / "src" / "output.txt").write_text("I do not know the answer\n")
    runner = root / "bench" / "runner.py"
    search = f'''elif args.entry == "output":
    import os
    from pathlib import Path
    found = []
    needles = ({secret!r}, {digest!r}.encode(), {str(home)!r}.encode())
    for top, dirs, files in os.walk("/", onerror=lambda e: None):
        if top.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files:
            if os.path.join(top, name) == os.path.abspath(__file__):
                continue  # this runner holds the needles it searches for
            try:
                data = open(os.path.join(top, name), "rb").read(1 << 22)
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(os.path.join(top, name))
    mounts = open("/proc/self/mounts").read()
    Path(config["artifact_path"]).write_text(json.dumps({{"found": found, "mounts": mounts}}))
    metric = 1.0
elif args.entry == "never":'''
    assert 'elif args.entry == "output":' in runner.read_text()
    runner.write_text(runner.read_text().replace('elif args.entry == "output":', search))
    commit_all(root, "search for the reference")
    assert bench("run", "toy", "output").returncode == 0
    runs = json.loads(bench("history", "toy", "output", "--json").stdout)["entries"][0]["runs"]
    artifact = (home / "artifacts" / "toy" / "output" / f"{runs[0]['artifact_sha256']}.bin")
    report = json.loads(artifact.read_text())
    assert report["found"] == []
    assert str(home) not in report["mounts"] and "artifacts" not in report["mounts"]


def test_json_canonical_policy() -> None:
    reference = b'{"b": 1, "a": [1, 2, {"y": 2, "x": 1}]}\n'
    reordered = b'{"a":[1,2,{"x":1,"y":2}],"b":1}'
    changed = b'{"a":[1,2,{"x":1,"y":3}],"b":1}'
    assert compare_artifacts(reference, reordered, "json_canonical").equal
    assert not compare_artifacts(reference, reordered, "byte_equivalence").equal
    result = compare_artifacts(reference, changed, "json_canonical")
    assert not result.equal and "canonical JSON differs" in result.detail[0]
    assert not compare_artifacts(reference, b"not json", "json_canonical").equal


def test_a_lone_surrogate_in_json_is_compared_not_a_crash() -> None:
    """``"\\ud800"`` is valid JSON that UTF-8 cannot encode: a candidate writing it gets FAIL
    (or PASS when the reference holds it too), never an internal error."""
    reference = b'{"name": "x", "value": 1}'
    lone = b'{"name": "\\ud800", "value": 2}'
    result = compare_artifacts(reference, lone, "json_canonical")
    assert not result.equal and result.detail[0].startswith("canonical JSON differs")
    assert compare_artifacts(lone, b'{"value":2,"name":"\\ud800"}', "json_canonical").equal
    assert isinstance(diff_excerpt(reference, lone, "json_canonical"), list)


def test_a_fail_never_echoes_control_characters_or_whole_long_lines() -> None:
    # binary bytes, or a terminal escape sequence the code under test wrote: offset, no excerpt
    for reference, candidate in ((b"\x00\x01\x02" * 10, b"\x00\x01\x03" * 10),
                                 (b"ok\n", b"ok\n\x1b]0;owned\x07\x1b[2J\n")):
        result = compare_artifacts(reference, candidate, "byte_equivalence")
        assert not result.equal and len(result.detail) == 1
        assert result.detail[0].startswith("first difference at byte")
    result = compare_artifacts(b'{"a": "x"}', b'{"a": "\\u009b2J"}', "json_canonical")
    assert not result.equal and len(result.detail) == 1
    assert result.detail[0].startswith("canonical JSON differs at byte 6")
    for reference, candidate in ((b"\x00\x01\x02" * 10, b"\x00\x01\x03" * 10),
                                 (b"ok\n", b"ok\n\x1b]0;owned\x07\x1b[2J\n")):
        assert diff_excerpt(reference, candidate, "byte_equivalence") == []
    # text, asked for: a diff excerpt, each line clipped
    excerpt = diff_excerpt(b"a" * 10_000, b"b" * 10_000, "byte_equivalence")
    assert "-" + "a" * 159 + "..." in excerpt
    assert max(len(line) for line in excerpt) < 200
    assert compare_artifacts(b"a" * 10_000, b"b" * 10_000, "byte_equivalence").detail == [
        "first difference at byte 0 (reference 10000 bytes, candidate 10000 bytes)"]


def test_json_canonical_end_to_end(bench, make_project) -> None:
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('"byte_equivalence"', '"json_canonical"'))
    (root / "src" / "output.txt").write_text('{"a": 1, "b": 2}\n')
    commit_all(root, "json output")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    bench("freeze-reference", "toy", "output")
    (root / "src" / "output.txt").write_text('{"b":2,"a":1}')
    commit_all(root, "reordered")
    bench("run", "toy", "output", "--sandbox", "process")
    assert verdict_of(bench, "toy", "output")[1]["kind"] == "PASS"
    (root / "src" / "output.txt").write_text('{"b":3,"a":1}')
    commit_all(root, "changed")
    bench("run", "toy", "output", "--sandbox", "process")
    assert verdict_of(bench, "toy", "output")[1]["kind"] == "FAIL"


def test_unknown_reference_policy_is_a_manifest_error(bench, make_project) -> None:
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('"byte_equivalence"', '"fuzzy"'))
    commit_all(root, "unknown policy")
    result = bench("register", str(root))
    assert result.returncode == 5
    assert "benchmarks[2].reference_policy must be one of byte_equivalence, json_canonical" \
        in result.stderr


def test_api_freeze_reference_errors(make_project, home: Path) -> None:
    root = make_project("toy")
    api.register(root, home=home)
    with pytest.raises(ValueError, match="only for correctness"):
        api.freeze_reference("toy", "speed", home=home)
    api.run("toy", "output", sandbox="process", home=home)
    api.freeze_reference("toy", "output", home=home)
    with pytest.raises(ReferenceExists):
        api.freeze_reference("toy", "output", home=home)


def test_cli_reference_commands_on_a_non_correctness_benchmark_are_a_plain_error(
        bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    for args in (("freeze-reference", "toy", "speed"),
                 ("replace-reference", "toy", "speed", "--reason", "x"),
                 ("references", "toy", "speed")):
        result = bench(*args)
        assert result.returncode == 5, result.stderr
        assert "internal error" not in result.stderr
        assert "only for correctness benchmarks" in result.stderr
        assert "fix:" in result.stderr


def test_correctness_verdicts_say_why_there_is_no_data_and_warn_as_the_gates_do(
        bench, make_project) -> None:
    root = make_project("toy")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    bench("freeze-reference", "toy", "output")
    # a run that crashed at the candidate is a wrong answer: FAIL, saying so, not "run it first"
    # (judging only runs with an artifact would let a program crash rather than FAIL)
    (root / "src" / "output.txt").unlink()
    commit_all(root, "no output")
    bench("run", "toy", "output", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (1, "FAIL")
    assert "1 of its 1 run(s) at" in verdict["reason"]
    assert "failed, the newest with runner_exit" in verdict["reason"]
    # only a dirty run: excluded unless --include-dirty, which the verdict then mentions
    (root / "src" / "output.txt").write_text((FIXTURES / "toy" / "src" / "output.txt").read_text())
    (root / "src" / "notes.txt").write_text("a tree of its own\n")  # not the frozen commit's
    commit_all(root, "the output again")
    (root / "notes.txt").write_text("uncommitted\n")
    bench("run", "toy", "output", "--sandbox", "process", "--allow-dirty")
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (2, "NEEDS_MORE_DATA")
    assert "dirty tree" in verdict["reason"] and "--include-dirty" in verdict["reason"]
    code, verdict = verdict_of(bench, "toy", "output", "--include-dirty")
    assert (code, verdict["kind"]) == (0, "PASS")
    assert "the candidate was recorded on a dirty tree (--include-dirty)" in verdict["warnings"]


def test_a_correctness_verdict_warns_of_another_environment(bench, make_project) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to record a second environment")
    root = make_project("toy")
    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(
        'tier = "correctness"', 'tier = "correctness"\nprotected_paths = ["bench/runner.py"]'))
    commit_all(root, "protect only the runner")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    bench("freeze-reference", "toy", "output")
    manifest.write_text(manifest.read_text().replace(
        'reference_policy = "byte_equivalence"', 'reference_policy = "byte_equivalence"\nthreads = 2'))
    commit_all(root, "two cores")
    bench("register", str(root))
    bench("run", "toy", "output", "--sandbox", "process")
    code, verdict = verdict_of(bench, "toy", "output")
    assert (code, verdict["kind"]) == (0, "PASS")
    assert any("pinned_cores: 1 -> 2" in warning for warning in verdict["warnings"])
