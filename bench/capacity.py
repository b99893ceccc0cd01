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
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
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
    code_version,
    result_header,
    terminate_on_sigterm,
)
from _meter import Meter
from _pgproxy import PgProxy
from _phases import PHASES, PROFILED, Run, burst_phase, send_phases, token_phase, upstream_models, warm_up
from _search import capacity_search
from _stack import Layout, Stack, through_proxy

# ---------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Every phase, in order; the send phases on workers whose database goes through the counting proxy."""
    proxy = None
    database_url = stack.layout.database_url
    if database_url and "sends" in args.phases:
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
    add("--token-streams", type=int, default=8, help="streams of the CPU-per-token phase (default 8)")
    add("--token-count", type=int, default=2000, help="tokens per stream in that phase (default 2000)")
    add("--token-interval-ms", type=int, default=4, help="gap between its tokens (default 4: 2000 tokens/s)")
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
    except TimeoutError:
        print(f"the run did not finish within --timeout {args.timeout:g} s", file=sys.stderr)
        return 2
    finally:
        processes.stop_all()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
