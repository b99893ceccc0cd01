"""How much latency the server adds to each streamed token, at N concurrent streams.

One run starts everything it needs as subprocesses: a scratch database (temporary SQLite unless
``--database-url``), the fake OpenAI upstream (``tests.fakes.upstream``) and one daphne process. It then
measures, one after the other:

(a) direct: N concurrent completions read straight from the fake upstream;
(b) through the server: N concurrent ``POST /api/v1/messages/send`` read as Server-Sent Events.

The fake stamps every token with ``time.time_ns()`` when it sends it, so the latency of a token is its arrival
time in this client minus its stamp. The added latency is (b) minus (a), percentile by percentile: the client's
own cost of reading N streams is in both.

Django is never imported here: the database is prepared by ``manage.py`` subprocesses. Run it with
``make bench`` or ``.venv/bin/python bench/stream_overhead.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    PYTHON,
    RESULTS,
    ROOT,
    Deadline,
    Processes,
    Profiler,
    code_version,
    cpu_seconds,
    free_port,
    p99_by_second,
    percentile,
    port_open,
    result_header,
    server_argv,
    terminate_on_sigterm,
    worker_name,
)

BENCH_MODEL = "bench-stamp"
PRIME_MODEL = "bench-prime"
PERCENTILES = (50, 90, 99)
WRITES_METRIC = "chatsite_redis_stream_writes_total"


# ---------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------


def redis_cleanup(url: str, prefix: str) -> None:
    """Delete the keys this run's server wrote (stream logs expire anyway; this keeps a shared Redis tidy)."""
    import redis  # a dependency of the project; only needed with --redis-url

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def server_env(args: argparse.Namespace, sqlite_path: Path | None, upstream_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        # As in production: debug off (with it on, Django also records every SQL query it runs).
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
        "LOG_LEVEL": "WARNING",
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": "bench",
        "ANON_MESSAGE_LIMIT": "1000000",
        "ANON_IP_LIMIT": "1000000",
        "DATABASE_URL": args.database_url or "",
        "REDIS_URL": args.redis_url or "",
        "REDIS_PREFIX": f"bench-{os.getpid()}-{int(time.time())}",  # never touch another run's keys
        "PYTHONUNBUFFERED": "1",
    }
    if sqlite_path is not None:
        env["SQLITE_PATH"] = str(sqlite_path)
    return env


SEED = """
from messaging.models import LanguageModel
for name, upstream in {models!r}:
    LanguageModel.objects.update_or_create(
        name=name,
        defaults=dict(
            provider="openai", upstream_model=upstream, base_url={base_url!r}, input_price=0, output_price=0,
            max_output_tokens={max_tokens}, anonymous_allowed=True, enabled=True, is_default=False,
        ),
    )
print("seeded", LanguageModel.objects.filter(name__startswith="bench-").count())
"""


def prepare_database(args: argparse.Namespace, env: dict[str, str], upstream_url: str, deadline: Deadline) -> None:
    """Migrate the scratch database and add the fake models, in subprocesses (Django stays out of here)."""
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=deadline.left())
    models = [
        (BENCH_MODEL, f"fake:tokens={args.tokens}:delay_ms={args.token_interval_ms}:stamp"),
        (PRIME_MODEL, "fake:tokens=2:stamp"),
    ]
    code = SEED.format(models=models, base_url=upstream_url, max_tokens=max(1024, args.tokens))
    subprocess.run([*manage, "shell", "-c", code], cwd=ROOT, env=env, check=True, timeout=deadline.left())


def wait_until(ready: Any, process: subprocess.Popen[bytes], what: str, deadline: Deadline, limit: float) -> None:
    end = time.monotonic() + min(limit, deadline.left())
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start (code {process.returncode})")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready")


def health_ok(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
        return response.status == 200


# ---------------------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies_ns: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # each token's index in its stream
    arrivals_ns: list[int] = field(default_factory=list)  # when each token arrived (time.time_ns())
    streams_ok: int = 0
    first_token_ms: list[float] = field(default_factory=list)  # from the request to its first token
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    duration_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)

    def stamp(self, text: str, arrived_ns: int, position: int) -> bool:
        try:
            self.latencies_ns.append(arrived_ns - int(text.strip()))
        except ValueError:
            self.errors.append(f"a token that is not a stamp: {text[:40]!r}")
            return False
        self.positions.append(position)
        self.arrivals_ns.append(arrived_ns)
        return True


