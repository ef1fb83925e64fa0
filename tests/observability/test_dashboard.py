"""The shipped Grafana dashboard matches its generator and is well formed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboard", GRAFANA / "build_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_dashboard_is_what_the_generator_writes() -> None:
    committed = json.loads((GRAFANA / "smg-dashboard.json").read_text())

    assert committed == _generator().dashboard()


def test_dashboard_panels_have_unique_ids_and_queries() -> None:
    dashboard = _generator().dashboard()
    ids = [panel["id"] for panel in dashboard["panels"]]
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]

    assert len(ids) == len(set(ids))
    assert targets and all(
        t["expr"].count("(") == t["expr"].count(")") for t in targets
    )
