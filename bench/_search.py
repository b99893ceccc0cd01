"""The concurrent-stream capacity of one worker: N streams at 50 tokens/s arriving over a few seconds, for
N upward until the latency the worker adds breaks its bound."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from _meter import Cost
from _phases import CAPACITY, Run, body, prime, upstream_models
from _stack import Worker
from _streams import Latencies, added, read_direct, send


def arrivals(n: int, spread: float, kind: str, seed: int) -> list[float]:
    """When each stream starts, in seconds from the phase's start: a Poisson process over ``spread`` seconds
    (given n arrivals in it, their times are uniform), or evenly spaced."""
    if kind == "even":
        return [i * spread / n for i in range(n)]
    rng = random.Random(seed + n)
    return sorted(rng.uniform(0, spread) for _ in range(n))


async def at(offset: float, start: float, job: Callable[[], Awaitable[Any]]) -> Any:
    await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
    return await job()


async def capacity_step(run: Run, n: int) -> dict[str, Any]:
    """N streams arriving over ``--capacity-spread`` seconds, straight from the fake and then through one
    worker; the step holds when the added p99 stays within the bound."""
    args, direct, server = run.args, Latencies("direct"), Latencies("server")
    worker = run.workers[0]
    guests = run.guests(f"cap{n}", n)
    chats = await prime(run, guests, lambda _: worker.url, server.errors)
    offsets = arrivals(n, args.capacity_spread, args.capacity_arrivals, args.seed)
    model, tokens = upstream_models(args)[CAPACITY], args.capacity_tokens
    before, start = await run.meter.snapshot(), time.monotonic()
    await asyncio.gather(
        *(at(o, start, partial(read_direct, run.session, run.upstream_url, model, tokens, direct)) for o in offsets)
    )
    middle, start = await run.meter.snapshot(), time.monotonic()
    jobs = [
        partial(send, run.session, worker.url, guest, body(CAPACITY, chat), server.errors, server, tokens)
        for guest, chat in zip(guests, chats, strict=True)
    ]
    await asyncio.gather(*(at(o, start, job) for o, job in zip(offsets, jobs, strict=True)))
    after = await run.meter.snapshot()
    cost = run.meter.cost(middle, after)
    row = capacity_row(n, direct, server, run.meter.cost(before, middle), cost, worker, args.capacity_bound_ms)
    tokens_streamed = len(server.latencies_ns)
    if tokens_streamed:
        row["worker_cpu_us_per_token"] = round((cost.workers_cpu_s - n * run.send_ms / 1000) / tokens_streamed * 1e6, 1)
    return row


def capacity_row(
    n: int, direct: Latencies, server: Latencies, direct_cost: Cost, cost: Cost, worker: Worker, bound_ms: float
) -> dict[str, Any]:
    d, s = direct.stats(), server.stats()
    gap = added(s, d)

    def share(cpu: Cost, name: str) -> float:
        return round(cpu.cpu_s.get(name, 0.0) / cpu.wall_s * 100, 1)

    return {
        "streams": n,
        "added_p50_ms": gap["p50_ms"],
        "added_p99_ms": gap["p99_ms"],
        "first_token_p50_ms": s["first_token_ms"]["p50"],
        "first_token_p99_ms": s["first_token_ms"]["p99"],
        "worker_cpu_pct": share(cost, worker.name),
        "upstream_cpu_pct": share(cost, "upstream"),
        "client_cpu_pct": share(cost, "client"),
        "redis_cpu_pct": share(cost, "redis") if "redis" in cost.cpu_s else None,
        "direct_client_cpu_pct": share(direct_cost, "client"),
        "errors": d["errors"] + s["errors"],
        "held": bool(gap["p99_ms"] <= bound_ms and not d["errors"] and not s["errors"]),
        "direct": d,
        "server": s,
    }


async def capacity_search(run: Run) -> dict[str, Any]:
    """Upward over ``--capacity-steps`` until a step breaks the bound: the largest N held is the capacity."""
    steps = []
    for n in run.args.capacity_steps:
        step = await capacity_step(run, n)
        steps.append(step)
        print(f"    {n} streams: added p99 {step['added_p99_ms']:.1f} ms, held={step['held']}", flush=True)
        if not step["held"]:
            break
    held = [step["streams"] for step in steps if step["held"]]
    return {
        "bound_p99_added_ms": run.args.capacity_bound_ms,
        "streams_held": max(held) if held else 0,
        "search_ended": "bound broken" if steps and not steps[-1]["held"] else "steps exhausted",
        "steps": steps,
    }
