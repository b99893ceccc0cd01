"""Memory of one worker replaying a long finished answer to many readers at once.

One run starts a private redis-server, the fake OpenAI upstream and one worker on PostgreSQL (or ``--embedded``),
has a guest ask for an answer of about ``--answer-mb`` megabytes, reads it to the end, then makes ``--rounds``
rounds of ``--readers`` concurrent replays of it from ``Last-Event-ID: 0`` (each read to the end and checked),
sampling the worker's resident memory every 20 ms. It reports the worker's memory before the replays, the peak of
each round above that, and the memory after each round (a steady climb across rounds would be a leak).

    .venv/bin/python bench/replay_memory.py                      # PostgreSQL + Redis, 20 readers, 5 rounds
    .venv/bin/python bench/replay_memory.py --readers 50 --answer-mb 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import Deadline, Processes, terminate_on_sigterm
from _stack import Layout, Stack, Worker

WORD_CHARS = 2000
SAMPLE_SECONDS = 0.02
END = b"event: assistant_complete"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def read_stream(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, bool]:
    """The size of a stream read to its end chunk by chunk, and whether it held the answer's end."""
    size, tail, ended = 0, b"", False
    async with session.get(url, headers=headers) as response:
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            ended = ended or END in tail + chunk
            tail = chunk[-64:]
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
    return size, ended


async def make_answer(session: aiohttp.ClientSession, worker: Worker, headers: dict[str, str]) -> tuple[str, int]:
    body = {"model": "long", "content": "a long answer, please"}
    head, size = b"", 0
    async with session.post(f"{worker.url}/api/v1/messages/send", json=body, headers=headers) as response:
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            head = head or chunk
    typing = next(line for line in head.split(b"\n") if line.startswith(b"data: ") and b'"message_id"' in line)
    return json.loads(typing[6:])["message_id"], size


async def replay_round(session: aiohttp.ClientSession, url: str, headers: dict[str, str], readers: int) -> list[int]:
    replies = await asyncio.gather(*(read_stream(session, url, headers) for _ in range(readers)))
    for size, ended in replies:
        if not ended:
            raise RuntimeError(f"a replay of {size} bytes did not hold the end of the answer")
    return [size for size, _ in replies]


async def sample_peak(pid: int, stop: asyncio.Event) -> float:
    peak = rss_mb(pid)
    while not stop.is_set():
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(SAMPLE_SECONDS)
    return peak


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    (worker,) = await stack.start_workers(1, stack.layout.database_url)
    headers = {"x-anon-id": f"bench-replay-{int(time.time())}", "Last-Event-ID": "0"}
    message_id, sent = await make_answer(stack.session, worker, {"x-anon-id": headers["x-anon-id"]})
    url = f"{worker.url}/api/v1/messages/{message_id}/stream"
    await asyncio.sleep(1)
    before = rss_mb(worker.pid)
    rounds = []
    for number in range(args.rounds):
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(worker.pid, stop))
        started = time.monotonic()
        sizes = await replay_round(stack.session, url, headers, args.readers)
        seconds = time.monotonic() - started
        stop.set()
        peak = await sampler
        await asyncio.sleep(0.5)
        after = rss_mb(worker.pid)
        rounds.append({"peak_mb": round(peak, 1), "after_mb": round(after, 1), "seconds": round(seconds, 2)})
        print(f"round {number + 1}: peak {peak:.0f} MB, after {after:.0f} MB, {seconds:.2f} s, {sizes[0]:,} B each")
    return {"answer_bytes_sent": sent, "readers": args.readers, "rss_before_mb": round(before, 1), "rounds": rounds}


async def run(args: argparse.Namespace, layout: Layout, processes: Processes, deadline: Deadline) -> Any:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    async with (
        asyncio.timeout(deadline.left()),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session,
    ):
        stack = Stack(layout, processes, deadline, session)
        if layout.private_redis:
            await stack.start_redis()
        await stack.start_upstream()
        tokens = max(1, int(args.answer_mb * 1_000_000 / WORD_CHARS))
        models = {"long": f"fake:tokens={tokens}:word_chars={WORD_CHARS}"}
        await asyncio.to_thread(stack.prepare_database, models)
        return {**stack.describe(), **await measure(args, stack)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--embedded", action="store_true", help="SQLite and the in-memory layer, no Redis (default: PG + Redis)")
    add("--database-url", default="postgres://postgres@127.0.0.1:5432/chatsite_replay", help="scratch database")
    add("--answer-mb", type=float, default=5.4, help="length of the answer, MB (default 5.4)")
    add("--readers", type=int, default=20, help="concurrent replays per round (default 20)")
    add("--rounds", type=int, default=5, help="rounds (default 5)")
    add("--timeout", type=float, default=600, help="hard limit for the whole run, seconds (default 600)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    terminate_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="chatsite-replay-"))
    processes = Processes(workdir)
    layout = Layout(database_url="" if args.embedded else args.database_url, private_redis=not args.embedded)
    try:
        result = asyncio.run(run(args, layout, processes, Deadline(args.timeout)))
        peaks = [r["peak_mb"] - result["rss_before_mb"] for r in result["rounds"]]
        print(json.dumps(result, indent=2))
        print(f"peak above the start, median of rounds: {statistics.median(peaks):.0f} MB")
        return 0
    finally:
        processes.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
