"""The measuring phases of ``capacity.py`` and what they share: the run's context, priming, the sends.

Each phase returns a plain dict that goes into the result file as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
from _common import Profiler, percentile
from _meter import Cost, Meter
from _stack import Worker
from _streams import Latencies, added, read_direct, send

SHORT, LONG, BURST, CAPACITY = "bench-short", "bench-long", "bench-burst", "bench-capacity"
PHASES = ("sends", "tokens", "burst", "capacity")
PROFILED = ("first_send", "continue", "new_chat", "tokens")
QUESTION = "How far is the moon?"


@dataclass
class Run:
    args: argparse.Namespace
    session: aiohttp.ClientSession
    meter: Meter
    upstream_url: str
    run_id: str = field(default_factory=lambda: f"{os.getpid():x}{int(time.time()) % 100000:x}")
    seconds: dict[str, float] = field(default_factory=dict)  # how long each phase took, priming included
    send_ms: float = 0.0  # CPU of a send continuing a chat, from the send phases (0 without them)

    @property
    def workers(self) -> list[Worker]:
        return self.meter.workers

    def route(self, index: int) -> str:
        """Like a load balancer with sticky sessions: guest ``index`` always reaches the same worker."""
        return self.workers[index % len(self.workers)].url

    def guests(self, phase: str, count: int) -> list[str]:
        return [f"cap-{self.run_id}-{phase}-{i:04d}" for i in range(count)]

    @contextlib.contextmanager
    def profiled(self, phase: str) -> Iterator[None]:
        """py-spy on worker 1 during the phase that ``--profile-phase`` names, into ``--profile``."""
        if not self.args.profile or self.args.profile_phase != phase:
            yield
            return
        profiler = Profiler(self.args.profile, self.workers[0].pid, self.args.profile_args)
        profiler.start()
        try:
            yield
        finally:
            profiler.stop()

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        start = time.monotonic()
        print(f"  {phase} …", flush=True)
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.monotonic() - start, 1)


def upstream_models(args: argparse.Namespace) -> dict[str, str]:
    """The fake's model for each benchmark model (the fake does what the model name says)."""
    return {
        SHORT: "fake:tokens=2",  # a send's answer, and the title a new chat asks for: two tokens at once
        LONG: f"fake:tokens={args.token_count}:delay_ms={args.token_interval_ms}:stamp",
        BURST: f"fake:tokens={args.burst_tokens}:delay_ms=20:stamp",
        CAPACITY: f"fake:tokens={args.capacity_tokens}:delay_ms={args.capacity_interval_ms}:stamp",
    }


