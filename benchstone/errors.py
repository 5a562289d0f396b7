"""The exceptions benchstone raises: one family, each class one meaning.

Only the CLI turns these into messages. A class with a ``fix`` carries the sentence that tells
the user what to do next; the CLI prints it after the message.
"""

from __future__ import annotations


class BenchstoneError(Exception):
    """Base of every error benchstone raises on purpose."""

    fix: str | None = None

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        if fix is not None:
            self.fix = fix

    def __str__(self) -> str:
        return self.args[0] if self.args else self.__class__.__name__


class ManifestError(BenchstoneError, ValueError):
    """A manifest is missing, unreadable or invalid."""


class ScaffoldError(BenchstoneError):
    """``bench init`` cannot scaffold here: no such directory, or the files already exist."""


class MissingExtra(BenchstoneError, ImportError):
    """An optional feature needs a package that is not installed; ``fix`` names the extra."""


class InvalidNameError(BenchstoneError, ValueError):
    """A project, benchmark or corpus name would not be a safe path component."""


class ProjectNotRegistered(BenchstoneError, LookupError):
    """No project of that name has been registered."""

    fix = "register it first: bench register PATH"


class UnknownBenchmark(BenchstoneError, KeyError):
    """The registered manifest has no benchmark of that name (a KeyError, as in the original)."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return BenchstoneError.__str__(self)


class GitError(BenchstoneError):
    """The project is not a usable git repository, or a git command failed."""


class DirtyTreeError(GitError):
    """The working tree has uncommitted changes and --allow-dirty was not given."""

    fix = "commit or stash the changes, or pass --allow-dirty to record the diff with the runs"


class ManifestChanged(BenchstoneError):
    """The project's manifest at the commit being run differs from the registered copy."""


class CorpusError(BenchstoneError):
    """A corpus is missing, or its content does not match the recorded hash."""


class ProtocolError(BenchstoneError, ValueError):
    """A result file broke the subprocess protocol. Recorded on the run row, never raised out."""


class StateDirectoryError(BenchstoneError):
    """The state directory ($BENCHSTONE_HOME) cannot be created or used."""


class StoreError(BenchstoneError):
    """The database cannot be opened, or was written by an incompatible version."""


class SandboxError(BenchstoneError):
    """The sandbox failed to run a repetition (the harness's fault, not the benchmark's)."""


class RepetitionLost(SandboxError):
    """The sandbox lost a repetition it had started (the engine restarted under it); the
    repetition may be run again."""


class SandboxUnavailable(SandboxError):
    """A sandbox backend cannot be used on this machine; ``fix`` says what would make it work."""


class SandboxRefused(SandboxError):
    """Through the harness service, a caller who is not an administrator asked for a sandbox
    that runs the code on the host."""


class UnknownSandbox(SandboxError, ValueError):
    """No sandbox backend of that name is registered."""


class PrerequisiteError(BenchstoneError):
    """A program or package this machine needs is missing and could not be installed."""


class ImageError(SandboxError):
    """The runner image is missing or could not be built."""


class NothingToPromote(BenchstoneError, ValueError):
    """``promote`` has no candidate run set, or the gate did not say PROMOTE (a ValueError)."""


class AmbiguousRunSet(BenchstoneError, ValueError):
    """More than one run set matches and benchstone will not choose silently (a ValueError)."""


class ReferenceStateError(BenchstoneError):
    """A reference artifact operation is not possible in the current state."""


class ReferenceExists(ReferenceStateError):
    """A reference is already frozen; replacing it is a separate, logged act."""


class NoArtifact(ReferenceStateError):
    """No ok run has produced an artifact to freeze yet."""


class NotCorrectness(BenchstoneError, ValueError):
    """References exist only for correctness benchmarks; this one has another tier."""


class AdmissionRefused(BenchstoneError):
    """The scheduler has no capacity for the job now."""


class JobNotFound(BenchstoneError, LookupError):
    """No background job with that id."""


class Interrupted(BenchstoneError):
    """The user pressed Ctrl-C; finished repetitions were kept."""


class JobNotActive(BenchstoneError):
    """The job has already ended (done, failed, cancelled or lost): there is nothing to stop."""


class InvalidSetting(BenchstoneError, ValueError):
    """An environment variable benchstone reads holds a value it cannot use."""


class InvalidArgument(BenchstoneError, ValueError):
    """A value given to a command (or an API function) cannot be used, e.g. a date or a count."""


class NotSequential(BenchstoneError, ValueError):
    """--until-decided needs a gate that stays valid under repeated looks."""


class SingleRunSetRefused(BenchstoneError, ValueError):
    """A calibrated policy gates all the evidence at a commit, never one chosen run set."""

    fix = "leave out --meta-seed: every clean candidate run at the commit is used"


class CompareError(BenchstoneError):
    """A comparison cannot be made as asked."""


class EvaluatorSetupError(BenchstoneError):
    """The evaluator cannot measure candidates for this project as configured."""


class ServiceOnly(BenchstoneError):
    """A harness service is configured and this operation would open the local state."""


class NotYourCorpus(BenchstoneError):
    """Through the harness service, a corpus name added by one caller is pointed at other data
    by another who is not an administrator."""


class NotYourProject(BenchstoneError):
    """Through the harness service, a project registered by one caller is registered again by
    another who is not an administrator."""


class BaselineIsAdministrators(BenchstoneError):
    """Through the harness service, a caller who is not an administrator points a baseline that
    is already set, or one of a project another caller registered."""


class ServiceError(BenchstoneError):
    """The service could not be reached, or refused or broke off a request."""


class FrameTooLarge(ServiceError):
    """A message on the service's socket is over its bound."""


class Refused(BenchstoneError):
    """A request the service will not run."""


class InstallError(BenchstoneError):
    """The service cannot be installed here."""
