"""Several gateway processes on one port (`smg launch --workers N`).

The parent forks N children before any event loop exists; each child runs the
whole gateway and binds the same address with SO_REUSEPORT, so the kernel
spreads new connections over them. The parent only supervises: it forwards
SIGTERM and SIGINT to every child, stops the rest when one exits on its own,
and exits with the first non-zero exit code of a child (0 when all stop
cleanly).

Everything the gateway keeps in memory is per process: worker registry and
health, policy state (round-robin counters, the cache-aware prefix tree),
in-flight counts, circuit breakers, retry budgets, admission limits and
metrics. Child i serves /metrics on `--prometheus-port` + i, so a scraper sums
the N targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from smg.config import GatewayConfig

logger = logging.getLogger(__name__)

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def child_config(config: GatewayConfig, index: int) -> GatewayConfig:
    """The config of child `index`: its own metrics port, the rest shared."""
    observability = dataclasses.replace(
        config.observability,
        prometheus_port=config.observability.prometheus_port + index,
    )
    return dataclasses.replace(config, observability=observability)


def run_processes(config: GatewayConfig) -> int:
    """Fork `config.server.processes` gateways and supervise them; returns the
    exit code for the parent (the first failing child's, else 0)."""
    from smg import gateway
    from smg.observability.logging import setup_logging

    setup_logging(config.logging.level, config.logging.json, config.logging.dir)
    count = config.server.processes
    children: dict[int, int] = {}
    supervisor = _Supervisor(children)
    # Signals wait until every child exists, so none is missed or half-sent;
    # a forked child starts with nothing pending and unblocks its own mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, supervisor.forward)
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            _run_child(gateway.run, child_config(config, index))
        children[pid] = index
    logger.info(
        "gateway processes started",
        extra={"processes": count, "port": config.server.port},
    )
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    return supervisor.wait()


def _run_child(run: Callable[[GatewayConfig], int], config: GatewayConfig) -> None:
    """Run one gateway in this forked child and never return to the caller."""
    code = 1
    try:
        # The parent's handlers only forward signals; the gateway sets its own.
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        code = run(config)
    except BaseException:
        logger.exception("gateway process failed")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class _Supervisor:
    """Waits for the children (pid -> index); the first exit or a signal stops
    all of them."""

    def __init__(self, children: dict[int, int]) -> None:
        self._children = children
        self._is_stopping = False

    def forward(self, sig: int, _frame: FrameType | None) -> None:
        self._is_stopping = True
        _signal_all(self._children, sig)

    def wait(self) -> int:
        """Reap every child; returns the first non-zero exit code, else 0."""
        exit_code = 0
        while self._children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            index = self._children.pop(pid, None)
            if index is None:
                continue
            code = _exit_code(status)
            if code != 0 and exit_code == 0:
                exit_code = code
            if not self._is_stopping:
                # One gateway gone leaves the port with less capacity and other
                # state than configured; stop the rest rather than limp on.
                logger.error(
                    "gateway process exited; stopping the others",
                    extra={"process_index": index, "exit_code": code},
                )
                self._is_stopping = True
                _signal_all(self._children, signal.SIGTERM)
        return exit_code


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    # Killed by a signal: report it the way a shell would (128 + number).
    return 128 - code if code < 0 else code


def _signal_all(children: dict[int, int], sig: int) -> None:
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
