"""Scraping a gateway's /metrics and reading it with prometheus_client's parser."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.procs import Proc


@dataclass
class Exposition:
    """One parsed scrape: families by name, samples by sample name."""

    types: dict[str, str]
    label_names: dict[str, set[str]]
    samples: dict[str, list[Sample]]

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return sum(
            s.value
            for s in self.samples.get(name, [])
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    def buckets(self, name: str) -> set[str]:
        return {s.labels["le"] for s in self.samples.get(name + "_bucket", [])}


def scrape(gateway: Proc) -> Exposition:
    port = gateway.extra["metrics_port"]
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/plain")
        text = resp.read().decode()
    return parse(text)


def parse(text: str) -> Exposition:
    exposition = Exposition({}, {}, {})
    for family in text_string_to_metric_families(text):
        exposition.types[family.name] = family.type
        names = exposition.label_names.setdefault(family.name, set())
        for sample in family.samples:
            names.update(k for k in sample.labels if k != "le")
            exposition.samples.setdefault(sample.name, []).append(sample)
    return exposition
