"""How much latency nginx (docker/nginx.conf) adds to each streamed token, against reading the workers directly.

One run starts the fake OpenAI upstream, W daphne workers and a real nginx rendered from docker/nginx.conf by
tests/e2e/nginx.py (the test's renderer), then alternates, round after round:

(a) direct: N concurrent sends, guest i reading worker i mod W;
(b) through nginx: the same N sends (same guests, same chats) read through the proxy.

Every token's text is the time the fake sent it (``fake:...:stamp``), so its latency is its arrival time in this
client minus that stamp. Added = (b) - (a), percentile by percentile, over all rounds. Alternating the phases
spreads the machine's other load over both. The processes and helpers are those of stream_overhead.py.

    .venv/bin/python bench/proxy_overhead.py --streams 8 --tokens 100 --rounds 5
    .venv/bin/python bench/proxy_overhead.py --workers 2 --redis-url redis://127.0.0.1:6379/0 \\
        --database-url postgres://postgres@127.0.0.1:5432/chatsite_bench
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

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench._common import machine, server_argv  # noqa: E402
from bench.stream_overhead import (  # noqa: E402
    BENCH_MODEL,
    PRIME_MODEL,
    PYTHON,
    RESULTS,
    Deadline,
    Phase,
    Processes,
    code_version,
    free_port,
    health_ok,
    port_open,
    prepare_database,
    redis_cleanup,
    run_phase,
    send_through,
    server_env,
    stats,
    wait_until,
)
from tests.e2e.nginx import Nginx  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=8, help="concurrent streams per phase (default 8)")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per stream (default 100)")
    parser.add_argument("--token-interval-ms", type=int, default=20, help="gap between tokens (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="direct/proxy pairs of phases (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="daphne processes behind nginx (default 1)")
    parser.add_argument("--redis-url", default="", help="REDIS_URL of the workers (needed for --workers > 1)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--timeout", type=float, default=300, help="hard limit for the whole run, seconds")
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    args = parser.parse_args()
    if args.workers > 1 and not args.redis_url:
        parser.error("several workers need --redis-url (without Redis each treats the others' answers as lost)")
    return args


async def measure(args: argparse.Namespace, direct_urls: list[str], proxy_url: str, pids: dict[str, int]) -> Any:
    connector = aiohttp.TCPConnector(limit=max(args.streams * 2, 100))
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    anon_ids = [f"bench-proxy-{os.getpid():x}-{i:03d}" for i in range(args.streams)]
    direct, proxied = Phase("direct"), Phase("proxy")
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        prime_errors: list[str] = []
        chats = await asyncio.gather(
            *(
                send_through(
                    session,
                    direct_urls[i % len(direct_urls)],
                    anon,
                    {"model": PRIME_MODEL, "content": "hi"},
                    prime_errors,
                )
                for i, anon in enumerate(anon_ids)
            )
        )
        await asyncio.sleep(1.0)  # the chat titles are asked for after each prime stream ends
        for _ in range(args.rounds):
            for phase, route in ((direct, lambda i: direct_urls[i % len(direct_urls)]), (proxied, lambda i: proxy_url)):
                sends = [
                    send_through(
                        session,
                        route(i),
                        anon,
                        {"model": BENCH_MODEL, "content": "hi", **({"chat_id": chat} if chat else {})},
                        phase.errors,
                        phase,
                        args.tokens,
                    )
                    for i, (anon, chat) in enumerate(zip(anon_ids, chats, strict=True))
                ]
                await run_phase(phase, pids, sends)
    return direct, proxied, prime_errors


def report(args: argparse.Namespace, direct: dict[str, Any], proxied: dict[str, Any]) -> dict[str, float]:
    added = {key: round(proxied[key] - direct[key], 3) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")}
    print()
    print("| per-token latency (ms) | p50 | p90 | p99 | max | mean | tokens | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in (("workers directly", direct), ("through nginx", proxied), ("**added by nginx**", added)):
        counts = f"| {row['tokens']} | {row['errors']} |" if "tokens" in row else "| | |"
        print(
            f"| {name} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['p99_ms']:.2f} | {row['max_ms']:.2f} "
            f"| {row['mean_ms']:.2f} {counts}"
        )
    print()
    print(f"{args.rounds} rounds of {args.streams} streams x {args.tokens} tokens every {args.token_interval_ms} ms")
    for name, row in (("direct", direct), ("proxy", proxied)):
        first = row["first_token_ms"]
        print(
            f"{name}: request to first token p50 {first['p50']} ms, max {first['max']} ms; "
            f"errors {row['error_samples']}"
        )
    return added


def main() -> int:
    args = parse_args()
    deadline = Deadline(args.timeout)
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-bench-proxy-"))
    processes = Processes(workdir)
    nginx: Nginx | None = None
    env: dict[str, str] = {}
    try:
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        sqlite_path = None if args.database_url else workdir / "bench.sqlite3"
        env = {**server_env(args, sqlite_path, upstream_url), "TRUSTED_PROXY_COUNT": "1"}
        prepare_database(args, env, upstream_url, deadline)
        fake = processes.start(
            "upstream", [PYTHON, "-m", "tests.fakes.upstream", "--port", str(upstream_port)], os.environ.copy()
        )
        wait_until(lambda: port_open(upstream_port), fake, "the fake upstream", deadline, 30)
        pids, ports = {"upstream": fake.pid}, []
        for index in range(args.workers):
            port = free_port()
            argv = server_argv(port)
            daphne = processes.start(f"daphne-{index + 1}", argv, env)
            wait_until(lambda port=port: health_ok(f"http://127.0.0.1:{port}"), daphne, "daphne", deadline, 60)
            pids[f"daphne-{index + 1}"], ports = daphne.pid, [*ports, port]
        nginx = Nginx(ports).start()
        direct_urls = [f"http://127.0.0.1:{port}" for port in ports]
        print(f"measuring {args.rounds} x ({args.streams} direct, {args.streams} through nginx) …", flush=True)

        async def bounded() -> Any:
            async with asyncio.timeout(deadline.left()):
                return await measure(args, direct_urls, nginx.url, pids)

        load_before = os.getloadavg()[0]
        direct, proxied, prime_errors = asyncio.run(bounded())
        d, p = stats(direct, args.tokens), stats(proxied, args.tokens)
        added = report(args, d, p)
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"proxy_overhead-{stamp}-{args.streams}x{args.tokens}.json"
        result = {
            "label": args.label,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "args": vars(args),
            "code": code_version(),
            "machine": {**machine(), "loadavg_1m_before": load_before, "loadavg_1m_after": os.getloadavg()[0]},
            "direct": d,
            "proxy": p,
            "added": added,
            "prime_errors": prime_errors[:10],
        }
        path.write_text(json.dumps(result, indent=2))
        print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; written to {path}")
        return 0 if not (direct.errors or proxied.errors) else 1
    finally:
        if nginx is not None:
            nginx.stop()
        processes.stop_all()
        if args.redis_url and env:
            redis_cleanup(args.redis_url, env["REDIS_PREFIX"])
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
