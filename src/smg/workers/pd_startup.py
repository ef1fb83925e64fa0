"""Bring PD startup workers online: each `--prefill` and `--decode` worker is
registered with its role (and a prefill worker with its bootstrap port), then
probed like any startup worker."""

from __future__ import annotations

import asyncio

from smg.context import AppContext


def start_pd_workers(ctx: AppContext) -> list[asyncio.Task[None]]:
    """One bring-up task per PD worker; none unless PD mode is on."""
    pd = ctx.config.pd
    if not pd.enabled:
        return []
    roles = [(url, "prefill", port) for url, port in pd.prefill]
    roles += [(url, "decode", None) for url in pd.decode_urls]
    return [
        asyncio.create_task(_add(ctx, url, role, port)) for url, role, port in roles
    ]


async def _add(ctx: AppContext, url: str, role: str, port: int | None) -> None:
    worker = ctx.new_worker(
        url,
        api_key=ctx.config.security.api_key,
        worker_type=role,
        bootstrap_port=port,
    )
    ctx.registry.add(worker)
    await ctx.bring_up(worker)
