"""The sandbox interface: how one repetition of a benchmark is run, whatever runs it.

A backend knows nothing of git, the store or gates. It is handed a prepared host directory of
the exported project, a scratch directory holding the invocation config, and the limits; it
runs the invocation and reports what happened. The harness then reads the result and artifact
from the scratch directory itself. Nothing here imports Docker.

Who is at fault is decided here and nowhere else:

- the benchmark failed (non-zero exit, timeout, out of memory, too much scratch output): the
  backend returns a :class:`Outcome` and the harness records an error row;
- the sandbox failed (engine gone, image missing, API errors that outlive retries): the
  backend raises :class:`~benchstone.errors.SandboxError` and no row is written. A repetition
  stopped from outside (the engine restarting under it) raises
  :class:`~benchstone.errors.RepetitionLost`, and the harness runs it once more.
"""

from __future__ import annotations

import abc
import shlex
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from benchstone.system.workdirs import unguessable_name

CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
ARTIFACT_FILE = "artifact.bin"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one repetition."""

    timeout_seconds: float
    memory_bytes: int
    pids: int
    tmpfs_bytes: int
    scratch_bytes: int
    cpuset: str | None = None
    gpus: tuple[int, ...] = ()
    # the most the harness keeps of the result and the artifact (a backend that hands them over
    # itself reads no more than one byte past these; the runner refuses what is over)
    result_bytes: int = 1024**2
    artifact_bytes: int = 64 * 1024**2


@dataclass(frozen=True)
class CorpusMount:
    """A verified corpus on the host, to be made readable (and only readable) to the project."""

    host_path: Path
    is_dir: bool
    name: str | None = None  # a one-file corpus keeps the name the manifest gave it

    @property
    def file_name(self) -> str:
        return self.name or self.host_path.name


@dataclass(frozen=True)
class Layout:
    """Where the project sees things, as paths inside the sandbox."""

    project_dir: PurePosixPath
    scratch_dir: PurePosixPath
    corpus_path: PurePosixPath | None

    @property
    def config_path(self) -> PurePosixPath:
        return self.scratch_dir / CONFIG_FILE

    @property
    def output_path(self) -> PurePosixPath:
        return self.scratch_dir / RESULT_FILE

    @property
    def artifact_path(self) -> PurePosixPath:
        return self.scratch_dir / ARTIFACT_FILE


@dataclass(frozen=True)
class RunSetSpec:
    """What stays the same for every repetition of one run set."""

    project: str
    benchmark: str
    run_token: str
    project_dir: Path
    corpus: CorpusMount | None
    invocation: str
    entry_point: str
    limits: Limits
    image: str | None = None
    gpu: str = "none"
    model_server: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # the manifest's env, with their values
    # metric_source = "harness_instructions": what Valgrind counts ("process_tree" or
    # "marked_region"); None runs the invocation as it is
    instructions: str | None = None
    runtime: str | None = None  # the engine's container runtime (runsc: gVisor); None: default


@dataclass(frozen=True)
class Repetition:
    """One repetition: its index, a fresh, empty scratch directory on the host, and the random
    name the sandbox gives what the container can see of it (never the index: a program that
    knew its position could be slow only where one side has repetitions and the other not)."""

    index: int
    scratch_dir: Path
    log_stem: Path
    labels: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=unguessable_name)


@dataclass(frozen=True)
class Outcome:
    """What the sandbox observed. Times are measured by the harness, not by the runner."""

    exit_code: int | None
    started_at: str
    finished_at: str
    wall_seconds: float | None
    cpu_seconds: float | None = None
    timed_out: bool = False
    oom_killed: bool = False
    scratch_exceeded: bool = False
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    stderr_tail: str = ""
    instructions: int | None = None  # the process tree's count, read from Valgrind's own logs
    instructions_problem: str | None = None  # why it is None when it was asked for


class Sandbox(abc.ABC):
    """One backend. ``prepare`` once per run set, ``run`` per repetition, then ``cleanup``."""

    name: ClassVar[str]
    isolated: ClassVar[bool]
    # whether ``Limits.cpuset`` really confines a repetition to those cores (a duet needs it)
    pins_cores: ClassVar[bool] = False

    @abc.abstractmethod
    def prepare(self, spec: RunSetSpec, notify: Callable[[str], None]) -> None:
        """Check prerequisites and make the run set's fixed resources ready; ``notify``
        receives one-line notices (an image being built, a stale image)."""

    @abc.abstractmethod
    def layout(self, spec: RunSetSpec, repetition: Repetition) -> Layout:
        """The in-sandbox paths the InvocationConfig must name for this repetition."""

    @abc.abstractmethod
    def run(self, spec: RunSetSpec, repetition: Repetition) -> Outcome:
        """Run the invocation once; always leaves nothing running behind."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release whatever ``prepare`` made. Safe to call more than once."""

    def stop_running(self) -> None:
        """From another thread than the one in ``run``: end the repetitions under way now (a
        stop that the thread running them cannot receive). A container enforces its own
        deadline and is collected with its harness, so by default nothing is done."""
        return None

    def fingerprint(self) -> dict[str, Any]:
        """What about this backend must match for two samples to be comparable."""
        return {"sandbox": self.name}

    @property
    def image_id(self) -> str | None:
        return None

    @property
    def runtime(self) -> str | None:
        """The container runtime repetitions run under (``runc``, ``runsc``), once prepared;
        None for a backend without one."""
        return None

    def reserve(self, spec: RunSetSpec, repetitions: list[Repetition]) -> None:
        """Make ready ahead what the planned ``repetitions`` need, before the first of them
        runs (never while one does). A repetition ``run`` is given without a reservation is made
        ready on the spot; ``cleanup`` releases what was reserved and not used."""
        return None


def render_invocation(template: str, entry_point: str, layout: Layout) -> str:
    """Fill ``{entry_point}``, ``{config_path}`` and ``{output_path}`` in the shell template.

    Like ``str.format``, ``{{`` and ``}}`` stand for literal braces; unlike it, any other
    ``{name}`` (such as a shell ``${VAR}``) is left as written rather than being an error.
    """
    values = {
        "entry_point": entry_point,
        "config_path": shlex.quote(str(layout.config_path)),
        "output_path": shlex.quote(str(layout.output_path)),
    }
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:  # unbalanced braces: not a format string, substitute literally
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template
    out: list[str] = []
    for literal, field_name, spec, conversion in parts:
        out.append(literal)
        if field_name is None:
            continue
        if field_name in values and not spec and not conversion:
            out.append(values[field_name])
        else:
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append("{" + field_name + suffix + "}")
    return "".join(out)