async def read_direct(session: aiohttp.ClientSession, url: str, model: str, tokens: int, phase: Phase) -> None:
    """One completion straight from the fake: every ``data:`` line with content is one token."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    seen, sent = 0, time.time_ns()
    try:
        async with session.post(f"{url}/chat/completions", json=body) as response:
            if response.status != 200:
                phase.errors.append(f"direct: HTTP {response.status}")
                return
            async for raw in response.content:
                arrived = time.time_ns()
                line = raw.strip()
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                for choice in json.loads(line[6:]).get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        if not seen:
                            phase.first_token_ms.append((arrived - sent) / 1e6)
                        seen += phase.stamp(content, arrived, seen)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        phase.errors.append(f"direct: {type(exc).__name__}: {exc}")
        return
    if seen == tokens:
        phase.streams_ok += 1
    else:
        phase.errors.append(f"direct: {seen} of {tokens} tokens")


async def read_with_sdk(client: Any, model: str, tokens: int, phase: Phase) -> None:
    """One completion read by the official ``openai`` client, as the server's provider reads it."""
    seen, sent = 0, time.time_ns()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for chunk in stream:
                arrived = time.time_ns()
                for choice in chunk.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        if not seen:
                            phase.first_token_ms.append((arrived - sent) / 1e6)
                        seen += phase.stamp(choice.delta.content, arrived, seen)
    except Exception as exc:  # any failure is counted, the run goes on
        phase.errors.append(f"sdk: {type(exc).__name__}: {exc}")
        return
    if seen == tokens:
        phase.streams_ok += 1
    else:
        phase.errors.append(f"sdk: {seen} of {tokens} tokens")


async def sdk_phase(args: argparse.Namespace, upstream_url: str, model: str, pids: dict[str, int]) -> Phase:
    """(c), with ``--sdk-baseline``: the openai client alone, in this process, on the same streams."""
    import openai  # a dependency of the project; only needed for this diagnostic

    client = openai.AsyncOpenAI(base_url=upstream_url, api_key="bench", max_retries=0)
    phase = Phase("sdk")
    client_cpu = time.process_time()
    try:
        await run_phase(phase, pids, [read_with_sdk(client, model, args.tokens, phase) for _ in range(args.streams)])
    finally:
        await client.close()
    phase.cpu_s["client"] = round(time.process_time() - client_cpu, 3)
    return phase


async def send_through(
    session: aiohttp.ClientSession,
    url: str,
    anon_id: str,
    content: dict[str, Any],
    errors: list[str],
    phase: Phase | None = None,
    tokens: int = 0,
) -> str | None:
    """One send read as SSE; deltas are stamps when ``phase`` is given. The chat id of a complete answer."""
    headers = {"x-anon-id": anon_id, "Accept": "text/event-stream"}
    name, seen, chat_id, complete, sent = "message", 0, None, False, time.time_ns()
    label = "server" if phase is not None else "prime"
    try:
        async with session.post(f"{url}/api/v1/messages/send", json=content, headers=headers) as response:
            if response.status != 200:
                body = " ".join((await response.text()).split())
                errors.append(f"{label}: HTTP {response.status}: {body[:200]}")
                return None
            async for raw in response.content:
                arrived = time.time_ns()
                line = raw.rstrip(b"\r\n")
                if line.startswith(b"event: "):
                    name = line[7:].decode()
                elif line.startswith(b"data: "):
                    data = json.loads(line[6:])
                    if name == "assistant_delta":
                        chat_id = data.get("chat_id")
                        if phase is not None:
                            if not seen:
                                phase.first_token_ms.append((arrived - sent) / 1e6)
                            seen += phase.stamp(data["delta"], arrived, seen)
                    elif name == "assistant_complete":
                        complete, chat_id = True, data.get("chat_id", chat_id)
                    elif name == "assistant_error":
                        errors.append(f"{label}: assistant_error {data}")
                elif not line:
                    name = "message"
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        errors.append(f"{label}: {type(exc).__name__}: {exc}")
        return None
    if not complete:
        errors.append(f"{label}: the stream ended without assistant_complete")
        return None
    if phase is not None and seen != tokens:
        errors.append(f"{label}: {seen} of {tokens} tokens")
    elif phase is not None:
        phase.streams_ok += 1
    return chat_id


