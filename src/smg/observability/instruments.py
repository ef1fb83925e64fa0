"""Counters, gauges and histograms cheap enough for the request path.

The gateway updates metrics from one event-loop thread, so a child is a plain
slotted value: an update is one attribute add, with no lock and no allocation.
prometheus_client is used only at scrape time, to render the families through
`InstrumentCollector`. The price is that these children must not be updated
from other threads; code running in a thread pool reports back to the loop.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector


class CounterChild:
    """One labelled series of a counter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class GaugeChild:
    """One labelled series of a gauge."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    """One labelled series of a histogram; bucket counts are kept per bucket.

    `counts[i]` holds observations in (bounds[i-1], bounds[i]]; the last slot
    is the +Inf overflow. They are made cumulative only when scraped.
    """

    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left puts a value equal to a bound in that bound's bucket (le).
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value


C = TypeVar("C", CounterChild, GaugeChild, HistogramChild)


class Family(Generic[C]):
    """A metric name with its label names and one child per label-value tuple.

    `labels()` creates children on first use; the request path resolves them
    once and keeps them in its own caches instead of calling it per request.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        make_child: Callable[[], C],
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.children: dict[tuple[str, ...], C] = {}
        self._make_child: Callable[[], C] = make_child

    def labels(self, *values: str) -> C:
        child = self.children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(
                    f"{self.name} takes labels {self.labelnames}, got {values}"
                )
            child = self._make_child()
            self.children[values] = child
        return child

    def remove_matching(self, label: str, value: str) -> None:
        """Drop every series whose `label` equals `value` (a removed worker)."""
        index = self.labelnames.index(label)
        for key in [k for k in self.children if k[index] == value]:
            del self.children[key]


class CounterFamily(Family[CounterChild]):
    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, doc, labelnames, CounterChild)


class GaugeFamily(Family[GaugeChild]):
    def __init__(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, doc, labelnames, GaugeChild)


class HistogramFamily(Family[HistogramChild]):
    def __init__(
        self,
        name: str,
        doc: str,
        labelnames: Sequence[str],
        buckets: Sequence[float],
    ) -> None:
        bounds = tuple(sorted(float(b) for b in buckets))
        super().__init__(name, doc, labelnames, lambda: HistogramChild(bounds))
        self.bounds = bounds
        self.bound_labels = [format_bound(b) for b in bounds] + ["+Inf"]


def format_bound(bound: float) -> str:
    """Spell a bucket bound as the original does: `1`, `2.5`, `0.001`, `7200`.

    Prometheus compares `le` values as strings, so `1` and `1.0` would be two
    different buckets to a dashboard query.
    """
    if bound.is_integer():
        return str(int(bound))
    text = repr(bound)
    if "e" in text:
        text = f"{bound:.20f}".rstrip("0")
    return text


# A gauge or counter computed when scraped: yields (label values, value).
Sampler = Callable[[], Iterable[tuple[Sequence[str], float]]]


class SampledFamily:
    """A family read from live state at scrape time; costs nothing per request."""

    def __init__(
        self,
        kind: str,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        sampler: Sampler,
    ) -> None:
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.sampler = sampler


AnyFamily = CounterFamily | GaugeFamily | HistogramFamily | SampledFamily


class InstrumentCollector(Collector):
    """Renders families for prometheus_client's exposition, in declared order."""

    def __init__(self) -> None:
        self._families: dict[str, AnyFamily] = {}

    def add(self, family: AnyFamily) -> None:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} is declared twice")
        self._families[family.name] = family

    def collect(self) -> Iterator[Metric]:
        for family in self._families.values():
            yield _render(family)


def _render(family: AnyFamily) -> Metric:
    if isinstance(family, HistogramFamily):
        return _render_histogram(family)
    if isinstance(family, SampledFamily):
        samples = family.sampler()
        kind = family.kind
    elif isinstance(family, CounterFamily):
        samples = [(k, c.value) for k, c in family.children.items()]
        kind = "counter"
    else:
        samples = [(k, g.value) for k, g in family.children.items()]
        kind = "gauge"
    metric_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    metric = metric_type(family.name, family.documentation, labels=family.labelnames)
    for values, value in samples:
        metric.add_metric(values, value)
    return metric


def _render_histogram(family: HistogramFamily) -> Metric:
    metric = HistogramMetricFamily(
        family.name, family.documentation, labels=family.labelnames
    )
    for values, child in family.children.items():
        running = 0
        buckets: list[tuple[str, float]] = []
        for label, count in zip(family.bound_labels, child.counts, strict=True):
            running += count
            buckets.append((label, running))
        metric.add_metric(values, buckets, child.sum)
    return metric