async def bounded_gather(limit: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


def body(model: str, chat: str | None) -> dict[str, Any]:
    return {"model": model, "content": QUESTION, **({"chat_id": chat} if chat else {})}


async def prime(run: Run, guests: list[str], route: Callable[[int], str], errors: list[str]) -> list[str | None]:
    """Give each guest a chat (a short answer, then its title), so that the measured sends continue a chat
    and no title request reaches the fake while latency is measured."""
    jobs = [partial(send, run.session, route(i), guest, body(SHORT, None), errors) for i, guest in enumerate(guests)]
    chats = await bounded_gather(run.args.concurrency, jobs)
    await run.meter.settle()
    return chats


async def warm_up(run: Run) -> None:
    """A few sends per worker first: imports, pools and caches are not what a send costs."""
    errors: list[str] = []
    guests = run.guests("warm", 4 * len(run.workers))
    await prime(run, guests, run.route, errors)
    if errors:
        raise RuntimeError(f"the server does not answer sends: {errors[0]}")


def per_send(cost: Cost, sends: int, errors: list[str], walls: list[float], settle: float) -> dict[str, Any]:
    walls_ns = sorted(int(wall * 1e9) for wall in walls)
    out: dict[str, Any] = {
        "sends": sends,
        "errors": len(errors),
        "error_samples": errors[:5],
        "worker_cpu_ms_per_send": round(cost.workers_cpu_s / sends * 1000, 2),
        "sends_per_s": round(sends / cost.wall_s, 1),
        "send_ms": {"p50": round(percentile(walls_ns, 50), 1), "p99": round(percentile(walls_ns, 99), 1)},
        "settle_s": round(settle, 2),
        "cost": cost.as_dict(),
    }
    if cost.postgres is not None and cost.statements is not None:
        out["postgres_per_send"] = {key: round(value / sends, 2) for key, value in cost.postgres.items()}
        out["statements_per_send"] = {text: round(n / sends, 2) for text, n in cost.statements.most_common(60)}
    if cost.redis is not None:
        out["redis_commands_per_send"] = round(sum(cost.redis.values()) / sends, 2)
        out["redis_per_send_by_command"] = {name: round(calls / sends, 2) for name, calls in cost.redis.most_common()}
    return out


async def send_phase(
    run: Run, name: str, guests: list[str], chats: list[str | None]
) -> tuple[dict[str, Any], list[str | None]]:
    """``len(guests)`` short sends, ``--concurrency`` at a time, and what the server spent on them, the work
    after each stream's end (settlement, a new chat's title) included."""
    errors: list[str] = []
    walls: list[float] = []

    async def one(index: int, guest: str, chat: str | None) -> str | None:
        start = time.monotonic()
        try:
            return await send(run.session, run.route(index), guest, body(SHORT, chat), errors)
        finally:
            walls.append(time.monotonic() - start)

    jobs = [partial(one, i, guest, chat) for i, (guest, chat) in enumerate(zip(guests, chats, strict=True))]
    before = await run.meter.snapshot()
    with run.profiled(name):
        results = await bounded_gather(run.args.concurrency, jobs)
        settle = await run.meter.settle()
    cost = run.meter.cost(before, await run.meter.snapshot())
    return per_send(cost, len(guests), errors, walls, settle), results


async def send_phases(run: Run) -> dict[str, Any]:
    """A new guest's first send (its chat is new), then a send that continues that chat, then a new chat of
    a guest the server knows: each the same number of sends."""
    guests = run.guests("send", run.args.sends)
    first, chats = await send_phase(run, "first_send", guests, [None] * len(guests))
    following, _ = await send_phase(run, "continue", guests, chats)
    new_chat, _ = await send_phase(run, "new_chat", guests, [None] * len(guests))
    return {"first_send": first, "continue": following, "new_chat": new_chat, "concurrency": run.args.concurrency}


async def token_phase(run: Run) -> dict[str, Any]:
    """A few long, fast streams: the workers' CPU less the sends' cost, divided by the tokens streamed."""
    args, sink = run.args, Latencies("tokens")
    guests = run.guests("tok", args.token_streams)
    chats = await prime(run, guests, run.route, sink.errors)
    jobs = [
        send(run.session, run.route(i), guest, body(LONG, chat), sink.errors, sink, args.token_count)
        for i, (guest, chat) in enumerate(zip(guests, chats, strict=True))
    ]
    before = await run.meter.snapshot()
    streaming = time.monotonic()
    with run.profiled("tokens"):
        await asyncio.gather(*jobs)
    streaming = time.monotonic() - streaming
    await run.meter.settle()
    cost = run.meter.cost(before, await run.meter.snapshot())
    return tokens_result(args, sink, cost, run.send_ms, streaming)


def tokens_result(
    args: argparse.Namespace, sink: Latencies, cost: Cost, send_ms: float, streaming: float
) -> dict[str, Any]:
    tokens, streams = len(sink.latencies_ns), args.token_streams
    less_sends = cost.workers_cpu_s - streams * send_ms / 1000
    out: dict[str, Any] = {
        "streams": streams,
        "tokens": tokens,
        "streaming_s": round(streaming, 2),
        "tokens_per_s": round(tokens / streaming, 0) if streaming else None,
        "tokens_per_s_nominal": round(streams * 1000 / args.token_interval_ms) if args.token_interval_ms else None,
        "tokens_per_delta": round(tokens / sink.deltas, 2) if sink.deltas else None,
        "send_cost_ms_subtracted": send_ms,
        "worker_cpu_us_per_token": round(less_sends / tokens * 1e6, 1) if tokens else None,
        "latency": sink.stats(),
        "cost": cost.as_dict(),
    }
    if cost.redis is not None:
        total = sum(cost.redis.values())
        out["redis_commands_per_answer"] = round(total / streams, 1)
        out["redis_per_answer_by_command"] = {name: round(calls / streams, 1) for name, calls in cost.redis.items()}
        out["redis_commands_per_second_per_stream"] = round(total / streams / streaming, 1)
    return out


async def burst_phase(run: Run) -> dict[str, Any]:
    """N streams read straight from the fake, then N sends at once through the server (continuing chats)."""
    args, n = run.args, run.args.burst
    direct, server = Latencies("direct"), Latencies("server")
    guests = run.guests("burst", n)
    chats = await prime(run, guests, run.route, server.errors)
    model = upstream_models(args)[BURST]
    before = await run.meter.snapshot()
    await asyncio.gather(
        *(read_direct(run.session, run.upstream_url, model, args.burst_tokens, direct) for _ in range(n))
    )
    middle = await run.meter.snapshot()
    await asyncio.gather(
        *(
            send(run.session, run.route(i), guest, body(BURST, chat), server.errors, server, args.burst_tokens)
            for i, (guest, chat) in enumerate(zip(guests, chats, strict=True))
        )
    )
    after = await run.meter.snapshot()
    d, s = direct.stats(), server.stats()
    return {
        "streams": n,
        "tokens": args.burst_tokens,
        "direct": {**d, "cost": run.meter.cost(before, middle).as_dict()},
        "server": {**s, "cost": run.meter.cost(middle, after).as_dict()},
        "added": added(s, d),
    }
