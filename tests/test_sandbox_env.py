"""A manifest's ``env`` names the host variables the runner gets: validated, passed on both
backends, checked before anything runs, and recorded by name (never by value) in the run set's
environment fingerprint."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import BenchCLI, commit_all

from benchstone import api
from benchstone.errors import ManifestError
from benchstone.project.manifest import parse_manifest, resolved

SECRET = "s3cret-value-7f1c"
OTHER = "not-for-the-runner-91ab"

PROBE = '''\
import argparse, hashlib, json, os
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--config"); p.add_argument("--output"); p.add_argument("--expanded")
args = p.parse_args()

def digest(value):
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()

Path(args.output).write_text(json.dumps({"status": "ok", "metric": 1.0, "metadata": {
    "listed": digest(os.environ.get("PROBE_LISTED")),
    "expanded": digest(args.expanded),
    "unlisted": digest(os.environ.get("PROBE_UNLISTED")),
}}))
'''


EXPANDED = '--expanded="$PROBE_LISTED"'


def _manifest(env: str) -> str:
    return f'''\
[project]
name = "envy"
invocation = 'python3 bench/probe.py --config={{config_path}} --output={{output_path}} {EXPANDED}'
{env}

[[benchmarks]]
name = "probe"
tier = "performance"
metric_direction = "minimize"
repetitions = 2
baseline_seeds = [1, 2]
protected_paths = ["bench/probe.py"]
'''


def _project(tmp_path: Path, env: str = 'env = ["PROBE_LISTED"]') -> Path:
    root = tmp_path / "envy"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "probe.py").write_text(PROBE)
    (root / "bench" / "manifest.toml").write_text(_manifest(env))
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root, "initial")
    return root


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.parametrize(("env", "complaint"), [
    ('env = ["1ABC"]', "must list variable names"),
    ('env = ["A-B"]', "must list variable names"),
    ('env = ["*"]', "must list variable names"),
    ('env = ["A B"]', "must list variable names"),
    ('env = "ALL"', "must be a list"),
    ('env = true', "must be a list"),
    ('env = ["HOME"]', "cannot pass HOME"),
    ('env = ["PATH"]', "cannot pass PATH"),
    ('env = ["BENCHSTONE_HOME"]', "cannot pass BENCHSTONE_HOME"),
    ('env = ["TOKEN", "TOKEN"]', "lists TOKEN twice"),
])
def test_env_holds_plain_names_only(env: str, complaint: str) -> None:
    with pytest.raises(ManifestError, match=rf"project\.env .*{complaint}"):
        parse_manifest(_manifest(env).encode())


def test_a_benchmark_adds_its_names_to_the_projects() -> None:
    text = _manifest('env = ["SHARED", "TOKEN"]') + 'env = ["TOKEN", "OWN"]\n'
    manifest = parse_manifest(text.encode())
    assert resolved(manifest.benchmarks[0], manifest.project).env == ["SHARED", "TOKEN", "OWN"]
    with pytest.raises(ManifestError, match=r"benchmarks\[0\]\.env .*cannot pass TMPDIR"):
        parse_manifest((_manifest("") + 'env = ["TMPDIR"]\n').encode())


def test_a_listed_variable_reaches_the_runner_an_unlisted_one_only_without_isolation(
        tmp_path: Path, home: Path, sandbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    api.register(root, home=home)
    monkeypatch.setenv("PROBE_LISTED", SECRET)
    monkeypatch.setenv("PROBE_UNLISTED", OTHER)

    runs = api.run("envy", "probe", sandbox=sandbox, home=home)

    assert runs.ok == 2, [run.message for run in runs]
    for run in runs:
        assert run.metadata is not None
        assert run.metadata["listed"] == _sha(SECRET)
        assert run.metadata["expanded"] == _sha(SECRET)  # $PROBE_LISTED in the invocation
        if sandbox == "docker":
            assert run.metadata["unlisted"] is None
        else:  # not isolated: the runner inherits the host's environment, as in the original
            assert run.metadata["unlisted"] == _sha(OTHER)
    assert runs.run_set.environment["env"] == ["PROBE_LISTED"]
    stored = b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())
    assert SECRET.encode() not in stored and b"PROBE_LISTED" in stored


def test_a_listed_variable_that_is_not_set_stops_the_run_before_anything_runs(
        tmp_path: Path, home: Path, bench: BenchCLI, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    assert bench("register", str(root)).returncode == 0
    monkeypatch.delenv("PROBE_LISTED", raising=False)

    for extra in ([], ["--background"]):
        result = bench("run", "envy", "probe", "--sandbox", "process", *extra)
        assert result.returncode == 5, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == ("error: envy/probe passes PROBE_LISTED to the runner (env in "
                            "bench/manifest.toml), but it is not set in this environment")
        assert lines[1].startswith("  fix: set PROBE_LISTED where bench runs")
    assert api.history("envy", "probe", home=home) == []

    monkeypatch.setenv("PROBE_LISTED", "")  # set, though empty, is passed
    runs = api.run("envy", "probe", sandbox="process", home=home)
    assert runs.ok == 2 and runs[0].metadata == {
        "listed": _sha(""), "expanded": _sha(""), "unlisted": None}


def test_a_change_of_the_list_is_a_change_of_environment(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, env="")
    api.register(root, home=home)
    baseline = api.establish_baseline("envy", "probe", sandbox="process", home=home)
    assert "env" not in baseline.run_set.environment  # none passed: the fingerprint as before

    manifest = root / "bench" / "manifest.toml"
    manifest.write_text(_manifest('env = ["PROBE_LISTED"]'))
    commit_all(root, "pass PROBE_LISTED")
    api.register(root, home=home)
    monkeypatch.setenv("PROBE_LISTED", SECRET)
    candidate = api.run("envy", "probe", sandbox="process", home=home)

    assert candidate.run_set.env_hash != baseline.run_set.env_hash
    verdict = api.evaluate("envy", "probe", home=home)
    assert verdict.kind == "NEEDS_MORE_DATA"
    assert "env: None -> ['PROBE_LISTED']" in json.dumps(verdict.model_dump(mode="json"))