async def scrape_metrics(session: aiohttp.ClientSession, urls: list[str], metric: str) -> float | None:
    """A counter summed over every worker (each counts its own)."""
    total = 0.0
    for url in urls:
        async with session.get(f"{url}/metrics") as response:
            text = await response.text()
        match = re.search(rf"^{metric} (\S+)$", text, re.MULTILINE)
        if match is None:
            return None
        total += float(match.group(1))
    return total


async def run_phase(
    phase: Phase, pids: dict[str, int], coroutines: list[Any], profiler: Profiler | None = None
) -> None:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if profiler is not None:
        profiler.start()
    phase.started = time.monotonic()
    try:
        await asyncio.gather(*coroutines)
    finally:
        if profiler is not None:
            profiler.stop()
    phase.duration_s = time.monotonic() - phase.started
    phase.cpu_s = {name: round(cpu_seconds(pid) - before[name], 3) for name, pid in pids.items()}


async def measure(
    args: argparse.Namespace, upstream_url: str, server_urls: list[str], pids: dict[str, int]
) -> dict[str, Any]:
    n, tokens = args.streams, args.tokens
    model = f"fake:tokens={tokens}:delay_ms={args.token_interval_ms}:stamp"
    connector = aiohttp.TCPConnector(limit=max(n * 2, 100), force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    run_id = f"{os.getpid():x}{int(time.time()) % 100000:x}"
    anon_ids = [f"bench-{run_id}-{i:04d}" for i in range(n)]

    def route(stream: int) -> str:
        """Like a load balancer with sticky sessions: each guest always reaches the same worker."""
        return server_urls[stream % len(server_urls)]

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Prime: one small send per anonymous id creates its chat (and lets the server name it, warm its
        # upstream connection pool and its thread pool) so the measured sends go to existing chats and no
        # chat-title request to the upstream runs during the measurement.
        prime_errors: list[str] = []
        chat_ids = await asyncio.gather(
            *(
                send_through(session, route(i), anon, {"model": PRIME_MODEL, "content": "hi"}, prime_errors)
                for i, anon in enumerate(anon_ids)
            )
        )
        await asyncio.sleep(1.0)  # the chat titles are asked for after each prime stream ends

        direct = Phase("direct")
        client_cpu = time.process_time()
        await run_phase(direct, pids, [read_direct(session, upstream_url, model, tokens, direct) for _ in range(n)])
        direct.cpu_s["client"] = round(time.process_time() - client_cpu, 3)
        sdk = await sdk_phase(args, upstream_url, model, pids) if args.sdk_baseline else None

        writes_before = await scrape_metrics(session, server_urls, WRITES_METRIC)
        server = Phase("server")
        client_cpu = time.process_time()
        sends = [
            send_through(
                session,
                route(i),
                anon,
                {"model": BENCH_MODEL, "content": "hi", **({"chat_id": chat} if chat else {})},
                server.errors,
                server,
                tokens,
            )
            for i, (anon, chat) in enumerate(zip(anon_ids, chat_ids, strict=True))
        ]
        first_worker = pids[worker_name(0, args.workers)]
        profiler = Profiler(args.profile, first_worker, args.profile_args) if args.profile else None
        await run_phase(server, pids, sends, profiler)
        server.cpu_s["client"] = round(time.process_time() - client_cpu, 3)
        writes_after = await scrape_metrics(session, server_urls, WRITES_METRIC)
    result = summarize(args, direct, server, writes_before, writes_after, prime_errors)
    if sdk is not None:
        result["sdk"] = stats(sdk, tokens)
    return result


# ---------------------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------------------


def by_position(phase: Phase, tokens: int, buckets: int = 10) -> list[float]:
    """p50 latency (ms) of the tokens in each tenth of the streams: a growing backlog shows as a slope."""
    groups: list[list[int]] = [[] for _ in range(buckets)]
    for position, latency in zip(phase.positions, phase.latencies_ns, strict=True):
        groups[min(buckets - 1, position * buckets // max(tokens, 1))].append(latency)
    return [round(percentile(sorted(group), 50), 2) for group in groups if group]


def stats(phase: Phase, tokens: int) -> dict[str, Any]:
    values = sorted(phase.latencies_ns) or [0]  # no token at all shows as zeros next to its error count
    out: dict[str, Any] = {f"p{p}_ms": round(percentile(values, p), 3) for p in PERCENTILES}
    out["max_ms"] = round(values[-1] / 1e6, 3)
    out["mean_ms"] = round(sum(values) / len(values) / 1e6, 3)
    out.update(
        tokens=len(phase.latencies_ns),
        streams_ok=phase.streams_ok,
        errors=len(phase.errors),
        error_samples=phase.errors[:10],
        duration_s=round(phase.duration_s, 3),
        cpu_s=phase.cpu_s,
        p50_ms_by_tenth_of_stream=by_position(phase, tokens),
        p99_ms_by_second=p99_by_second(phase.arrivals_ns, phase.latencies_ns),
        first_token_ms={
            "p50": round(statistics.median(phase.first_token_ms), 1) if phase.first_token_ms else None,
            "max": round(max(phase.first_token_ms), 1) if phase.first_token_ms else None,
        },
    )
    return out


def summarize(
    args: argparse.Namespace,
    direct: Phase,
    server: Phase,
    writes_before: float | None,
    writes_after: float | None,
    prime_errors: list[str],
) -> dict[str, Any]:
    d, s = stats(direct, args.tokens), stats(server, args.tokens)
    added = {key: round(s[key] - d[key], 3) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}
    writes: dict[str, Any] = {"before": writes_before, "after": writes_after}
    if args.redis_url and writes_before is not None and writes_after is not None and server.duration_s:
        delta = writes_after - writes_before
        writes.update(
            delta=delta,
            per_stream=round(delta / args.streams, 1),
            per_second_per_stream=round(delta / server.duration_s / args.streams, 2),
        )
    return {
        "direct": d,
        "server": s,
        "added": added,
        "target_p99_added_ms": args.target_ms,
        "target_met": bool(added["p99_ms"] < args.target_ms and not direct.errors and not server.errors),
        "redis_stream_writes": writes,
        "prime_errors": len(prime_errors),
        "prime_error_samples": prime_errors[:10],
    }


def table(result: dict[str, Any]) -> str:
    d, s, a = result["direct"], result["server"], result["added"]
    rows = [
        "| per-token latency (ms) | p50 | p90 | p99 | max | tokens | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| direct from the fake | {d['p50_ms']:.2f} | {d['p90_ms']:.2f} | {d['p99_ms']:.2f} | {d['max_ms']:.2f} "
        f"| {d['tokens']} | {d['errors']} |",
        f"| through the server | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} "
        f"| {s['tokens']} | {s['errors']} |",
        *(
            [
                f"| openai client alone (diagnostic) | {k['p50_ms']:.2f} | {k['p90_ms']:.2f} | {k['p99_ms']:.2f} "
                f"| {k['max_ms']:.2f} | {k['tokens']} | {k['errors']} |"
            ]
            if (k := result.get("sdk"))
            else []
        ),
        f"| **added by the server** | **{a['p50_ms']:.2f}** | {a['p90_ms']:.2f} | **{a['p99_ms']:.2f}** "
        f"| {a['max_ms']:.2f} | | |",
    ]
    return "\n".join(rows)


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    print()
    print(table(result))
    print()
    writes = result["redis_stream_writes"]
    if "per_second_per_stream" in writes:
        print(
            f"Redis stream writes: {writes['delta']:.0f} in {result['server']['duration_s']:.1f} s for "
            f"{args.streams} streams = {writes['per_stream']} per stream, "
            f"{writes['per_second_per_stream']} per second per stream"
        )
    else:
        print("Redis stream writes: not measured (no --redis-url)")
    for name in ("direct", "sdk", "server"):
        if name not in result:
            continue
        phase = result[name]
        cpu = ", ".join(f"{who} {sec:.1f}" for who, sec in phase["cpu_s"].items())
        done = f"{phase['streams_ok']}/{args.streams} streams complete in {phase['duration_s']:.1f} s"
        print(f"{name}: {done}; CPU seconds: {cpu}")
        print(f"  p50 ms by tenth of the stream: {phase['p50_ms_by_tenth_of_stream']}")
        print(f"  p99 ms by second of the phase: {phase['p99_ms_by_second']}")
        first = phase["first_token_ms"]
        print(f"  request to first token, ms: p50 {first['p50']}, max {first['max']}")
        for sample in phase["error_samples"]:
            print(f"  error: {sample}")
    for sample in result["prime_error_samples"]:
        print(f"  prime error: {sample}")
    box = result["machine"]
    print(
        f"machine: {box['nproc']} CPUs, Python {box['python']}, 1-minute load average "
        f"{box['loadavg_1m_before']:.2f} before, {box['loadavg_1m_after']:.2f} after (other work shares these CPUs)"
    )
    dirty = result["code"]["uncommitted_changes"]
    print(
        f"code: commit {result['code']['commit']}"
        + (f" with uncommitted changes in {', '.join(dirty)}" if dirty else "")
    )
    verdict = "MET" if result["target_met"] else "MISSED"
    print(f"Target (p99 added < {args.target_ms:g} ms, no errors): {verdict}")


# ---------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams (default 64)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per stream (default 200)")
    parser.add_argument("--token-interval-ms", type=int, default=20, help="gap between tokens (default 20)")
    parser.add_argument("--redis-url", default="", help="run the server with REDIS_URL (default: no Redis)")
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="daphne processes, each on its own port; guest i always reaches worker i %% N (default 1)",
    )
    parser.add_argument("--port", type=int, default=0, help="daphne's port, N ports from there (default: free ones)")
    parser.add_argument("--upstream-port", type=int, default=0, help="the fake's port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=300, help="hard limit for the whole run, seconds")
    parser.add_argument("--target-ms", type=float, default=10.0, help="p99 added latency target (default 10)")
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument(
        "--profile", default="", help="sample daphne with py-spy during (b) into this file (.svg, .json or .txt)"
    )
    parser.add_argument(
        "--sdk-baseline",
        action="store_true",
        help="also read the streams with the openai client in this process (its own cost, without the server)",
    )
    parser.add_argument("--profile-args", default="", help="more py-spy record options, e.g. '--gil --idle'")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, database)")
    args = parser.parse_args()
    if args.streams < 1 or args.tokens < 1 or args.token_interval_ms < 0:
        parser.error("--streams and --tokens must be positive, --token-interval-ms not negative")
    return args


def main() -> int:
    args = parse_args()
    terminate_on_sigterm()
    deadline = Deadline(args.timeout)
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-bench-"))
    processes = Processes(workdir)
    env: dict[str, str] = {}
    try:
        upstream_port = args.upstream_port or free_port()
        server_ports = [args.port + i if args.port else free_port() for i in range(args.workers)]
        upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
        server_urls = [f"http://127.0.0.1:{port}" for port in server_ports]
        sqlite_path = None if args.database_url else workdir / "bench.sqlite3"
        env = server_env(args, sqlite_path, upstream_url)

        print(f"preparing the database ({args.database_url or sqlite_path}) …", flush=True)
        prepare_database(args, env, upstream_url, deadline)

        fake = processes.start(
            "upstream", [PYTHON, "-m", "tests.fakes.upstream", "--port", str(upstream_port)], os.environ.copy()
        )
        wait_until(lambda: port_open(upstream_port), fake, "the fake upstream", deadline, 30)
        pids = {"upstream": fake.pid}
        for index, (port, url) in enumerate(zip(server_ports, server_urls, strict=True)):
            name = worker_name(index, args.workers)
            daphne = processes.start(name, server_argv(port), env)
            try:
                wait_until(lambda url=url: health_ok(url), daphne, name, deadline, 60)
            except RuntimeError:
                print(processes.log_tail(name), file=sys.stderr)
                raise
            pids[name] = daphne.pid

        print(
            f"measuring {args.streams} streams x {args.tokens} tokens every {args.token_interval_ms} ms "
            f"on {args.workers} worker(s) "
            f"({'Redis ' + args.redis_url if args.redis_url else 'no Redis'}) …",
            flush=True,
        )

        async def bounded() -> dict[str, Any]:
            async with asyncio.timeout(deadline.left()):
                return await measure(args, upstream_url, server_urls, pids)

        load_before, code = os.getloadavg(), code_version()
        result = asyncio.run(bounded())
        result = {**result_header(args, load_before[0], code), **result}
        report(args, result)
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        flavour = ("-redis" if args.redis_url else "") + ("-postgres" if args.database_url else "")
        flavour += f"-{args.workers}workers" if args.workers > 1 else ""
        out = RESULTS / f"stream_overhead-{stamp}-{args.streams}x{args.tokens}{flavour}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"results: {out.relative_to(ROOT)}")
        for index in range(args.workers):
            name = worker_name(index, args.workers)
            server_log = processes.log_tail(name, 30)
            if server_log.strip():
                print(f"{name} log, last lines other than access lines:\n" + server_log)
        # A missed target is a result, not a failure of the tool; errors in the streams are.
        return 1 if result["direct"]["errors"] or result["server"]["errors"] else 0
    finally:
        processes.stop_all()
        if args.redis_url and env:
            with contextlib.suppress(Exception):
                redis_cleanup(args.redis_url, env["REDIS_PREFIX"])
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
