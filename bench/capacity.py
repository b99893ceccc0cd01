"""What the server costs and holds in the production layout: CPU per streamed token and per send, database
statements and round trips per send, Redis commands per answer, the latency of a burst of sends, and the
number of concurrent 50 tokens/s streams one worker holds.

One run starts everything as subprocesses: a scratch PostgreSQL database (created if missing) and a private
redis-server, or with ``--embedded`` a SQLite file and no Redis; the fake OpenAI upstream; ``--workers`` daphne
processes (DJANGO_DEBUG=0, LOG_LEVEL=WARNING). The server is only spoken to over HTTP and only measured from
outside: its processes' CPU time in ``/proc``, a counting proxy in front of PostgreSQL (during the send phases
only, on workers started for them), and ``INFO commandstats`` of the private Redis. See bench/README.md.

    .venv/bin/python bench/capacity.py                    # PostgreSQL + Redis, one worker
    .venv/bin/python bench/capacity.py --workers 2
    .venv/bin/python bench/capacity.py --embedded
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from _capacity_report import report
from _common import (
    RESULTS,
    ROOT,
    Deadline,
    Processes,
    Profiler,
    code_version,
    percentile,
    result_header,
    terminate_on_sigterm,
)
from _meter import Cost, Meter
from _pgproxy import PgProxy
from _stack import Layout, Stack, Worker, through_proxy
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


# ---------------------------------------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------------------------------------


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
    row = capacity_row(n, direct, server, run.meter.cost(before, middle), cost, worker, args)
    tokens_streamed = len(server.latencies_ns)
    if tokens_streamed:
        row["worker_cpu_us_per_token"] = round((cost.workers_cpu_s - n * run.send_ms / 1000) / tokens_streamed * 1e6, 1)
    return row


def capacity_row(
    n: int, direct: Latencies, server: Latencies, direct_cost: Cost, cost: Cost, worker: Worker, args: Any
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
        "held": bool(gap["p99_ms"] <= args.capacity_bound_ms and not d["errors"] and not s["errors"]),
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


# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------


async def warm_up(run: Run) -> None:
    """A few sends per worker first: imports, pools and caches are not what a send costs."""
    errors: list[str] = []
    guests = run.guests("warm", 4 * len(run.workers))
    await prime(run, guests, run.route, errors)
    if errors:
        raise RuntimeError(f"the server does not answer sends: {errors[0]}")


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Every phase, in order; the send phases on workers whose database goes through the counting proxy."""
    proxy = None
    database_url = stack.layout.database_url
    if database_url:
        host = urlsplit(database_url)
        proxy = PgProxy(host.hostname or "127.0.0.1", host.port or 5432)
        database_url = through_proxy(database_url, await proxy.start())
    meter = Meter(stack.pids, proxy, stack.redis_url)
    run = Run(args, stack.session, meter, stack.upstream_url)
    result: dict[str, Any] = {"phase_seconds": run.seconds}
    try:
        meter.workers = await stack.start_workers(args.workers, database_url, "-sends" if proxy else "")
        await warm_up(run)
        result["idle_workers_cpu_per_s"] = round(await meter.measure_idle(), 4)
        if "sends" in args.phases:
            with run.timed("sends"):
                result["sends"] = await send_phases(run)
        if proxy is not None:
            await stack.stop_workers(meter.workers)
            await proxy.close()
            meter.workers = await stack.start_workers(args.workers, stack.layout.database_url)
            await warm_up(run)
            await meter.measure_idle()
        await latency_phases(run, result)
    finally:
        await meter.close()
        if proxy is not None:
            await proxy.close()
    return result


async def latency_phases(run: Run, result: dict[str, Any]) -> None:
    phases = run.args.phases
    run.send_ms = result.get("sends", {}).get("continue", {}).get("worker_cpu_ms_per_send", 0.0)
    if "tokens" in phases:
        with run.timed("tokens"):
            result["tokens"] = await token_phase(run)
    if "burst" in phases:
        with run.timed("burst"):
            result["burst"] = await burst_phase(run)
    if "capacity" in phases:
        with run.timed("capacity"):
            result["capacity"] = await capacity_search(run)


def errors_in(result: dict[str, Any]) -> int:
    """Every failed stream of every phase (a broken latency bound is a result, not an error)."""
    sends = result.get("sends", {})
    count = sum(sends[kind]["errors"] for kind in ("first_send", "continue", "new_chat") if kind in sends)
    count += result.get("tokens", {}).get("latency", {}).get("errors", 0)
    burst = result.get("burst", {})
    count += burst.get("direct", {}).get("errors", 0) + burst.get("server", {}).get("errors", 0)
    return int(count + sum(step["errors"] for step in result.get("capacity", {}).get("steps", [])))


