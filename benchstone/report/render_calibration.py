"""Text for ``bench calibrate``: the spread of each metric source and what the gate can see.
Every function returns lines; only the CLI prints."""

from __future__ import annotations

from benchstone.evaluate.calibrate import CalibrationReport, SourceNoise
from benchstone.report.render import short


def _percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _source_line(source: SourceNoise, gated: str) -> str:
    mark = "*" if source.source == gated else " "
    if source.cv is None:
        return f" {mark}{source.source:<21} {source.n:>3}  {source.note or 'not observed'}"
    cv_digits = 4 if source.cv < 0.001 else 2
    return (f" {mark}{source.source:<21} {source.n:>3}  {source.mean:>14.6g}  "
            f"{_percent(source.cv, cv_digits):>9}  {_percent(source.detectable_gain):>10}")


def calibration_lines(report: CalibrationReport) -> list[str]:
    lines = [
        f"{report.project}/{report.benchmark} at {short(report.git_sha)}: run sets "
        f"{', '.join(map(str, report.run_set_ids))} (kind calibrate: never a gate's evidence)",
        "",
        f"  {'metric_source':<21} {'n':>3}  {'mean':>14}  {'CV':>9}  {'detectable':>10}",
    ]
    lines += [_source_line(source, report.metric_source) for source in report.sources]
    sizes = (f"{report.horizon} pairs" if report.paired else
             f"{report.n_baseline} baseline v {report.horizon} candidate runs")
    gate = f"paired {report.gate_policy}" if report.paired else report.gate_policy
    lines.append(f"  (* the benchmark's source; detectable: the gain its {gate} gate "
                 f"detects with 80 % power by a normal approximation, {sizes})")
    lines.append("")
    shape = (f"design paired, horizon {report.horizon} pairs" if report.paired else
             f"baseline {report.n_baseline} runs, horizon {report.horizon} candidate runs")
    settings = (f"gate_policy {report.gate_policy}, alpha {report.alpha:g}, min_effect "
                f"{report.min_effect:g}, {shape}")
    lines.append(f"with its settings ({settings}), simulated through the gate "
                 f"({report.trials} trials a point):")
    if report.detectable_gain is not None:
        lines.append(f"  smallest gain detected with 80 % power within the horizon: "
                     f"{_percent(report.detectable_gain, 1)} (power {report.detectable_power:.0%})")
    elif report.detectable_power is not None:
        lines.append(f"  no gain up to 60 % reaches 80 % power within the horizon (60 %: "
                     f"{report.detectable_power:.0%})")
    else:
        lines.append("  not computed: the benchmark's own source had no spread to measure")
    for need in report.needs:
        if need.candidate_runs is not None:
            runs = (f"{need.candidate_runs} pairs" if report.paired else
                    f"{need.candidate_runs} candidate runs against the baseline")
            text = f"{runs} (power {need.simulated_power:.0%})"
        else:
            text = f"out of reach: {need.note}"
        if need.runs_a_side is not None:
            text += f"; {need.runs_a_side} runs a side with a baseline as large"
        lines.append(f"  a {_percent(need.gain, 0)} gain needs {text}")
    lines.append("")
    lines.append("recommendation:")
    lines += [f"  {line}" for line in report.recommendation]
    return lines
