"""The processes a capacity run measures, started and stopped from outside: a scratch database, a private
redis-server, the fake OpenAI upstream and daphne workers.

Django is never imported here. The database is migrated and the benchmark's models are added with
``manage.py migrate`` and ``manage.py import_models`` (the operator's commands), in subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from _common import PYTHON, ROOT, Deadline, Processes, free_port, port_open, server_argv, worker_name


@dataclass(frozen=True)
class Worker:
    name: str
    url: str
    pid: int


@dataclass(frozen=True)
class Layout:
    """Where the server keeps its rows and shares its streams: PostgreSQL + Redis, or the embedded defaults."""

    database_url: str  # empty: a SQLite file in the scratch directory
    private_redis: bool

    @property
    def label(self) -> str:
        return "PostgreSQL + Redis" if self.database_url else "embedded (SQLite, in-memory layer)"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def database_create(url: str) -> None:
    """Create the scratch database if it is missing (never drops one)."""
    import psycopg  # a dependency of the project; only needed on PostgreSQL

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def through_proxy(url: str, port: int) -> str:
    """The same database reached through the counting proxy (without TLS, so the proxy can read it)."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = "&".join(filter(None, [parts.query, "sslmode=disable"]))
    return urlunsplit((parts.scheme, f"{auth}127.0.0.1:{port}", parts.path, query, ""))


def models_file(workdir: Path, upstream_url: str, models: dict[str, str]) -> Path:
    """The benchmark's models for ``import_models``: free, open to guests, all on the fake upstream."""
    items = [
        {
            "name": name,
            "provider": "openai",
            "upstream_model": upstream,
            "base_url": upstream_url,
            "input_price": 0,
            "output_price": 0,
            "max_output_tokens": 100_000,
            "anonymous_allowed": True,
            "enabled": True,
        }
        for name, upstream in models.items()
    ]
    path = workdir / "bench-models.json"
    path.write_text(json.dumps(items, indent=2))
    return path


async def wait_ready(
    ready: Callable[[], Awaitable[bool]], process: subprocess.Popen[bytes], what: str, limit: float
) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start (code {process.returncode})")
        try:
            if await ready():
                return
        except (OSError, aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{what} did not become ready in {limit:.0f} s")


class Stack:
    """Starts the parts of one run; ``processes`` stops them whatever happens."""

    def __init__(self, layout: Layout, processes: Processes, deadline: Deadline, session: aiohttp.ClientSession):
        self.layout, self.processes, self.deadline, self.session = layout, processes, deadline, session
        self.upstream_url = ""
        self.redis_url = ""
        self.pids: dict[str, int] = {}  # the processes besides the workers whose CPU a phase reports
        self.prefix = f"bench-{os.getpid()}-{int(time.time())}"

    async def start_redis(self) -> None:
        """A private redis-server: its command counts are this run's alone; nothing is saved."""
        port = free_port()
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = self.processes.start("redis", [*argv, "--dir", str(self.processes.workdir)], dict(os.environ))

        async def ready() -> bool:
            return port_open(port)

        await wait_ready(ready, process, "redis-server", min(20, self.deadline.left()))
        self.redis_url, self.pids["redis"] = f"redis://127.0.0.1:{port}/0", process.pid

    async def start_upstream(self) -> None:
        port = free_port()
        argv = [PYTHON, "-m", "tests.fakes.upstream", "--port", str(port)]
        process = self.processes.start("upstream", argv, dict(os.environ))

        async def ready() -> bool:
            return port_open(port)

        await wait_ready(ready, process, "the fake upstream", min(30, self.deadline.left()))
        self.upstream_url, self.pids["upstream"] = f"http://127.0.0.1:{port}/v1", process.pid

    def env(self, database_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DJANGO_DEBUG": "0",  # as in production (debug mode also records every query)
            "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
            "LOG_LEVEL": "WARNING",
            "OPENAI_BASE_URL": self.upstream_url,
            "OPENAI_API_KEY": "bench",
            "ANON_MESSAGE_LIMIT": "1000000",
            "ANON_IP_LIMIT": "1000000",
            "SHUTDOWN_GRACE_SECONDS": "2",
            "DATABASE_URL": database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.prefix,
            "PYTHONUNBUFFERED": "1",
        }
        if not database_url:
            env["SQLITE_PATH"] = str(self.processes.workdir / "bench.sqlite3")
        return env

    def prepare_database(self, models: dict[str, str]) -> None:
        if self.layout.database_url:
            database_create(self.layout.database_url)
        env, manage = self.env(self.layout.database_url), [PYTHON, str(ROOT / "manage.py")]
        catalog = models_file(self.processes.workdir, self.upstream_url, models)
        for argv in (["migrate", "--noinput", "-v", "0"], ["import_models", str(catalog)]):
            command = [*manage, *argv]
            done = subprocess.run(command, cwd=ROOT, env=env, timeout=self.deadline.left(), capture_output=True)
            if done.returncode:
                raise RuntimeError(f"manage.py {argv[0]} failed:\n{done.stderr.decode(errors='replace')[-2000:]}")

    async def start_workers(self, count: int, database_url: str, tag: str = "") -> list[Worker]:
        """``count`` daphne processes, each on a port of its own, ready when ``/health`` answers."""
        workers = []
        for index in range(count):
            name, port = worker_name(index, count) + tag, free_port()
            argv = server_argv(port)
            process = self.processes.start(name, argv, self.env(database_url))
            url = f"http://127.0.0.1:{port}"
            try:
                await wait_ready(partial(self._healthy, url), process, name, min(60, self.deadline.left()))
            except RuntimeError:
                print(self.processes.log_tail(name))
                raise
            workers.append(Worker(name, url, process.pid))
        return workers

    async def _healthy(self, url: str) -> bool:
        async with self.session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200

    async def stop_workers(self, workers: list[Worker]) -> None:
        names = [worker.name for worker in workers]
        await asyncio.to_thread(self.processes.stop, names)

    def describe(self) -> dict[str, Any]:
        return {"layout": self.layout.label, "database": self.layout.database_url or "sqlite (scratch file)"}
