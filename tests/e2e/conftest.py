from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.e2e.outages import OwnRedis
from tests.e2e.servers import Server
from tests.fakes.upstream import FakeUpstream

NODE_DIR = Path(__file__).resolve().parent


@pytest.fixture
def servers(transactional_db: Any, upstream: FakeUpstream) -> Iterator[Callable[..., Server]]:
    """Start real server processes (stopped at the end of the test) on the test database."""
    started: list[Server] = []

    def start(**env: str) -> Server:
        server = Server({"OPENAI_BASE_URL": upstream.base_url, **env}).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server of the test's own (never the shared one), to stop, pause, restart or count commands on."""
    if shutil.which("redis-server") is None:
        message = "needs redis-server (the test runs a Redis server of its own)"
        if REQUIRE_SERVICES:
            pytest.fail(message + ", and CHATSITE_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
        pytest.skip(message)
    own = OwnRedis().start()
    yield own
    own.kill()


def run_node(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a Node script of tests/e2e with the clients pinned in tests/package.json."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the end-to-end tests"
    assert (NODE_DIR.parent / "node_modules").exists(), "run `make test` (it installs tests/package.json)"
    return subprocess.run(
        [node, str(NODE_DIR / script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
