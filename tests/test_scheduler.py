"""Admission, as pure functions: cores, the thread budget, GPUs, the queue, and refusals that
name who holds the capacity. Plus the one place a grant meets Docker: the GPU device request."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchstone.jobs.scheduler import (
    Demand,
    Grant,
    Holder,
    Machine,
    Refusal,
    admit,
    format_cpuset,
)
from benchstone.system.cpus import parse_cpuset

TWO_CORES = Machine(cores=(0, 1), max_threads=2)


def running(job_id: str, cores: tuple[int, ...], gpus: tuple[int, ...] = (),
            gpu: str = "none", label: str = "toy/speed, background run") -> Holder:
    return Holder(job_id=job_id, label=label, demand=Demand(len(cores), gpu),  # type: ignore[arg-type]
                  cores=cores, gpus=gpus)


def waiting(job_id: str, threads: int, gpu: str = "none") -> Holder:
    return Holder(job_id=job_id, label="toy/quality, background run",
                  demand=Demand(threads, gpu))  # type: ignore[arg-type]


def test_an_idle_machine_grants_the_lowest_cores() -> None:
    assert admit(Demand(1), TWO_CORES, []) == Grant(cores=(0,))
    assert admit(Demand(2), TWO_CORES, []) == Grant(cores=(0, 1))
    machine = Machine(cores=(2, 5, 7, 9), max_threads=4)
    assert admit(Demand(2), machine, []).cores == (2, 5)  # type: ignore[union-attr]


def test_a_second_job_gets_the_other_core() -> None:
    grant = admit(Demand(1), TWO_CORES, [running("a1", (0,))])
    assert grant == Grant(cores=(1,))


def test_a_freed_core_is_reused_first() -> None:
    machine = Machine(cores=(0, 1, 2, 3), max_threads=4)
    grant = admit(Demand(1), machine, [running("a", (1,)), running("b", (3,))])
    assert grant == Grant(cores=(0,))
    grant = admit(Demand(2), machine, [running("a", (1,))])
    assert grant == Grant(cores=(0, 2))


def test_no_room_is_refused_naming_every_holder() -> None:
    holders = [running("aaaa", (0,), label="toy/speed, background run"),
               running("bbbb", (1,), label="toy/quality, foreground run")]
    refusal = admit(Demand(1), TWO_CORES, holders)
    assert isinstance(refusal, Refusal) and not refusal.permanent
    assert "needs 1 thread(s), but 2 of the 2 in the budget are held" in refusal.message
    assert "job aaaa (toy/speed, background run, core 0)" in refusal.message
    assert "job bbbb (toy/quality, foreground run, core 1)" in refusal.message
    assert {h.job_id for h in refusal.holders} == {"aaaa", "bbbb"}


def test_the_thread_budget_is_below_the_core_count_when_set_so() -> None:
    machine = Machine(cores=(0, 1, 2, 3), max_threads=2)
    assert admit(Demand(2), machine, []) == Grant(cores=(0, 1))
    refusal = admit(Demand(1), machine, [running("a", (0, 1))])
    assert isinstance(refusal, Refusal)
    assert "2 of the 2 in the budget" in refusal.message
    assert admit(Demand(1), machine, [running("a", (0,))]) == Grant(cores=(1,))


def test_a_budget_above_the_core_count_adds_no_cores() -> None:
    machine = Machine(cores=(0, 1), max_threads=8)
    assert machine.thread_budget == 2
    refusal = admit(Demand(1), machine, [running("a", (0,)), running("b", (1,))])
    assert isinstance(refusal, Refusal) and not refusal.permanent


def test_more_threads_than_the_budget_get_the_whole_budget_and_a_note() -> None:
    grant = admit(Demand(4), TWO_CORES, [])
    assert isinstance(grant, Grant) and grant.cores == (0, 1)
    assert grant.note == "asked for 4 threads; the budget is 2: granted 2 core(s)"
    refusal = admit(Demand(4), TWO_CORES, [running("a", (1,))])
    assert isinstance(refusal, Refusal) and not refusal.permanent  # waiting will admit it


def test_a_multi_thread_job_needs_that_many_free_cores() -> None:
    machine = Machine(cores=(0, 1, 2), max_threads=3)
    refusal = admit(Demand(2), machine, [running("a", (1,)), running("b", (2,))])
    assert isinstance(refusal, Refusal)
    assert admit(Demand(2), machine, [running("a", (1,))]) == Grant(cores=(0, 2))


def test_direct_gpu_needs_a_gpu_count() -> None:
    refusal = admit(Demand(1, "direct"), TWO_CORES, [])
    assert isinstance(refusal, Refusal) and refusal.permanent and refusal.short_of == ("gpu",)
    assert "BENCHSTONE_GPU_COUNT is 0" in refusal.message


def test_direct_gpu_gets_one_gpu_to_itself() -> None:
    machine = Machine(cores=(0, 1, 2, 3), max_threads=4, gpu_count=2)
    assert admit(Demand(1, "direct"), machine, []) == Grant(cores=(0,), gpus=(0,))
    holders = [running("g0", (0,), gpus=(0,), gpu="direct")]
    assert admit(Demand(1, "direct"), machine, holders) == Grant(cores=(1,), gpus=(1,))
    holders.append(running("g1", (1,), gpus=(1,), gpu="direct", label="toy/llm, background run"))
    refusal = admit(Demand(1, "direct"), machine, holders)
    assert isinstance(refusal, Refusal) and not refusal.permanent
    assert refusal.message.startswith("needs a GPU, but all 2 are held")
    assert "job g0 (toy/speed, background run, core 0, GPU 0)" in refusal.message
    assert "job g1 (toy/llm, background run, core 1, GPU 1)" in refusal.message
    # cores are still free, and a job that needs no GPU is admitted beside them
    assert admit(Demand(1), machine, holders) == Grant(cores=(2,))


def test_ollama_and_none_are_not_constrained_by_gpus() -> None:
    machine = Machine(cores=(0, 1), max_threads=2, gpu_count=0)
    assert admit(Demand(1, "ollama"), machine, []) == Grant(cores=(0,))
    busy = Machine(cores=(0, 1, 2), max_threads=3, gpu_count=1)
    holders = [running("g", (0,), gpus=(0,), gpu="direct")]
    assert admit(Demand(1, "ollama"), busy, holders) == Grant(cores=(1,))


def test_both_shortages_are_reported_together() -> None:
    machine = Machine(cores=(0,), max_threads=1, gpu_count=1)
    refusal = admit(Demand(1, "direct"), machine, [running("g", (0,), gpus=(0,), gpu="direct")])
    assert isinstance(refusal, Refusal) and len(refusal.reasons) == 2
    assert refusal.short_of == ("threads", "gpu")
    assert [h.job_id for h in refusal.holders] == ["g"]


def test_queued_jobs_ahead_are_served_first() -> None:
    machine = Machine(cores=(0, 1), max_threads=2)
    # one core free, but an older waiter wants it: a newcomer must not jump the queue
    refusal = admit(Demand(1), machine, [running("a", (0,))], ahead=[waiting("w", 1)])
    assert isinstance(refusal, Refusal) and not refusal.permanent
    assert "and 1 wanted by queued jobs ahead" in refusal.message
    assert "job w (toy/quality, background run)" in refusal.message
    # the waiter itself, with nobody ahead of it, is admitted
    assert admit(Demand(1), machine, [running("a", (0,))], ahead=[]) == Grant(cores=(1,))


def test_gpu_waiters_ahead_hold_back_only_gpu_jobs() -> None:
    machine = Machine(cores=(0, 1, 2, 3), max_threads=4, gpu_count=1)
    holders = [running("g", (0,), gpus=(0,), gpu="direct")]
    ahead = [waiting("w", 1, "direct")]
    assert isinstance(admit(Demand(1, "direct"), machine, holders, ahead), Refusal)
    # with GPU 0 free again the waiter ahead still comes first
    assert isinstance(admit(Demand(1, "direct"), machine, [], ahead), Refusal)
    assert admit(Demand(1), machine, holders, ahead) == Grant(cores=(1,))


def test_impossible_demands_are_permanent() -> None:
    assert admit(Demand(0), TWO_CORES, []).permanent  # type: ignore[union-attr]
    no_cores = Machine(cores=(), max_threads=2)
    assert admit(Demand(1), no_cores, []).permanent  # type: ignore[union-attr]


def test_cpuset_text_round_trips() -> None:
    assert parse_cpuset("0-2,5") == (0, 1, 2, 5)
    assert parse_cpuset(" 3, 1 ") == (1, 3)
    assert parse_cpuset(None) == () and parse_cpuset("") == ()
    assert format_cpuset((5, 0, 2)) == "0,2,5"
    assert Grant(cores=(1, 3)).cpuset == "1,3"


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    core_count=st.integers(min_value=1, max_value=8),
    max_threads=st.integers(min_value=1, max_value=10),
    gpu_count=st.integers(min_value=0, max_value=3),
    requests=st.lists(st.tuples(st.integers(min_value=1, max_value=4),
                                st.sampled_from(["none", "direct", "ollama"])), max_size=12),
)
def test_admitted_jobs_never_share_a_core_or_a_gpu(core_count: int, max_threads: int,
                                                   gpu_count: int, requests: list) -> None:
    """Admit a stream of requests, one after another: whatever is admitted is disjoint and
    within the budget, and a refusal only happens when the request really does not fit."""
    machine = Machine(cores=tuple(range(core_count)), max_threads=max_threads,
                      gpu_count=gpu_count)
    holders: list[Holder] = []
    for index, (threads, gpu) in enumerate(requests):
        decision = admit(Demand(threads, gpu), machine, holders)
        used = sum(len(h.cores) for h in holders)
        wanted = max(1, min(threads, machine.thread_budget))
        gpus_used = sum(len(h.gpus) for h in holders)
        if isinstance(decision, Grant):
            assert len(decision.cores) == wanted
            holders.append(Holder(f"j{index}", "x", Demand(threads, gpu), decision.cores,
                                  decision.gpus))
        else:
            short_of_cores = used + wanted > machine.thread_budget
            short_of_gpus = gpu == "direct" and gpus_used >= gpu_count
            assert short_of_cores or short_of_gpus
            assert decision.permanent == (gpu == "direct" and gpu_count == 0)
        cores = [core for h in holders for core in h.cores]
        gpus = [g for h in holders for g in h.gpus]
        assert len(cores) == len(set(cores)) <= machine.thread_budget
        assert set(cores) <= set(machine.cores)
        assert len(gpus) == len(set(gpus)) and all(0 <= g < gpu_count for g in gpus)
        assert all(h.gpus == () for h in holders if h.demand.gpu != "direct")


def test_a_granted_gpu_becomes_an_nvidia_device_request() -> None:
    """No GPU exists on the machines these tests run on: this checks the request the docker
    backend would send for a grant, not a container that uses it."""
    docker_backend = pytest.importorskip("benchstone.sandbox.docker.backend")
    grant = admit(Demand(1, "direct"), Machine(cores=(0, 1), max_threads=2, gpu_count=2),
                  [running("g", (0,), gpus=(0,), gpu="direct")])
    assert isinstance(grant, Grant) and grant.gpus == (1,)
    (request,) = docker_backend.gpu_request(grant.gpus)
    assert request["Driver"] == "nvidia"
    assert request["DeviceIDs"] == ["1"]
    assert request["Capabilities"] == [["gpu"]]
    assert docker_backend.gpu_request(()) == []
