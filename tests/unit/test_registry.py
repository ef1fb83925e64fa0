from __future__ import annotations

from smg.workers.registry import WorkerRegistry
from smg.workers.worker import PENDING, READY, Worker


def test_group_for_resolves_aliases_and_unknown_models() -> None:
    registry = WorkerRegistry([("nick", "real")])
    worker = Worker("http://a:1", model_id="real", status=READY)
    registry.add(worker)
    assert registry.group_for("nick") == ("real", (worker,))
    assert registry.group_for("other") is None
    assert registry.group_for(None) == ("unknown", (worker,))


def test_pending_workers_are_not_routable_but_listed() -> None:
    registry = WorkerRegistry()
    worker = Worker("http://a:1", model_id="m", status=PENDING)
    registry.add(worker)
    assert registry.group_for("m") == ("m", ())
    worker.status = READY
    registry.refresh()
    assert registry.group_for("m") == ("m", (worker,))


def test_listeners_hear_membership_changes() -> None:
    registry = WorkerRegistry()
    seen: list[tuple[str, int]] = []
    registry.on_change(lambda model, ws: seen.append((model, len(ws))))
    registry.add(Worker("http://a:1", model_id="m", status=READY))
    assert seen == [("m", 1)]
