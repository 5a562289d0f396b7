"""The project manifest, ``<project>/bench/manifest.toml``, as pydantic models.

Every field of the original benchstone manifest keeps its meaning; the keys benchstone added
(sandbox, image, limits, gate and trust settings) all have defaults, so an original manifest
loads unchanged. Errors are one line naming the file, the entry and the field; questionable but
valid settings become warnings that travel with the loaded manifest.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchstone.errors import InvalidNameError, ManifestError
from benchstone.paths import SAFE_NAME_RULE, check_name
from benchstone.stats.basic import rank_z_ceiling

MANIFEST_RELATIVE_PATH = PurePosixPath("bench/manifest.toml")

Tier = Literal["correctness", "performance", "quality"]
Direction = Literal["minimize", "maximize"]
GpuMode = Literal["none", "direct", "ollama"]
CorpusType = Literal["bytes", "spec", "tree"]
GatePolicy = Literal["sigma", "mann_whitney", "welch", "rank"]
ReferencePolicy = Literal["byte_equivalence", "json_canonical"]
MetricSource = Literal["runner", "harness_wall", "harness_cpu", "harness_instructions"]
InstructionScope = Literal["process_tree", "marked_region"]
SandboxName = Literal["docker", "process"]
# Sandboxes that run the code under test on the host itself, outside any container.
ON_THE_HOST = frozenset({"process"})
# classic: the original's baseline run set, measured once, against candidate run sets;
# paired: every `bench run` measures the baseline pointer's commit again, interleaved with
# the candidate pair by pair, and the gate judges those pairs (as `bench compare` does)
Design = Literal["classic", "paired"]
DEFAULT_DESIGN = "classic"
# A container runtime registered with the engine: runc (the engine's usual default) or runsc
# (gVisor); any other name registered in the engine's daemon.json works as well.
RUNTIME_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

STOCHASTIC_TIERS = frozenset({"performance", "quality"})
CALIBRATED_POLICIES = frozenset({"welch", "rank"})
DEFAULT_MAX_REPETITIONS = 20
CORPUS_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

MAX_SIZE = 1024**6
MAX_SECONDS = 10**7  # about 115 days: longer waits overflow the timers that enforce them
DEFAULT_MEMORY = "2g"
DEFAULT_TMPFS = "256m"
DEFAULT_SCRATCH = "1g"
DEFAULT_PIDS = 512
DEFAULT_RESULT_MAX = 1024**2
DEFAULT_ARTIFACT_MAX = 64 * 1024**2
DEFAULT_TIMEOUT = 600.0
DEFAULT_OLLAMA_ADDRESS = "127.0.0.1:11434"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the sandbox itself (or the harness's own): a manifest cannot pass the host's value.
RESERVED_ENV = frozenset({"HOME", "PATH", "TMPDIR", "OLLAMA_HOST"})
RESERVED_ENV_PREFIX = "BENCHSTONE_"
MAX_ENV_NAMES = 256


def check_env_names(names: list[str]) -> list[str]:
    """``names`` if every one is a plain variable name that the manifest may pass through."""
    for name in names:
        if not ENV_NAME.match(name):
            raise ValueError(f"must list variable names ([A-Za-z_][A-Za-z0-9_]*), got {name!r}")
        if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIX):
            raise ValueError(f"cannot pass {name}: the sandbox sets it (HOME, PATH, TMPDIR, "
                             "OLLAMA_HOST) or it is benchstone's own (BENCHSTONE_*)")
        if names.count(name) > 1:
            raise ValueError(f"lists {name} twice")
    return names


def parse_size(value: str | int, what: str = "size") -> int:
    """Bytes in ``value``: an integer, or a string such as ``512m`` or ``2GiB`` (powers of 1024)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a size such as '512m' or '2g'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{what} must be positive")
        return value
    match = SIZE.match(str(value))
    if not match:
        raise ValueError(f"{what} must be a size such as '512m' or '2g' (got {value!r})")
    number = float(match.group(1)) * SIZE_UNITS[match.group(2).lower()]
    if number < 1:
        raise ValueError(f"{what} must be positive")
    if number > MAX_SIZE:
        raise ValueError(f"{what} must be at most 1 EiB (got {value!r})")
    return int(number)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False, allow_inf_nan=False)


