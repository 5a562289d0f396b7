"""Seeds and the environment fingerprint: the two things a run set records so that it can be
reproduced, and so that two run sets are only compared when they ran alike."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import secrets
import socket
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from benchstone.errors import InvalidSetting
from benchstone.system.cpus import parse_cpuset

SEED_MASK = 0x7FFF_FFFF


def new_meta_seed() -> int:
    """A fresh random meta seed (31 bits, so every language reads it as a plain integer)."""
    return secrets.randbits(31)


def derive_seed(meta_seed: int, index: int) -> int:
    """The seed of repetition ``index`` of a run set with ``meta_seed``.

    The first four bytes of ``sha256("benchstone:<meta_seed>:<index>")``, big-endian, masked to
    31 bits. Given the meta seed printed by ``bench run``, anyone can recompute every seed.
    """
    digest = hashlib.sha256(f"benchstone:{meta_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & SEED_MASK


def derive_seeds(meta_seed: int, count: int) -> list[int]:
    return [derive_seed(meta_seed, index) for index in range(count)]


def protocol_slots(meta_seed: int, count: int, design: int) -> list[int]:
    """The ``repetition_index`` each of ``count`` repetitions shows the code under test: a slot
    in ``range(design)``, every slot once per ``design`` repetitions, in an order that follows
    from the meta seed (so ``--meta-seed`` replays it).

    A slot is not the repetition's position in its run set: a baseline and a candidate run set
    of different sizes would otherwise show different indices (a baseline's 7th repetition
    exists only on one side), and code that behaves differently on those would tell the sides
    apart. Drawn like this, every repetition of either side sees one slot of the same range,
    each equally likely.
    """
    order = random.Random(f"benchstone-slots:{meta_seed}")
    slots: list[int] = []
    while len(slots) < count:
        cycle = list(range(max(1, design)))
        order.shuffle(cycle)
        slots.extend(cycle)
    return slots[:count]


def available_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def default_cpuset(threads: int) -> str:
    """The first ``threads`` cores this process may use, as a cpuset string ``0,1``: for a caller
    of the runner that holds no lease. The API's commands pin the cores the scheduler grants
    (:mod:`benchstone.jobs.leases`)."""
    cores = available_cores()
    return ",".join(str(core) for core in cores[: max(1, min(threads, len(cores)))])


@cache
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def passed_variables(names: Sequence[str], what: str,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values of the manifest's ``env`` names in this process's environment, to hand to
    the runner. A listed name that is not set is an error: the runner would run differently."""
    environ = os.environ if environ is None else environ
    missing = [name for name in names if name not in environ]
    if missing:
        listed = ", ".join(missing)
        raise InvalidSetting(
            f"{what} passes {listed} to the runner (env in bench/manifest.toml), but "
            f"{'it is' if len(missing) == 1 else 'they are'} not set in this environment",
            fix=f"set {listed} where bench runs, or take {'it' if len(missing) == 1 else 'them'} "
                "out of env in bench/manifest.toml, commit and bench register again")
    return {name: environ[name] for name in names}


CORPUS_KEY = "corpus"  # the fingerprint's key for the harness-owned corpus a run set read


def fingerprint(backend_parts: dict[str, Any], cpuset: str | None,
                env_names: Sequence[str] = (), corpus: str | None = None
                ) -> tuple[str, dict[str, Any]]:
    """The environment fingerprint of a run set and its hash.

    It holds how many cores the run set was pinned to, not which: the scheduler hands out
    whichever cores are free, and cores of one machine are alike, so a baseline pinned to core 0
    and a candidate pinned to core 1 are comparable. (The cpuset itself is on every row.)

    It holds the names of the variables passed through (``env``), never their values, which
    may be secrets; a run set that passes none has no ``env`` key, as before there was one.
    ``corpus`` names a harness-owned corpus and the digest of the data it held (``corpus add``
    may point the name at other data later); a run set without one has no ``corpus`` key.
    """
    environment = {
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "pinned_cores": len(parse_cpuset(cpuset)) if cpuset else None,
        **backend_parts,
    }
    if env_names:
        environment["env"] = sorted(env_names)
    if corpus is not None:
        environment[CORPUS_KEY] = corpus
    digest = hashlib.sha256(json.dumps(environment, sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest}", environment


def fingerprint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys on which two fingerprints differ, each as ``key: a -> b``; the corpus apart
    (``corpus_difference``)."""
    keys = sorted((set(a) | set(b)) - {CORPUS_KEY})
    return [f"{key}: {a.get(key)!r} -> {b.get(key)!r}" for key in keys if a.get(key) != b.get(key)]



def corpus_difference(baseline: dict[str, Any], candidate: dict[str, Any]) -> str | None:
    """Why two run sets must not be compared for the data they ran on (the harness-owned
    corpus's name and digest), or None. A run set that names no corpus beside one that does
    fails closed: recorded before the corpus was part of the fingerprint, it cannot show that
    its data was the other's."""
    before, after = baseline.get(CORPUS_KEY), candidate.get(CORPUS_KEY)
    if before == after:
        return None
    if before is None or after is None:
        return (f"the {'baseline' if before is None else 'candidate'} does not record which "
                "corpus data it ran on (recorded before run sets did): samples whose data "
                "cannot be shown to be the same are never compared; establish a new baseline")
    return (f"the baseline ran on corpus {before}, the candidate on {after}: samples on "
            "different data are never compared; establish a new baseline on this corpus")
