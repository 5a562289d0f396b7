"""Admission: which cores and GPU a job gets, or who holds what it needs. Pure: no I/O.

The rules, given the machine and the jobs already holding (or queued for) capacity:

- **Threads.** The thread budget is ``BENCHSTONE_MAX_THREADS`` (default: the cores this process
  may use), never more than the number of those cores: concurrent jobs never share a core, so
  a budget above the core count would be a promise the machine cannot keep. A job is granted
  ``threads`` cores of its own, the lowest-numbered free ones, so the same state always gives
  the same answer. A job asking for more threads than the whole budget is granted the whole
  budget (and told so) rather than refused forever.
- **GPUs.** ``gpu = "direct"`` needs ``BENCHSTONE_GPU_COUNT`` >= 1 and gets one GPU index to
  itself, the lowest free one. ``gpu = "ollama"`` talks to a model server that arbitrates for
  itself, and ``gpu = "none"`` needs nothing, so neither is constrained.
- **Order.** Jobs waiting in the queue (``--wait``) are served first come, first served: what an
  older waiter will need counts as taken for everyone queued after it, and for new requests.

A refusal names every job that holds or is waiting for the capacity asked for, and says whether
waiting could ever help (``permanent``: no amount of waiting admits it on this machine).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

GpuMode = Literal["none", "direct", "ollama"]


@dataclass(frozen=True)
class Machine:
    """What benchstone may hand out on this host."""

    cores: tuple[int, ...]
    max_threads: int
    gpu_count: int = 0

    @property
    def thread_budget(self) -> int:
        return max(0, min(self.max_threads, len(self.cores)))


@dataclass(frozen=True)
class Demand:
    """What a job asks for: its manifest's ``threads`` and ``gpu``."""

    threads: int
    gpu: GpuMode = "none"


@dataclass(frozen=True)
class Holder:
    """A job that holds capacity (running: ``cores`` and ``gpus`` set) or waits for it."""

    job_id: str
    label: str
    demand: Demand
    cores: tuple[int, ...] = ()
    gpus: tuple[int, ...] = ()

    def describe(self) -> str:
        held = []
        if self.cores:
            held.append(f"core{'s' if len(self.cores) > 1 else ''} {format_cpuset(self.cores)}")
        if self.gpus:
            held.append(f"GPU {format_cpuset(self.gpus)}")
        return f"job {self.job_id} ({self.label}{', ' + ', '.join(held) if held else ''})"


@dataclass(frozen=True)
class Grant:
    """Admitted: the cores and GPU indices the job has to itself."""

    cores: tuple[int, ...]
    gpus: tuple[int, ...] = ()
    note: str | None = None

    @property
    def cpuset(self) -> str:
        return format_cpuset(self.cores)


@dataclass(frozen=True)
class Refusal:
    """Not admitted: what is short, who holds it, and whether waiting could ever help."""

    reasons: tuple[str, ...]
    holders: tuple[Holder, ...] = ()
    permanent: bool = False
    short_of: tuple[Literal["threads", "gpu"], ...] = ()

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def format_cpuset(indices: Iterable[int]) -> str:
    """``0,1,3`` for the given indices (the form ``cpuset_cpus`` and status show)."""
    return ",".join(str(index) for index in sorted(indices))


def cores_wanted(demand: Demand, machine: Machine) -> int:
    """How many cores a job is given: its threads, at most the whole budget."""
    return max(1, min(demand.threads, machine.thread_budget))


def _thread_load(holder: Holder, machine: Machine) -> int:
    return len(holder.cores) if holder.cores else cores_wanted(holder.demand, machine)


def _names(holders: Sequence[Holder]) -> str:
    return ", ".join(holder.describe() for holder in holders)


def admit(demand: Demand, machine: Machine, running: Sequence[Holder],
          ahead: Sequence[Holder] = ()) -> Grant | Refusal:
    """Admit ``demand`` next to the ``running`` jobs, after the queued jobs ``ahead`` of it."""
    if demand.threads < 1:
        return Refusal((f"a job needs at least 1 thread (asked for {demand.threads})",),
                       permanent=True, short_of=("threads",))
    if machine.thread_budget < 1:
        return Refusal(("the thread budget is 0: BENCHSTONE_MAX_THREADS must be at least 1 and "
                        "this process must be allowed at least one core",), permanent=True,
                       short_of=("threads",))
    if demand.gpu == "direct" and machine.gpu_count < 1:
        return Refusal(('gpu = "direct" needs a GPU, and BENCHSTONE_GPU_COUNT is 0',),
                       permanent=True, short_of=("gpu",))

    reasons: list[str] = []
    short_of: list[Literal["threads", "gpu"]] = []
    blamed: list[Holder] = []
    wanted = cores_wanted(demand, machine)
    budget = machine.thread_budget
    in_use = sum(_thread_load(holder, machine) for holder in running)
    reserved = sum(_thread_load(holder, machine) for holder in ahead)
    held_cores = {core for holder in running for core in holder.cores}
    free_cores = [core for core in machine.cores if core not in held_cores]
    if in_use + reserved + wanted > budget or len(free_cores) < wanted:
        holders = [h for h in running if _thread_load(h, machine)] + list(ahead)
        waiting = f" and {reserved} wanted by queued jobs ahead" if reserved else ""
        reasons.append(f"needs {wanted} thread(s), but {in_use} of the {budget} in the budget "
                       f"are held{waiting}: {_names(holders)}")
        blamed.extend(holders)
        short_of.append("threads")

    gpus: tuple[int, ...] = ()
    if demand.gpu == "direct":
        held_gpus = {gpu for holder in running for gpu in holder.gpus}
        free_gpus = [gpu for gpu in range(machine.gpu_count) if gpu not in held_gpus]
        gpu_waiters = [holder for holder in ahead if holder.demand.gpu == "direct"]
        if len(free_gpus) - len(gpu_waiters) < 1:
            holders = [h for h in running if h.gpus] + gpu_waiters
            reasons.append(f"needs a GPU, but all {machine.gpu_count} are held or wanted by "
                           f"queued jobs ahead: {_names(holders)}")
            blamed.extend(h for h in holders if h not in blamed)
            short_of.append("gpu")
        else:
            gpus = (free_gpus[0],)

    if reasons:
        return Refusal(tuple(reasons), tuple(blamed), short_of=tuple(short_of))
    note = None
    if wanted < demand.threads:
        note = (f"asked for {demand.threads} threads; the budget is {budget}: granted "
                f"{wanted} core(s)")
    return Grant(cores=tuple(free_cores[:wanted]), gpus=gpus, note=note)
