"""PD benchmark: a simulated prefill/decode pair against a regular fleet of the
same size (two workers), each behind this gateway.

Run `python -m bench.pd`. Both fleets use the sim's latency model; prompts are
unique (no prefix-cache hits) and long enough that prefill dominates the time to
first token. Each fleet gets the same closed-loop load of streamed chat
requests; the report is a Markdown table of TTFT p50/p99 and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.procs import Child, free_port, start, wait_ready

SMG = [sys.executable, "-m", "smg"]
MODEL = "bench-model"
# Every sim gets the same latency model, so the fleets differ only in topology.
SIM_LATENCY = ("--ttft-base-ms", "5", "--prefill-ms-per-token", "0.05")


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    concurrency: int
    prompt_chars: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class Result:
    fleet: str
    ttft_s: list[float]
    elapsed_s: float
    output_tokens: int
    errors: int

    @property
    def requests_per_s(self) -> float:
        return len(self.ttft_s) / self.elapsed_s

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.elapsed_s


def _sim(name: str, log_dir: Path, *flags: str) -> tuple[Child, str]:
    port = free_port()
    argv = [*SMG, "sim", "--port", str(port), "--model", MODEL, *SIM_LATENCY, *flags]
    child = start(name, argv, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_ready(child, url + "/health", 30, None)
    return child, url


def _gateway(name: str, log_dir: Path, flags: Sequence[str]) -> tuple[Child, str]:
    port = free_port()
    argv = [
        *SMG, "launch", "--host", "127.0.0.1", "--port", str(port),
        "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()),
        "--disable-access-log", "--log-level", "warn", *flags,
    ]  # fmt: skip
    child = start(name, argv, log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_ready(child, url + "/readiness", 30, None)
    return child, url


def start_pd_fleet(log_dir: Path) -> tuple[list[Child], str]:
    bootstrap = free_port()
    prefill, prefill_url = _sim(
        "pd-prefill",
        log_dir,
        "--pd-role",
        "prefill",
        "--bootstrap-port",
        str(bootstrap),
    )
    decode, decode_url = _sim("pd-decode", log_dir, "--pd-role", "decode")
    flags = ["--pd-disaggregation", "--prefill", prefill_url, str(bootstrap)]
    gateway, url = _gateway("pd-gateway", log_dir, [*flags, "--decode", decode_url])
    return [gateway, prefill, decode], url


def start_regular_fleet(log_dir: Path) -> tuple[list[Child], str]:
    sims = [_sim(f"regular-sim{i}", log_dir) for i in range(2)]
    flags = ["--worker-urls", *(u for _, u in sims), "--policy", "round_robin"]
    gateway, url = _gateway("regular-gateway", log_dir, flags)
    return [gateway, *(c for c, _ in sims)], url


async def _one(
    session: aiohttp.ClientSession, url: str, index: int, load: Load
) -> tuple[float, int]:
    """Stream one chat request; returns (TTFT, output chunks)."""
    # A unique head defeats the prefix cache: every prompt pays full prefill.
    prompt = f"{index:08d} " + "lorem ipsum " * (load.prompt_chars // 12)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": load.max_tokens,
        "stream": True,
    }
    started = time.perf_counter()
    ttft = None
    tokens = 0
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        if resp.status != 200:
            raise RuntimeError(f"status {resp.status}")
        async for line in resp.content:
            if line.startswith(b"data: {") and _has_text(line):
                if ttft is None:
                    ttft = time.perf_counter() - started
                tokens += 1
    if ttft is None:
        raise RuntimeError("no content")
    return ttft, tokens


def _has_text(line: bytes) -> bool:
    # The opening chunk carries the role and an empty content: not a token.
    return b'"content":"' in line and b'"content":""' not in line


async def drive(fleet: str, url: str, load: Load) -> Result:
    """Closed loop: `concurrency` clients share `requests` requests."""
    queue = iter(range(load.requests))
    ttfts: list[float] = []
    output = 0
    errors = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal output, errors
        for index in queue:
            try:
                ttft, tokens = await _one(session, url, index, load)
            except (RuntimeError, aiohttp.ClientError):
                errors += 1
                continue
            ttfts.append(ttft)
            output += tokens

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await _one(session, url, -1, load)  # warm the connection pools
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(load.concurrency)))
        elapsed = time.perf_counter() - started
    return Result(fleet, ttfts, elapsed, output, errors)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def markdown(results: Sequence[Result], load: Load) -> str:
    lines = [
        f"PD vs regular, 2 simulated workers each; {load.requests} streamed chat "
        f"requests, concurrency {load.concurrency}, ~{load.prompt_chars // 4} "
        f"prompt tokens, {load.max_tokens} output tokens.",
        "",
        "| fleet | TTFT p50 (ms) | TTFT p99 (ms) | requests/s | output tokens/s "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.fleet} | {_percentile(r.ttft_s, 50) * 1000:.1f} "
            f"| {_percentile(r.ttft_s, 99) * 1000:.1f} | {r.requests_per_s:.1f} "
            f"| {r.tokens_per_s:.0f} | {r.errors} |"
        )
    return "\n".join(lines)


def run(load: Load, log_dir: Path) -> list[Result]:
    results = []
    for name, start_fleet in (
        ("regular (2 workers)", start_regular_fleet),
        ("PD (1 prefill + 1 decode)", start_pd_fleet),
    ):
        children, url = start_fleet(log_dir)
        try:
            results.append(asyncio.run(drive(name, url, load)))
        finally:
            for child in children:
                child.stop()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pd", description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--prompt-chars", type=int, default=8000)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    load = Load(args.requests, args.concurrency, args.prompt_chars, args.max_tokens)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="smg-bench-pd-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(markdown(run(load, log_dir), load))


if __name__ == "__main__":
    main()