class _PassesEnv(_Strict):
    """``env``: names of host variables given to the runner (a benchmark's are joined to the
    ``[project]`` ones); names only, never values."""

    env: list[str] = Field(default_factory=list, max_length=MAX_ENV_NAMES)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: list[str]) -> list[str]:
        return check_env_names(value)


class ProjectSpec(_PassesEnv):
    """The ``[project]`` table. ``image``, ``sandbox`` and the limits are defaults for benchmarks."""

    name: str
    invocation: str
    language: str = "unknown"
    image: str | None = None
    sandbox: SandboxName | None = None
    runtime: str | None = Field(default=None, pattern=RUNTIME_NAME)
    memory: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    ollama_address: str = DEFAULT_OLLAMA_ADDRESS
    design: Design | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return _safe(value, "project name")

    @field_validator("invocation")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


DEFAULT_METRIC_RANGE = (-1e15, 1e15)


class BenchmarkSpec(_PassesEnv):
    """One ``[[benchmarks]]`` entry."""

    name: str
    tier: Tier
    entry_point: str | None = None
    deterministic: bool = False
    metric_direction: Direction | None = None
    expected_runtime_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS / 10)
    threads: int = Field(default=1, ge=1, le=4096)
    gpu: GpuMode = "none"
    background_required: bool = False
    repetitions: int | None = Field(default=None, ge=0, le=100_000)
    baseline_seeds: list[int] = Field(default_factory=list, max_length=100_000)
    gate_policy: GatePolicy = "sigma"
    promotion_sigma: float = Field(default=2.0, gt=0)
    promotion_z: float | None = Field(default=None, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    min_effect: float = Field(default=0.0, ge=0, lt=1)
    log_scale: bool = False
    # a relative spread at or below it is no spread: exact data is decided exactly (gates/exact)
    resolution: float = Field(default=0.0, ge=0, lt=1)
    max_repetitions: int = Field(default=DEFAULT_MAX_REPETITIONS, ge=2, le=100)
    # welch / rank, classic design: the baseline grows with the candidate (fresh runs of the
    # baseline commit pooled, run --until-decided interleaving them); see docs/gates.md
    baseline_grows: bool = False
    corpus_path: str | None = None
    corpus_hash: str | None = None
    corpus_type: CorpusType = "bytes"
    corpus: str | None = None
    reference_policy: ReferencePolicy = "byte_equivalence"
    # Added by benchstone; each falls back to the [project] value, then to a default.
    image: str | None = None
    sandbox: SandboxName | None = None
    runtime: str | None = Field(default=None, pattern=RUNTIME_NAME)
    memory: str | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_SECONDS)
    tmpfs_size: str = DEFAULT_TMPFS
    scratch_size: str = DEFAULT_SCRATCH
    pids_limit: int = Field(default=DEFAULT_PIDS, ge=16)
    result_max_bytes: int = Field(default=DEFAULT_RESULT_MAX, ge=1024)
    artifact_max_bytes: int = Field(default=DEFAULT_ARTIFACT_MAX, ge=1)
    metric_source: MetricSource = "runner"
    # harness_instructions: count the whole process tree, or from where the runner marks its
    # measured region (bench init's python template: instructions_region)
    instructions_scope: InstructionScope = "process_tree"
    design: Design | None = None  # None: the [project] design, else classic
    # A runner's metric outside this range is an error row: no value a runner reports can then
    # overflow a gate's arithmetic or stand for an improvement by sheer size.
    metric_range: tuple[float, float] = DEFAULT_METRIC_RANGE
    protected_paths: list[str] = Field(default_factory=lambda: ["bench/**"])
    requires: list[str] = Field(default_factory=list)
    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return _safe(value, "benchmark name")

    @field_validator("metric_range")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"must be [low, high] with finite low < high (got [{low}, {high}])")
        return value

    @field_validator("corpus")
    @classmethod
    def _safe_corpus(cls, value: str | None) -> str | None:
        return None if value is None else _safe(value, "corpus name")

    @field_validator("corpus_hash")
    @classmethod
    def _hash_format(cls, value: str | None) -> str | None:
        if value is not None and not CORPUS_HASH.match(value):
            raise ValueError(f"must look like 'sha256:<64 lowercase hex digits>' (got {value!r})")
        return value

    @field_validator("memory", "tmpfs_size", "scratch_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None:
            parse_size(value)
        return value

    @field_validator("baseline_seeds")
    @classmethod
    def _seeds_in_range(cls, value: list[int]) -> list[int]:
        for seed in value:
            if not 0 <= seed < 2**63:
                raise ValueError(f"seeds must be between 0 and 2**63-1 (got {seed})")
        return value

    @property
    def is_stochastic(self) -> bool:
        return self.tier in STOCHASTIC_TIERS

    @property
    def entry(self) -> str:
        return self.entry_point or self.name

    @property
    def run_repetitions(self) -> int:
        if self.repetitions is not None:
            return self.repetitions
        return 5 if self.is_stochastic else 1

    @property
    def is_paired(self) -> bool:
        """Gated on pairs of the baseline commit and the candidate measured in one time window."""
        return self.is_stochastic and (self.design or DEFAULT_DESIGN) == "paired"

    @property
    def design_repetitions(self) -> int:
        """The ``repetition_total`` every repetition of this benchmark sees, on either side of a
        comparison: a number of the manifest, never of the run set (which would tell a baseline
        from a candidate)."""
        return max(self.run_repetitions, len(self.baseline_seeds), 1)

    @property
    def timeout(self) -> float:
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        if self.expected_runtime_seconds is not None:
            return max(60.0, 10.0 * self.expected_runtime_seconds)
        return DEFAULT_TIMEOUT

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory or DEFAULT_MEMORY)

    @property
    def rank_threshold(self) -> float:
        return self.promotion_z if self.promotion_z is not None else self.promotion_sigma


