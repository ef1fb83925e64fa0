"""GET /engine_metrics: the engines' own metrics, merged and labelled by engine."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from smg.server.engine_metrics import merge, with_label
from tests.observability.scrape import parse
from tests.observability.traffic import chat
from tests.procs import Proc


def test_engine_metrics_merges_every_engine_under_its_own_label(
    sim_factory: Callable[..., Proc], gateway_factory: Callable[..., Proc]
) -> None:
    sims = [sim_factory(), sim_factory()]
    gateway = gateway_factory(*sims, flags=("--policy", "round_robin"))
    assert [chat(gateway) for _ in range(2)] == [200, 200]

    with urllib.request.urlopen(gateway.url + "/engine_metrics", timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/plain")
        exposition = parse(resp.read().decode())

    running = exposition.samples["sglang:num_running_reqs"]
    assert {s.labels["worker"] for s in running} == {sim.url for sim in sims}
    for sim in sims:
        assert exposition.value("sglang:prompt_tokens_total", worker=sim.url) > 0


def test_labels_join_existing_ones_or_open_a_set() -> None:
    label = 'worker="http://w:1"'
    assert with_label('a{x="1"} 2', label) == 'a{x="1",worker="http://w:1"} 2'
    assert with_label("a 2", label) == 'a{worker="http://w:1"} 2'
    merged = merge([("u1", "# TYPE a gauge\na 1"), ("u2", "# TYPE a gauge\na 2")])
    assert merged.count("# TYPE a gauge") == 1
