"""Jobs: status and cancel, and what run/baseline establish print for --background."""

from typing import TYPE_CHECKING, Annotated

import typer

from benchstone.cli._app import JsonOpt, app, dump, echo_lines, warn

if TYPE_CHECKING:
    from benchstone.jobs.dispatch import JobStatus


def _duration(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        from benchstone.report import render

        return render.seconds(value)
    minutes, secs = divmod(int(value), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def status_lines(statuses: "list[JobStatus]") -> list[str]:
    if not statuses:
        return ["no jobs (bench run --background starts one)"]
    lines = [f"{'JOB':<12}  {'STATE':<9}  {'BENCHMARK':<28}  {'KIND':<8}  {'MODE':<10}  "
             f"{'REPS':>7}  {'ELAPSED':>8}  {'EXPECTED':>8}  {'CORES':<7}  GPUS"]
    for s in statuses:
        reps = f"{s.repetitions_done}/{s.repetitions_total}"
        lines.append(
            f"{s.id:<12}  {s.state:<9}  {s.project + '/' + s.benchmark:<28}  {s.kind:<8}  "
            f"{s.mode:<10}  {reps:>7}  {_duration(s.elapsed_seconds):>8}  "
            f"{_duration(s.expected_seconds):>8}  {s.cores or '-':<7}  {s.gpus or '-'}")
    return lines


def detail_lines(s: "JobStatus") -> list[str]:
    lines = [f"job {s.id}  {s.state}  {s.project}/{s.benchmark}  {s.kind} ({s.mode})",
             f"  repetitions {s.repetitions_done}/{s.repetitions_total} recorded, "
             f"{s.repetitions_ok} ok   elapsed {_duration(s.elapsed_seconds)}   expected "
             f"{_duration(s.expected_seconds)}",
             f"  threads {s.threads}, cores {s.cores or '-'}   gpu {s.gpu}, GPUs {s.gpus or '-'}"
             f"   pid {s.pid or '-'} on {s.host}"]
    if s.run_set_ids:
        lines.append(f"  run sets {', '.join(map(str, s.run_set_ids))}")
    if s.message:
        lines.append(f"  {s.message}")
    if s.log_path:
        lines.append(f"  log {s.log_path}")
    return lines


def report_dispatch(status: "JobStatus", as_json: bool) -> None:
    """What ``run --background`` and ``baseline establish --background`` print."""
    for warning in status.warnings:
        warn(warning)
    if as_json:
        dump(status)
        return
    where = (f"on core(s) {status.cores}" + (f", GPU {status.gpus}" if status.gpus else "")
             if status.state == "running" else "queued: waiting for capacity")
    typer.echo(f"job {status.id} {where}  ({status.project}/{status.benchmark} {status.kind}, "
               f"{status.repetitions_total} repetition(s))")
    typer.echo(f"  follow: bench status {status.id}   stop: bench cancel {status.id}")


@app.command(epilog="Example: bench status --json")
def status(
    job: Annotated[str | None, typer.Argument(
        metavar="JOB",
        help="Show this job only (an unambiguous prefix of its id will do).",
        show_default=False)] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Also list finished foreground runs (every run set is a job).")] = False,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, help="Finished jobs to list besides the queued and running ones.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Jobs: state (queued, running, done, failed, cancelled, lost), repetitions done/total,
    elapsed and expected time, and the cores and GPUs each holds.

    Lists every queued or running job, foreground or background, then the newest finished
    background ones. A job is lost when its process is gone without recording an end.
    """
    from benchstone import api

    statuses = api.status(job, limit=limit, include_foreground=every)
    if as_json:
        dump(statuses)
    elif job is not None:
        echo_lines(detail_lines(statuses[0]))
    else:
        echo_lines(status_lines(statuses))


@app.command(epilog="Example: bench cancel 3f9a1c2b7d4e")
def cancel(
    job: Annotated[str, typer.Argument(metavar="JOB", help="Job id (an unambiguous prefix will do).",
                                       show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Stop a queued or running job: its container is removed, the repetitions it finished are
    kept, and it is recorded as cancelled."""
    from benchstone import api

    result = api.cancel(job)
    if as_json:
        dump(result)
        return
    typer.echo(f"job {result.id} {result.state}: {result.repetitions_done} of "
               f"{result.repetitions_total} repetition(s) recorded and kept")