class Manifest(_Strict):
    """A loaded manifest with the sha256 of its bytes and the warnings loading produced."""

    project: ProjectSpec
    benchmarks: list[BenchmarkSpec]
    sha256: str
    source: str = str(MANIFEST_RELATIVE_PATH)
    warnings: list[str] = Field(default_factory=list)

    def benchmark(self, name: str) -> BenchmarkSpec:
        for bench in self.benchmarks:
            if bench.name == name:
                return bench
        from benchstone.errors import UnknownBenchmark

        known = ", ".join(b.name for b in self.benchmarks) or "none"
        raise UnknownBenchmark(
            f"project {self.project.name!r} has no benchmark {name!r} (it has: {known})"
        )


def _safe(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except InvalidNameError:
        raise ValueError(f"is not a safe name (got {value!r}): use {SAFE_NAME_RULE}") from None


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts) or "manifest"


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    got = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"must be one of {', '.join(expected)} (got {got!r})"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"must be an integer (got {got!r})"
    if kind in {"float_type", "float_parsing"}:
        return f"must be a number (got {got!r})"
    if kind == "finite_number":
        return f"must be a finite number (got {got!r})"
    if kind in {"bool_type", "bool_parsing"}:
        return f"must be true or false (got {got!r})"
    if kind in {"string_type"}:
        return f"must be a string (got {got!r})"
    if kind in {"list_type"}:
        if error.get("loc") == ("benchmarks",) and isinstance(got, dict):
            # [benchmarks] written for [[benchmarks]]: one table, not a list of them
            return "must be a list of tables: write each as [[benchmarks]], with two brackets"
        return f"must be a list (got {got!r})"
    if kind in {"model_type", "dict_type"}:
        return f"must be a table (got {got!r})"
    bounds = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
              "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}
    if kind in bounds:
        key, words = bounds[kind]
        return f"must be {words} {ctx.get(key)} (got {got!r})"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def _unknown_keys(data: dict[str, Any], source: str) -> list[str]:
    warnings = []
    known_top = {"project", "benchmarks"}
    for key in data:
        if key not in known_top:
            warnings.append(f"{source}: {key} is not a known key (ignored)")
    project = data.get("project")
    if isinstance(project, dict):
        for key in project:
            if key not in ProjectSpec.model_fields:
                warnings.append(f"{source}: project.{key} is not a known key (ignored)")
    benchmarks = data.get("benchmarks")
    if isinstance(benchmarks, list):
        for index, entry in enumerate(benchmarks):
            if isinstance(entry, dict):
                for key in entry:
                    if key not in BenchmarkSpec.model_fields:
                        warnings.append(
                            f"{source}: benchmarks[{index}].{key} is not a known key (ignored)"
                        )
    return warnings


