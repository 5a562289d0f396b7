"""Who may point a baseline when the harness service runs the request: the service names its
caller in the child's environment (``BENCHSTONE_CALLER``, ``BENCHSTONE_CALLER_IS_ADMIN``), as
set here. The whole service, with real Unix users, is in tests/test_service_agents.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchstone.paths import Home
from benchstone.run import baseline as baseline_module
from benchstone.store import Store
from benchstone.system.host import ADMIN_VARIABLE, CALLER_VARIABLE


def as_caller(name: str, admin: bool = False) -> dict[str, str]:
    return {CALLER_VARIABLE: name, ADMIN_VARIABLE: "1" if admin else "0"}


def test_a_caller_may_not_move_a_baseline_without_the_gate(bench, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root), env=as_caller("alice")).returncode == 0
    # set by hand, as an administrator would
    assert bench("baseline", "establish", "toy", "speed", "--sandbox", "process").returncode == 0
    before = bench("history", "toy", "speed", "--json").stdout

    again = bench("baseline", "establish", "toy", "speed", env=as_caller("alice"))
    assert again.returncode == 5
    assert "toy/speed has a baseline: through the benchstone service moving it without the gate " \
           "is for its administrators" in again.stderr
    background = bench("baseline", "establish", "toy", "speed", "--background",
                       env=as_caller("alice"))
    assert background.returncode == 5 and "has a baseline" in background.stderr

    another = bench("baseline", "establish", "toy", "speed", env=as_caller("bob"))
    assert another.returncode == 5
    assert "toy was registered by alice: through the benchstone service only they (for its " \
           "first baseline) or an administrator may point its baselines" in another.stderr
    assert bench("history", "toy", "speed", "--json").stdout == before

    by_an_administrator = bench("baseline", "establish", "toy", "speed", "--sandbox", "process",
                                env=as_caller("carol", admin=True))
    assert by_an_administrator.returncode == 0, by_an_administrator.stderr


def test_the_first_baseline_of_a_project_is_its_owners(bench, make_project) -> None:
    root = make_project("toy")
    assert bench("register", str(root), env=as_caller("alice")).returncode == 0
    stranger = bench("baseline", "establish", "toy", "speed", env=as_caller("bob"))
    assert stranger.returncode == 5 and "registered by alice" in stranger.stderr
    # the owner gets past the check: the next refusal is the sandbox's (a served caller's runs
    # go to containers), not the baseline's
    owner = bench("baseline", "establish", "toy", "speed", "--sandbox", "process",
                  env=as_caller("alice"))
    assert owner.returncode == 5
    assert "baseline" not in owner.stderr.split("\n")[0] and "administrators" in owner.stderr


@pytest.mark.docker
def test_a_first_baseline_set_while_another_ran_is_not_moved(bench, make_project, home: Path,
                                                            docker_client,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner's two establishments dispatched side by side both pass the check made before
    they run; the one that ends second is asked again as it adds its pointer, and refused. The
    other establishment is played by a pointer added while this one runs."""
    root = make_project("toy")
    assert bench("register", str(root), env=as_caller("alice")).returncode == 0
    execute = baseline_module.runner.execute

    def execute_while_another_ends(store, place, project, spec, request, progress):
        report = execute(store, place, project, spec, request, progress)
        store.add_pointer(project=project.name, benchmark=spec.name,
                          run_set_id=report.run_set.id, git_sha=report.run_set.git_sha,
                          meta_seed=report.run_set.meta_seed, action="establish")
        return report

    monkeypatch.setattr(baseline_module.runner, "execute", execute_while_another_ends)
    second = bench("baseline", "establish", "toy", "speed", env=as_caller("alice"))
    assert second.returncode == 5, second.stderr
    assert "toy/speed has a baseline" in second.stderr
    store = Store(Home(home).database)
    assert len(store.pointers("toy", "speed")) == 1