async def run_all(args: argparse.Namespace, layout: Layout, processes: Processes, deadline: Deadline) -> Any:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        asyncio.timeout(deadline.left()),
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
    ):
        stack = Stack(layout, processes, deadline, session)
        print(f"starting: {layout.label}, {args.workers} worker(s) …", flush=True)
        if layout.private_redis:
            await stack.start_redis()
        await stack.start_upstream()
        await asyncio.to_thread(stack.prepare_database, upstream_models(args))
        return {**stack.describe(), **await measure(args, stack)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--workers", type=int, default=1, help="daphne processes; guest i always reaches worker i %% N (default 1)")
    add("--embedded", action="store_true", help="SQLite and the in-memory layer, no Redis (default: PG + Redis)")
    add("--database-url", default="postgres://postgres@127.0.0.1:5432/chatsite_capacity", help="scratch database")
    add("--phases", default=",".join(PHASES), help=f"which phases, in this order (default {','.join(PHASES)})")
    add("--sends", type=int, default=200, help="sends in each send phase (default 200)")
    add("--concurrency", type=int, default=8, help="sends at a time in the send phases and priming (default 8)")
    add("--token-streams", type=int, default=4, help="streams of the CPU-per-token phase (default 4)")
    add("--token-count", type=int, default=3000, help="tokens per stream in that phase (default 3000)")
    add("--token-interval-ms", type=int, default=1, help="gap between its tokens (default 1)")
    add("--burst", type=int, default=64, help="sends at once in the burst phase (default 64)")
    add("--burst-tokens", type=int, default=200, help="tokens per burst stream, one every 20 ms (default 200)")
    add("--capacity-steps", default="16,32,48,64,96,128,192,256", help="N to try, upward, on one worker")
    add("--capacity-tokens", type=int, default=600, help="tokens per capacity stream (default 600: 12 s)")
    add("--capacity-interval-ms", type=int, default=20, help="gap between them (default 20: 50 tokens/s)")
    add("--capacity-spread", type=float, default=10.0, help="seconds over which the N streams arrive (default 10)")
    add("--capacity-arrivals", choices=("poisson", "even"), default="poisson", help="arrival times (default poisson)")
    add("--capacity-bound-ms", type=float, default=40.0, help="added p99 a step must stay within (default 40)")
    add("--seed", type=int, default=1, help="seed of the Poisson arrivals (default 1)")
    add("--timeout", type=float, default=1800, help="hard limit for the whole run, seconds (default 1800)")
    add("--label", default="", help="a name for this run in the results file (bench/summarize.py LABEL)")
    add("--profile", default="", help="sample worker 1 with py-spy into this file (.svg, .json, else collapsed)")
    add("--profile-phase", default="tokens", choices=PROFILED, help="the phase sampled (default tokens)")
    add("--profile-args", default="", help="more py-spy record options, e.g. '--gil'")
    add("--show-statements", action="store_true", help="print the statements of a send (always in the JSON)")
    add("--keep", action="store_true", help="keep the scratch directory (logs, SQLite file)")
    args = parser.parse_args()
    args.phases = [phase for phase in args.phases.split(",") if phase]
    args.capacity_steps = [int(n) for n in args.capacity_steps.split(",") if n]
    if set(args.phases) - set(PHASES) or args.workers < 1 or min(args.sends, args.concurrency, args.burst) < 1:
        parser.error(f"--phases must name some of {', '.join(PHASES)}; counts must be positive")
    if args.capacity_tokens * args.capacity_interval_ms / 1000 <= args.capacity_spread:
        print("note: capacity streams end before the last one arrives: fewer than N are ever live at once")
    return args


def save(args: argparse.Namespace, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    layout = "embedded" if args.embedded else "postgres-redis"
    out = RESULTS / f"capacity-{stamp}-{layout}-{args.workers}w.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def main() -> int:
    args = parse_args()
    terminate_on_sigterm()
    deadline = Deadline(args.timeout)
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-capacity-"))
    processes = Processes(workdir)
    layout = Layout(database_url="" if args.embedded else args.database_url, private_redis=not args.embedded)
    try:
        load_before, code = os.getloadavg()[0], code_version()
        measured = asyncio.run(run_all(args, layout, processes, deadline))
        result = {**result_header(args, load_before, code), "workers": args.workers, **measured}
        result["errors"] = errors_in(result)
        report(result, statements=args.show_statements)
        print(f"results: {save(args, result).relative_to(ROOT)}")
        return 1 if result["errors"] else 0
    finally:
        processes.stop_all()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