def _semantic_checks(manifest: Manifest, source: str, refuse_unpromotable: bool = True
                     ) -> list[str]:
    """Cross-field rules. Raises ManifestError for errors; returns warnings."""
    warnings: list[str] = []
    seen: set[str] = set()
    by_name = {b.name: b for b in manifest.benchmarks}
    for index, bench in enumerate(manifest.benchmarks):
        where = f"{source}: benchmarks[{index}]"
        if bench.name in seen:
            raise ManifestError(f"{where}.name {bench.name!r} is used by two benchmarks")
        seen.add(bench.name)
        if bench.is_stochastic and bench.metric_direction is None:
            raise ManifestError(
                f"{where}.metric_direction is required for tier {bench.tier!r} "
                "(minimize or maximize)"
            )
        if bench.corpus_hash and not bench.corpus_path:
            raise ManifestError(f"{where}.corpus_hash is set but corpus_path is not")
        if bench.corpus and bench.corpus_path:
            raise ManifestError(
                f"{where}: corpus (a harness-owned corpus) and corpus_path cannot both be set"
            )
        if bench.corpus_path and "\0" in bench.corpus_path:
            raise ManifestError(f"{where}.corpus_path must not contain a NUL byte")
        if bench.requires and not bench.is_stochastic:
            raise ManifestError(
                f"{where}.requires is set on a {bench.tier} benchmark; it gates only the "
                "PROMOTE of a performance or quality benchmark",
                fix=f"move requires to the benchmark whose speed or quality needs "
                    f"{bench.name!r} to PASS",
            )
        for required in bench.requires:
            other = by_name.get(required)
            if other is None:
                raise ManifestError(
                    f"{where}.requires names {required!r}, which is no benchmark of this manifest",
                    fix="list the names of correctness benchmarks of this manifest",
                )
            if other.tier != "correctness":
                raise ManifestError(
                    f"{where}.requires names {required!r}, which is not a correctness "
                    f"benchmark of this manifest (its tier is {other.tier!r})",
                    fix="list the names of correctness benchmarks of this manifest",
                )
        if bench.is_stochastic:
            floor_note = "the gate needs at least 2 runs a side and will say NEEDS_MORE_DATA"
            if bench.run_repetitions < 2:
                warnings.append(f"{where}.repetitions is {bench.run_repetitions}: {floor_note}")
            if not bench.baseline_seeds:
                warnings.append(f"{where}.baseline_seeds has 0 seed(s): bench baseline establish "
                                "refuses to run (list at least 2 seeds: their number is the "
                                "baseline's size)")
            elif len(bench.baseline_seeds) < 2:
                warnings.append(
                    f"{where}.baseline_seeds has {len(bench.baseline_seeds)} seed(s): {floor_note}"
                )
            if (refuse_unpromotable and bench.gate_policy in ("rank", "welch")
                    and len(bench.baseline_seeds) >= 2
                    and not resolved(bench, manifest.project).is_paired):
                _refuse_unpromotable_rank(bench, where)
            if bench.baseline_grows and (bench.gate_policy not in ("rank", "welch")
                                         or resolved(bench, manifest.project).is_paired):
                warnings.append(f"{where}.baseline_grows applies to gate_policy welch or rank "
                                "in the classic design only: it is ignored here")
            if bench.gate_policy == "mann_whitney":
                if bench.promotion_z is None:
                    warnings.append(
                        f"{where}: gate_policy is mann_whitney but promotion_z is not set; "
                        f"using promotion_sigma ({bench.promotion_sigma}) as the z threshold"
                    )
                n_b, n_c = len(bench.baseline_seeds), bench.run_repetitions
                if n_b >= 1 and n_c >= 1:
                    ceiling = rank_z_ceiling(n_b, n_c)
                    if bench.rank_threshold > ceiling:
                        warnings.append(
                            f"{where}.promotion_z {bench.rank_threshold} is above the rank-test "
                            f"ceiling {ceiling:.3f} for {n_b} baseline and {n_c} candidate runs: "
                            "this gate can never promote"
                        )
        if bench.tier == "correctness" and bench.design == "paired":
            warnings.append(f"{where}.design has no effect on a correctness benchmark")
        if bench.tier == "correctness" and bench.metric_source != "runner":
            warnings.append(f"{where}.metric_source has no effect on a correctness benchmark")
        if bench.metric_source == "harness_instructions" and bench.metric_direction == "maximize":
            raise ManifestError(
                f"{where}: metric_source harness_instructions counts instructions, which a "
                "faster program lowers",
                fix='set metric_direction = "minimize" for it')
    return warnings


