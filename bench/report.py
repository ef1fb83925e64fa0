"""Turn runs into medians with their spread: a Markdown table and a JSON record.

Every cell is `median (min..max)` over the repetitions. Added latency is paired:
each gateway run is compared with the direct run of the same repetition, which
ran seconds apart, so slow drift of the machine cancels out.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from bench.runner import Run, ScenarioResult

GATEWAYS = ("smg-py", "smg-rust")
COLUMNS = ("direct", *GATEWAYS)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        ordered = sorted(values)
        if len(ordered) == 1:
            q1 = q3 = ordered[0]
        else:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3)

    def cell(self, digits: int = 0) -> str:
        if self.low == self.high:
            return f"{self.median:,.{digits}f}"
        return (
            f"{self.median:,.{digits}f} "
            f"({self.low:,.{digits}f}..{self.high:,.{digits}f})"
        )


Metric = Callable[[Run], float]


def _runs(result: ScenarioResult, target: str) -> list[Run]:
    return [run for run in result.runs if run.target == target]


def _values(result: ScenarioResult, target: str, metric: Metric) -> list[float]:
    return [metric(run) for run in _runs(result, target)]


def _added(result: ScenarioResult, target: str, metric: Metric) -> list[float]:
    """metric(target) minus metric(direct), paired by repetition."""
    direct = {run.rep: metric(run) for run in _runs(result, "direct")}
    return [
        metric(run) - direct[run.rep]
        for run in _runs(result, target)
        if run.rep in direct
    ]


def cpu_us_per_request(run: Run) -> float:
    return run.gateway_cpu_s / run.requests * 1e6 if run.requests else 0.0


def _cores_busy(run: Run) -> float:
    return run.gateway_cpu_s / run.duration_s


def _chunks_metric(result: ScenarioResult) -> dict[str, Metric]:
    """Chunks per second for each target, using that target's own chunk count."""
    return {
        target: (lambda run, n=count: run.requests_per_s * n)
        for target, count in result.chunks_per_response.items()
    }


@dataclass(frozen=True)
class Row:
    label: str
    cells: dict[str, Spread | None]
    digits: int = 0

    def ratio(self) -> str:
        py, rust = self.cells.get("smg-py"), self.cells.get("smg-rust")
        if py is None or rust is None or rust.median == 0:
            return ""
        return f"{py.median / rust.median:.2f}"

    def markdown(self) -> str:
        cells = [
            spread.cell(self.digits) if spread else "" for spread in
            (self.cells.get(column) for column in COLUMNS)
        ]  # fmt: skip
        return "| " + " | ".join([self.label, *cells, self.ratio()]) + " |"


def rows_for(result: ScenarioResult) -> list[Row]:
    key = result.scenario.key.upper()
    if result.scenario.is_stream:
        return _stream_rows(key, result)
    rows = [_row(f"{key} req/s", result, COLUMNS, lambda r: r.requests_per_s)]
    if result.scenario.shows_latency:
        rows = [
            *_latency_rows(
                key, "latency", result, lambda r: r.p50_us, lambda r: r.p99_us
            ),
            *rows,
        ]
    return [*rows, *_gateway_rows(key, result)]


def _latency_rows(
    key: str, what: str, result: ScenarioResult, p50: Metric, p99: Metric
) -> list[Row]:
    return [
        _row(f"{key} p50 {what} µs", result, COLUMNS, p50),
        _added_row(f"{key} added p50 {what} µs", result, p50),
        _row(f"{key} p99 {what} µs", result, COLUMNS, p99),
        _added_row(f"{key} added p99 {what} µs", result, p99),
    ]


def _stream_rows(key: str, result: ScenarioResult) -> list[Row]:
    chunks = _chunks_metric(result)
    cells = {
        target: Spread.of(_values(result, target, metric))
        for target, metric in chunks.items()
    }
    counts = result.chunks_per_response
    per_chunk = {
        target: Spread.of([
            cpu_us_per_request(run) / counts[target] for run in _runs(result, target)
        ])
        for target in GATEWAYS
        if counts.get(target)
    }  # fmt: skip
    rows = [
        Row(f"{key} chunks/s", cells),
        _row(f"{key} streams/s", result, COLUMNS, lambda r: r.requests_per_s, 1),
    ]
    if result.scenario.load == "streams":
        rows += _latency_rows(
            key, "TTFT", result, lambda r: r.ttft_p50_us, lambda r: r.ttft_p99_us
        )
    return [
        *rows,
        *_gateway_rows(key, result),
        Row(f"{key} gateway CPU µs/chunk", dict(per_chunk), 2),
    ]


def _gateway_rows(key: str, result: ScenarioResult) -> list[Row]:
    peak_mib = {
        target: Spread.of([kib / 1024]) for target, kib in result.peak_rss_kib.items()
    }
    return [
        _row(f"{key} gateway CPU µs/request", result, GATEWAYS, cpu_us_per_request),
        # Below ~0.95 the gateway was waiting on the upstream or wrk, not saturated.
        _row(f"{key} gateway CPU cores busy", result, GATEWAYS, _cores_busy, 2),
        Row(f"{key} gateway peak RSS MiB", dict(peak_mib), 1),
    ]


def _row(
    label: str,
    result: ScenarioResult,
    targets: Sequence[str],
    metric: Metric,
    digits: int = 0,
) -> Row:
    cells = {target: Spread.of(_values(result, target, metric)) for target in targets}
    return Row(label, cells, digits)


def _added_row(label: str, result: ScenarioResult, metric: Metric) -> Row:
    cells = {target: Spread.of(_added(result, target, metric)) for target in GATEWAYS}
    return Row(label, cells)


def markdown_table(results: Sequence[ScenarioResult]) -> str:
    header = [
        "| metric | " + " | ".join(COLUMNS) + " | smg-py ÷ smg-rust |",
        "|---|" + "---:|" * (len(COLUMNS) + 1),
    ]
    body = [row.markdown() for result in results for row in rows_for(result)]
    return "\n".join(header + body)


def notes(results: Sequence[ScenarioResult]) -> list[str]:
    """Scenario titles, chunk counts, errors, foreign load and start-up notes."""
    lines = []
    for result in results:
        s = result.scenario
        lines.append(f"{s.key.upper()}: {s.title} ({s.upstream} upstream).")
        if result.chunks_per_response:
            lines.append(f"{s.key.upper()} SSE chunks per response: "
                         f"{result.chunks_per_response}.")  # fmt: skip
        errors = {t: sum(r.errors for r in _runs(result, t)) for t in COLUMNS}
        if any(errors.values()):
            lines.append(f"{s.key.upper()} ERRORS (non-2xx or socket): {errors}.")
        lines.extend(result.notes)
        if other := Spread.of([run.other_cores for run in result.runs]):
            lines.append(
                f"{s.key.upper()} CPU used by other processes during runs (cores, "
                f"of {os.cpu_count()}): median {other.median:.2f}, "
                f"max {other.high:.2f}."
            )
    return lines


def summary_json(results: Sequence[ScenarioResult]) -> list[dict[str, object]]:
    """Each table row as numbers: per target median, min, max, q1, q3."""
    summary = []
    for result in results:
        for row in rows_for(result):
            cells = {
                target: asdict(spread) if spread else None
                for target, spread in row.cells.items()
            }
            summary.append({"metric": row.label, "cells": cells, "ratio": row.ratio()})
    return summary
