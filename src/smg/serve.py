"""`smg serve`: launch worker processes and the gateway in front of them.

Worker replicas (one per data-parallel rank) start first, each in its own
process group; the gateway starts once every one answers its health check, and
on SIGINT or SIGTERM the gateway stops, then the workers get SIGTERM and, after
a grace period, SIGKILL. Flags with a `--router-` prefix go to the gateway;
other unknown flags go to the backend engine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from smg import launch
from smg.gateway import run_until_signal
from smg.observability.logging import setup_logging

logger = logging.getLogger(__name__)

BACKENDS = ("sim", "sglang", "vllm", "trtllm", "tokenspeed")
# The engine module each backend imports, to fail early when it is missing.
ENGINE_MODULES = {
    "sglang": "sglang",
    "vllm": "vllm",
    "trtllm": "tensorrt_llm",
    "tokenspeed": "tokenspeed",
}
WORKER_STOP_GRACE_S = 30.0
HEALTH_POLL_S = 0.25


@dataclass
class WorkerProcess:
    url: str
    popen: subprocess.Popen[bytes]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smg serve",
        description="Launch backend worker(s) and the gateway router. Router flags "
        "take a --router- prefix (e.g. --router-policy); other unknown flags go to "
        "the backend.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("SMG_DEFAULT_BACKEND", "sglang"),
        help="Inference backend; `sim` is the built-in simulated engine",
    )
    parser.add_argument(
        "--connection-mode",
        choices=("grpc", "http", "zmq"),
        default=None,
        help="Worker connection mode (default: grpc, http for sim)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Router host")
    parser.add_argument("--port", type=int, default=8080, help="Router port")
    parser.add_argument(
        "--data-parallel-size",
        "--dp-size",
        type=int,
        default=1,
        help="Number of worker replicas",
    )
    parser.add_argument("--worker-host", default="127.0.0.1", help="Worker host")
    parser.add_argument(
        "--worker-base-port",
        type=int,
        default=31000,
        help="First port tried for workers",
    )
    parser.add_argument(
        "--worker-startup-timeout",
        type=float,
        default=300.0,
        help="Seconds to wait for every worker to become healthy",
    )
    parser.add_argument(
        "--model-path",
        "--model",
        dest="model_path",
        default=None,
        help="Model the workers serve (the sim's served model name)",
    )
    parser.add_argument(
        "--pd-disaggregation",
        action="store_true",
        help="Start prefill and decode workers (sim backend) behind a PD gateway",
    )
    parser.add_argument(
        "--prefill-workers", type=int, default=1, help="Prefill workers in PD mode"
    )
    parser.add_argument(
        "--decode-workers", type=int, default=1, help="Decode workers in PD mode"
    )
    return parser


def main(argv: Sequence[str]) -> None:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    router_argv, backend_argv = _split_router_args(rest)
    mode = args.connection_mode or ("http" if args.backend == "sim" else "grpc")
    _check_backend(parser, args.backend, mode)
    if args.pd_disaggregation and args.backend != "sim":
        parser.error("--pd-disaggregation is built for --backend sim only")

    router_argv += ["--host", args.host, "--port", str(args.port)]
    router_args = launch.build_parser().parse_args(router_argv)
    setup_logging(router_args.log_level, router_args.log_json, router_args.log_dir)
    pd_roles = pd_worker_roles(args)
    workers = start_workers(args, backend_argv, pd_roles)
    try:
        wait_healthy(workers, args.worker_startup_timeout)
        if pd_roles:
            _route_pd(router_args, workers, pd_roles)
        else:
            router_args.worker_urls = [w.url for w in workers]
        if (
            args.data_parallel_size <= 1
            and not pd_roles
            and "--policy" not in router_argv
        ):
            # One worker: any policy would pick it; skip the bookkeeping.
            router_args.policy = "passthrough"
        config, problems = launch.config_from_args(router_args)
        if problems:
            parser.error("; ".join(problems))
        signum = run_until_signal(config)
    finally:
        stop_workers(workers)
    sys.exit(128 + signum if signum else 0)


def _split_router_args(rest: list[str]) -> tuple[list[str], list[str]]:
    router: list[str] = []
    backend: list[str] = []
    target = backend
    for token in rest:
        if token.startswith("--router-"):
            target = router
            token = "--" + token[len("--router-") :]
        elif token.startswith("--"):
            target = backend
        target.append(token)
    return router, backend


def _check_backend(parser: argparse.ArgumentParser, backend: str, mode: str) -> None:
    if backend == "sim":
        if mode != "http":
            parser.error("--backend sim speaks HTTP only: use --connection-mode http")
        return
    module = ENGINE_MODULES[backend]
    if importlib.util.find_spec(module) is None:
        parser.error(
            f"{backend} is not installed. Install it with: pip install {backend}"
        )
    if mode != "http":
        parser.error(
            f"--connection-mode {mode} is not supported yet by this gateway; "
            "use --connection-mode http"
        )


def pd_worker_roles(args: argparse.Namespace) -> list[list[str]]:
    """Extra sim flags per worker in PD mode (role and bootstrap port); [] if off."""
    if not args.pd_disaggregation:
        return []
    roles = []
    for _ in range(args.prefill_workers):
        port = free_ports(args.worker_host, args.worker_base_port + 5000, 1)[0]
        roles.append(["--pd-role", "prefill", "--bootstrap-port", str(port)])
    roles += [["--pd-role", "decode"]] * args.decode_workers
    return roles


def _route_pd(
    router_args: argparse.Namespace,
    workers: list[WorkerProcess],
    roles: list[list[str]],
) -> None:
    router_args.pd_disaggregation = True
    router_args.worker_urls = []
    for worker, role in zip(workers, roles, strict=True):
        if role[1] == "prefill":
            router_args.prefill.append([worker.url, role[3]])
        else:
            router_args.decode.append(worker.url)


def start_workers(
    args: argparse.Namespace,
    backend_argv: list[str],
    pd_roles: list[list[str]] | None = None,
) -> list[WorkerProcess]:
    workers = []
    count = len(pd_roles) if pd_roles else args.data_parallel_size
    for index, port in enumerate(
        free_ports(args.worker_host, args.worker_base_port, count)
    ):
        role = pd_roles[index] if pd_roles else []
        cmd = worker_command(args, port, [*backend_argv, *role])
        popen = subprocess.Popen(cmd, start_new_session=True)
        workers.append(WorkerProcess(f"http://{args.worker_host}:{port}", popen))
        logger.info(
            "worker started", extra={"worker_url": workers[-1].url, "pid": popen.pid}
        )
    return workers


def worker_command(args: argparse.Namespace, port: int, extra: list[str]) -> list[str]:
    host = args.worker_host
    model = args.model_path
    if args.backend == "sim":
        cmd = [sys.executable, "-m", "smg", "sim", "--host", host, "--port", str(port)]
        return cmd + (["--model", model] if model else []) + extra
    if args.backend == "sglang":
        return [
            sys.executable,
            "-m",
            "sglang.launch_server",
            "--model-path",
            str(model),
            "--host",
            host,
            "--port",
            str(port),
            *extra,
        ]
    if args.backend == "vllm":
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(model),
            "--host",
            host,
            "--port",
            str(port),
            *extra,
        ]
    return [
        sys.executable,
        "-m",
        "tensorrt_llm.commands.serve",
        str(model),
        "--host",
        host,
        "--port",
        str(port),
        *extra,
    ]


def free_ports(host: str, base: int, count: int) -> list[int]:
    """`count` ports free on `host`, searching upward from `base` with small jumps."""
    ports: list[int] = []
    candidate = base
    while len(ports) < count:
        if candidate > 65535:
            raise RuntimeError(f"no free worker ports above {base}")
        if _is_free(host, candidate):
            ports.append(candidate)
            # A random step keeps two launches on one host from racing for ports.
            candidate += random.randint(1, 5)
        else:
            candidate += 1
    return ports


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(workers: list[WorkerProcess], timeout_s: float) -> None:
    """Block until every worker answers /health; raise if one dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    pending = list(workers)
    while pending:
        for worker in list(pending):
            if worker.popen.poll() is not None:
                raise RuntimeError(
                    f"worker {worker.url} exited with {worker.popen.returncode}"
                )
            if _healthy(worker.url):
                pending.remove(worker)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(
                f"workers not healthy after {timeout_s:.0f}s: "
                + ", ".join(w.url for w in pending)
            )
        if pending:
            time.sleep(HEALTH_POLL_S)
    logger.info("workers healthy", extra={"workers": len(workers)})


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            status: int = resp.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError):
        return False


def stop_workers(workers: list[WorkerProcess]) -> None:
    for worker in workers:
        _signal_group(worker.popen, signal.SIGTERM)
    deadline = time.monotonic() + WORKER_STOP_GRACE_S
    for worker in workers:
        try:
            worker.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(worker.popen, signal.SIGKILL)
            worker.popen.wait()


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)
