"""What a phase cost, read from outside the server: the CPU time of each process (``/proc``), what the counting
proxy saw go to PostgreSQL, and the private redis-server's ``INFO commandstats``."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _common import cpu_seconds
from _pgproxy import PgProxy
from _stack import Worker

TICK_S = 0.011  # /proc counts CPU in 10 ms ticks: a quiet half second shows at most one
OWN_COMMANDS = {"info"}  # the benchmark's own reads of the counters


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    postgres: dict[str, Any] | None
    redis: Counter[str] | None


@dataclass
class Cost:
    """The difference between two snapshots."""

    wall_s: float
    cpu_s: dict[str, float]  # per process, and "client" for this one
    workers_cpu_s: float  # all workers together, less what they spend idle in as long
    postgres: dict[str, int] | None
    redis: Counter[str] | None = field(default=None)
    statements: Counter[str] | None = field(default=None)  # by the start of their SQL

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": {name: round(value, 3) for name, value in self.cpu_s.items()},
            "workers_cpu_s": round(self.workers_cpu_s, 3),
            "postgres": self.postgres,
            "redis_commands": sum(self.redis.values()) if self.redis is not None else None,
            "redis_by_command": dict(self.redis.most_common()) if self.redis is not None else None,
        }


def _messages(snapshot: Snapshot) -> int:
    return snapshot.postgres["messages"] if snapshot.postgres is not None else 0


class Meter:
    """Reads the counters of the current workers, the other processes, the proxy and Redis."""

    def __init__(self, others: dict[str, int], proxy: PgProxy | None, redis_url: str) -> None:
        self.others, self.proxy = others, proxy
        self.workers: list[Worker] = []
        self.idle_cpu_per_s = 0.0
        self.redis: Any = None
        if redis_url:
            import redis.asyncio  # a dependency of the project; only needed with Redis

            self.redis = redis.asyncio.Redis.from_url(redis_url)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    def pids(self) -> dict[str, int]:
        return {**{worker.name: worker.pid for worker in self.workers}, **self.others}

    async def snapshot(self) -> Snapshot:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids().items()}
        cpu["client"] = time.process_time()
        postgres = self.proxy.counts.snapshot() if self.proxy is not None else None
        redis = await self._commandstats() if self.redis is not None else None
        return Snapshot(time.monotonic(), cpu, postgres, redis)

    async def _commandstats(self) -> Counter[str]:
        stats = await self.redis.info("commandstats")
        calls: Counter[str] = Counter()
        for key, value in stats.items():
            command = key.removeprefix("cmdstat_")
            if command not in OWN_COMMANDS:
                calls[command] = int(value["calls"])
        return calls

    def cost(self, before: Snapshot, after: Snapshot) -> Cost:
        wall = after.at - before.at
        cpu = {name: after.cpu[name] - before.cpu.get(name, 0.0) for name in after.cpu}
        workers = sum(cpu[worker.name] for worker in self.workers) - self.idle_cpu_per_s * wall
        postgres, statements = None, None
        if before.postgres is not None and after.postgres is not None:
            numbers = [key for key in after.postgres if key != "texts"]
            postgres = {key: after.postgres[key] - before.postgres[key] for key in numbers}
            statements = after.postgres["texts"] - before.postgres["texts"]
        redis = None
        if before.redis is not None and after.redis is not None:
            redis = after.redis.copy()
            redis.subtract(before.redis)
            redis = Counter({command: calls for command, calls in redis.items() if calls})
        return Cost(wall, cpu, max(workers, 0.0), postgres, redis, statements)

    async def measure_idle(self, seconds: float = 2.0) -> float:
        """What the workers spend doing nothing (timers, maintenance), CPU seconds per second, all together."""
        self.idle_cpu_per_s = 0.0
        before = await self.snapshot()
        await asyncio.sleep(seconds)
        cost = self.cost(before, await self.snapshot())
        self.idle_cpu_per_s = cost.workers_cpu_s / cost.wall_s
        return self.idle_cpu_per_s

    async def settle(self, quiet_s: float = 0.5, limit_s: float = 20.0) -> float:
        """Wait until the workers have done nothing for ``quiet_s`` (work after a stream ends, such as naming a
        new chat, is part of a send). Returns how long it waited."""
        start = time.monotonic()
        while time.monotonic() - start < limit_s:
            before = await self.snapshot()
            await asyncio.sleep(quiet_s)
            after = await self.snapshot()
            busy = sum(after.cpu[w.name] - before.cpu[w.name] for w in self.workers) > TICK_S
            talking = _messages(before) != _messages(after)
            if not busy and not talking:
                break
        return time.monotonic() - start
