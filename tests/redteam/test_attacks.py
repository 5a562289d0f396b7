"""Every attack of the catalogue as a test: it must be contained (see redteam/lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redteam.catalogue import attacks, play

# Every threat of the design's threat model and of the issue, and the attacks that play it.
REQUIRED = {
    "edit the runner (TAMPERED)": ["runner_edits_itself", "smudge_filter_rewrites_the_runner"],
    "edit the manifest": ["manifest_loosened", "edit_corpus_and_manifest_mid_run"],
    "read references, database, held-out corpora": [
        "read_reference_artifact", "read_store_database", "read_held_out_corpus"],
    "write results directly": ["write_results_into_store"],
    "leak state between repetitions": ["leak_state_between_repetitions"],
    "network, engine socket": ["reach_host_network", "reach_engine_socket"],
    "hang, fork bomb, memory, disk": [
        "ignores_sigterm", "fork_bomb", "exhaust_memory", "flood_scratch", "flood_tmp"],
    "garbage or huge output": ["garbage_results", "hostile_text", "flood_stdout"],
    "symlink in project or corpus to a host path": [
        "project_symlink_to_host", "corpus_symlink_to_store", "corpus_entry_symlinks"],
    "names with ../": ["names_with_dot_dot"],
    "output file a symlink or a FIFO": ["result_is_a_symlink", "result_is_a_fifo"],
    "better metric claimed than measured": ["claims_better_than_measured"],
    "child sleeping past the timeout": ["child_outlives_parent"],
    "root, setuid": ["gain_privileges"],
    "tell the sides apart, or choose what is measured": [
        "side_from_repetition_total", "sandbag_the_baseline", "cost_falls_with_the_clock",
        "chosen_meta_seed", "template_clock_patched"],
    "corpus changed after verification": [
        "rewrite_project_corpus_mid_run", "swap_corpus_after_verification", "skip_worktree_corpus"],
    "scratch past its kernel bound": [
        "scratch_flood_many_files", "scratch_flood_sparse", "scratch_flood_fallocate",
        "scratch_flood_background_writer"],
}


def test_the_catalogue_covers_the_brief() -> None:
    names = [attack.name for attack in attacks()]
    assert len(names) == len(set(names))
    assert len([name for name in names if "@" not in name]) >= 20
    for threat, needed in REQUIRED.items():
        missing = set(needed) - set(names)
        assert not missing, f"{threat}: no attack {sorted(missing)}"


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("attack", attacks(), ids=lambda attack: attack.name)
def test_attack_is_contained(attack, tmp_path: Path, docker_client,
                             request: pytest.FixtureRequest) -> None:
    if attack.known_gap:
        request.applymarker(pytest.mark.xfail(reason=f"known gap: {attack.known_gap}", strict=True))
    result = play(attack, tmp_path)
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.contained, f"{attack.name} ({attack.tries}):\n  " + "\n  ".join(result.violations)