def _refuse_unpromotable_rank(bench: BenchmarkSpec, where: str) -> None:
    """A ``rank`` or ``welch`` design that can never promote is refused, naming the smallest
    settings that can: a gate that rejects every candidate would look like one that found
    nothing. (A ``welch`` crossing needs the exact rank test's confirmation.)"""
    from benchstone.stats.sequential import rank_can_promote, welch_can_promote

    policy = bench.gate_policy
    can = rank_can_promote if policy == "rank" else welch_can_promote
    n_b, horizon, alpha = len(bench.baseline_seeds), bench.max_repetitions, bench.alpha
    if bench.baseline_grows:  # its last look compares horizon runs with as many baseline runs
        n_b = max(n_b, horizon)
    if can(n_b, horizon, alpha):
        return
    seeds = next(n for n in range(n_b, 1000) if can(n, horizon, alpha))
    options = [f"at least {seeds} baseline_seeds"]
    longer = next((h for h in range(horizon, 101) if can(n_b, h, alpha)), None)
    if longer is not None:
        options.append(f"max_repetitions = {longer}")
    if policy == "rank" and welch_can_promote(n_b, horizon, alpha):
        options.append('gate_policy = "welch"')
    raise ManifestError(
        f"{where}: gate_policy {policy} with {n_b} baseline runs, max_repetitions {horizon} and "
        f"alpha {alpha:g} can never promote (no look can reach its boundary)",
        fix=f"use {', or '.join(options)}")


def parse_manifest(text: bytes, source: str = str(MANIFEST_RELATIVE_PATH), *,
                   refuse_unpromotable: bool = True) -> Manifest:
    """Parse manifest bytes. Raises ManifestError with a one-line message. A design that can
    never promote is refused unless ``refuse_unpromotable`` is False (a manifest registered
    before a release that refuses it must still load)."""
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{source}: is not valid UTF-8", fix="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{source}: is not valid TOML: {exc}",
                            fix="correct the syntax at that line (see https://toml.io)") from None
    except RecursionError:
        raise ManifestError(f"{source}: is nested too deeply to be a manifest") from None
    warnings = _unknown_keys(data, source)
    if "benchmarks" not in data:
        data["benchmarks"] = []
    try:
        manifest = Manifest.model_validate(
            {
                **{k: v for k, v in data.items() if k in {"project", "benchmarks"}},
                "sha256": hashlib.sha256(text).hexdigest(),
                "source": source,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ManifestError(f"{source}: {_field_path(first['loc'])} {_describe(first)}") from None
    if not manifest.benchmarks:
        warnings.append(f"{source}: declares no benchmarks")
    warnings.extend(_semantic_checks(manifest, source, refuse_unpromotable))
    return manifest.model_copy(update={"warnings": warnings})


def load_manifest(project_root: Path) -> Manifest:
    """Load ``<project_root>/bench/manifest.toml``."""
    path = project_root / MANIFEST_RELATIVE_PATH
    source = str(MANIFEST_RELATIVE_PATH)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(
            f"{project_root}: has no {MANIFEST_RELATIVE_PATH}",
            fix="write bench/manifest.toml at the top of the repository (docs/manifest.md shows its format)",
        ) from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_manifest(text, source)


def resolved(bench: BenchmarkSpec, project: ProjectSpec) -> BenchmarkSpec:
    """``bench`` with its image, sandbox, runtime, memory and timeout filled from the project
    table, and the project's ``env`` names before its own."""
    updates: dict[str, Any] = {}
    for key in ("image", "sandbox", "runtime", "memory", "timeout_seconds", "design"):
        if getattr(bench, key) is None and getattr(project, key) is not None:
            updates[key] = getattr(project, key)
    if project.env:
        updates["env"] = list(dict.fromkeys([*project.env, *bench.env]))
    return bench.model_copy(update=updates) if updates else bench
