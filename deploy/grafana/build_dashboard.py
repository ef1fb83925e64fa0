"""Write smg-dashboard.json, the Grafana dashboard over the gateway's metrics.

The panels are listed here as (title, unit, queries) so they can be reviewed
and changed as code; run `python deploy/grafana/build_dashboard.py` after an
edit and commit both files. tests/observability/test_prometheus_server.py
runs every query against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("smg-dashboard.json")
RATE = "$__rate_interval"
SEL = 'job=~"$job", instance=~"$instance"'
MODEL_SEL = SEL + ', model=~"$model"'

Query = tuple[str, str]  # (PromQL, legend)
Panel = tuple[str, str, list[Query]]  # (title, unit, queries)

ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Traffic",
        [
            (
                "Requests per second by route",
                "reqps",
                [(f"sum by (path) (rate(smg_http_requests_total{{{SEL}}}[{RATE}]))",
                  "{{path}}")],
            ),
            (
                "Answers by status and error code",
                "reqps",
                [(f"sum by (status_code, error_code) (rate(smg_http_responses_total"
                  f"{{{SEL}}}[{RATE}]))", "{{status_code}} {{error_code}}")],
            ),
            (
                "5xx ratio",
                "percentunit",
                [(f'sum(rate(smg_http_responses_total{{{SEL}, status_code=~"5.."}}'
                  f"[{RATE}])) / sum(rate(smg_http_responses_total{{{SEL}}}[{RATE}]))",
                  "5xx")],
            ),
            (
                "Open connections and requests in flight",
                "short",
                [(f"sum(smg_http_connections_active{{{SEL}}})", "connections"),
                 (f"sum(smg_admission_inflight{{{SEL}}})", "in flight"),
                 (f"sum(smg_admission_queue_depth{{{SEL}}})", "queued")],
            ),
        ],
    ),
    (
        "Latency",
        [
            (
                "Request time (all routes)",
                "s",
                [(f"histogram_quantile({q}, sum by (le) (rate("
                  f'smg_http_request_duration_seconds_bucket{{{SEL}, path!="other"}}'
                  f"[{RATE}])))", f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
            ),
            (
                "Routed request time by model (p95)",
                "s",
                [(f"histogram_quantile(0.95, sum by (le, model) (rate("
                  f"smg_router_request_duration_seconds_bucket{{{MODEL_SEL}}}[{RATE}])))",
                  "{{model}}")],
            ),
            (
                "Time to first streamed chunk by model",
                "s",
                [(f"histogram_quantile({q}, sum by (le, model) (rate("
                  f"smg_router_ttft_seconds_bucket{{{MODEL_SEL}}}[{RATE}])))",
                  f"p{int(q * 100)} {{{{model}}}}") for q in (0.5, 0.95)],
            ),
            (
                "Stage time (p95)",
                "s",
                [(f"histogram_quantile(0.95, sum by (le, stage) (rate("
                  f"smg_router_stage_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                  "{{stage}}")],
            ),
        ],
    ),
    (
        "Routing",
        [
            (
                "Routed requests by model and endpoint",
                "reqps",
                [(f"sum by (model, endpoint, streaming) (rate("
                  f"smg_router_requests_total{{{MODEL_SEL}}}[{RATE}]))",
                  "{{model}} {{endpoint}} stream={{streaming}}")],
            ),
            (
                "Router errors by type",
                "reqps",
                [(f"sum by (error_type, model) (rate("
                  f"smg_router_request_errors_total{{{MODEL_SEL}}}[{RATE}]))",
                  "{{error_type}} {{model}}")],
            ),
            (
                "Worker answers by status",
                "reqps",
                [(f"sum by (status_code) (rate("
                  f"smg_router_upstream_responses_total{{{SEL}}}[{RATE}]))",
                  "{{status_code}}")],
            ),
            (
                "Selections by policy",
                "reqps",
                [(f"sum by (policy, model) (rate("
                  f"smg_worker_selection_total{{{MODEL_SEL}}}[{RATE}]))",
                  "{{policy}} {{model}}")],
            ),
            (
                "Retries and exhausted retries",
                "reqps",
                [(f"sum by (endpoint) (rate(smg_worker_retries_total"
                  f"{{{SEL}}}[{RATE}]))", "retries {{endpoint}}"),
                 (f"sum by (endpoint) (rate(smg_worker_retries_exhausted_total"
                  f"{{{SEL}}}[{RATE}]))", "exhausted {{endpoint}}")],
            ),
            (
                "Admission rejections",
                "reqps",
                [(f"sum by (reason) (rate(smg_admission_queue_rejected_total"
                  f"{{{SEL}}}[{RATE}]))", "{{reason}}")],
            ),
        ],
    ),
    (
        "Workers",
        [
            (
                "Workers by model",
                "short",
                [(f"sum by (model) (smg_worker_pool_size{{{MODEL_SEL}}})", "{{model}}"),
                 (f"sum(smg_worker_health{{{SEL}}})", "healthy")],
            ),
            (
                "Requests in flight per worker",
                "short",
                [(f"sum by (worker) (smg_worker_requests_active{{{SEL}}})",
                  "{{worker}}")],
            ),
            (
                "Requests completed per worker",
                "reqps",
                [(f"sum by (worker) (rate(smg_worker_requests_total{{{SEL}}}[{RATE}]))",
                  "{{worker}}")],
            ),
            (
                "Circuit breaker state (0 closed, 1 open, 2 half open)",
                "short",
                [(f"max by (worker) (smg_worker_cb_state{{{SEL}}})", "{{worker}}")],
            ),
            (
                "Failed attempts by type",
                "reqps",
                [(f"sum by (error_type) (rate(smg_worker_errors_total"
                  f"{{{SEL}}}[{RATE}]))", "{{error_type}}")],
            ),
            (
                "Engine queue (polled loads)",
                "short",
                [(f"sum by (worker) (smg_engine_running_requests{{{SEL}}})",
                  "running {{worker}}"),
                 (f"sum by (worker) (smg_engine_waiting_requests{{{SEL}}})",
                  "waiting {{worker}}")],
            ),
        ],
    ),
    (
        "Process",
        [
            (
                "Gateway CPU (cores)",
                "short",
                [(f"rate(process_cpu_seconds_total{{{SEL}}}[{RATE}])",
                  "{{instance}}")],
            ),
            (
                "Gateway resident memory",
                "bytes",
                [(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")],
            ),
        ],
    ),
]  # fmt: skip


def panel(panel_id: int, x: int, y: int, spec: Panel) -> dict[str, Any]:
    title, unit, queries = spec
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def variable(name: str, query: str, include_all: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": include_all,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for row_title, specs in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        for i, spec in enumerate(specs):
            panels.append(panel(next_id, 12 * (i % 2), y + 8 * (i // 2), spec))
            next_id += 1
        y += 8 * ((len(specs) + 1) // 2)
    datasource = {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
    }
    return {
        "uid": "smg-gateway",
        "title": "smg gateway",
        "tags": ["smg", "llm", "gateway"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                datasource,
                variable("job", "label_values(smg_http_connections_active, job)"),
                variable(
                    "instance",
                    'label_values(smg_http_connections_active{job=~"$job"}, instance)',
                ),
                variable(
                    "model", 'label_values(smg_worker_pool_size{job=~"$job"}, model)'
                ),
            ]
        },
        "panels": panels,
    }


def queries() -> list[str]:
    """Every PromQL expression of the dashboard, as written in it."""
    return [expr for _, specs in ROWS for _, _, qs in specs for expr, _ in qs]


if __name__ == "__main__":
    OUT.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {OUT} ({len(queries())} queries)")
