"""Open management sockets survive a Redis blip: once Redis is back, both transports answer and receive pushes
from the other worker again within seconds, without the client reconnecting by hand."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.http import post_stream
from tests.e2e.redis_process import RedisProcess

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent
GUEST = "blip-guest-0001"
RECOVERY_SECONDS = 5  # a bound on a hang, far above the second or so a recovery takes


class Session:
    """tests/e2e/socket_session.mjs: both socket kinds of one guest on one server, an actor on another."""

    def __init__(self, listen_url: str, actor_url: str) -> None:
        node = shutil.which("node")
        assert node
        self.process = subprocess.Popen(
            [node, str(NODE_DIR / "socket_session.mjs"), listen_url, actor_url, GUEST],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.server: Any = None  # the server the listening sockets are on
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def command(self, line: str) -> None:
        assert self.process.stdin
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.events.get(timeout=left))
            except queue.Empty:
                break
        self.seen.extend(got)
        return got

    def close(self) -> None:
        if self.process.poll() is None:
            self.command("quit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def working(session: Session, label: str, within: float) -> set[str]:
    """What works on both listeners within ``within`` seconds: each answers (pong / an ack) and each receives
    a push caused on the other server. Returns the transports' proofs seen, for the assertion's message."""
    proofs: set[str] = set()
    deadline, attempt = time.monotonic() + within, 0
    while time.monotonic() < deadline and len(proofs) < 4:
        attempt += 1
        title = f"{label}-{attempt}"
        session.command("check")
        session.command(f"rename {title}")
        for event in session.drain(0.5):
            if event["t"] == "actor":
                continue
            if event["event"] in {"pong", "usage_info"}:
                proofs.add(f"{event['t']} answers")
            if event["event"] == "chat_updated" and event["data"]["chat"]["title"].startswith(label):
                proofs.add(f"{event['t']} gets pushes")
    return proofs


ALL_WORKING = {"ws answers", "sio answers", "ws gets pushes", "sio gets pushes"}


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    process = RedisProcess().start()
    yield process
    process.stop()


@pytest.fixture
def session(redis_process: RedisProcess, servers: Any) -> Iterator[Session]:
    actor, listener = servers(REDIS_URL=redis_process.url), servers(REDIS_URL=redis_process.url)
    sent = post_stream(f"{actor.url}/api/v1/messages/send", {"content": "a chat to rename"}, {"x-anon-id": GUEST})
    assert sent.status == 200
    opened = Session(listener.url, actor.url)
    opened.server = listener
    assert working(opened, "before", within=30) == ALL_WORKING, opened.seen
    yield opened
    opened.close()


def test_both_transports_work_again_soon_after_redis_restarts(session: Session, redis_process: RedisProcess) -> None:
    redis_process.kill()
    session.drain(8)  # long enough for a client library's backoff to grow past the bound below
    redis_process.start()

    proofs = working(session, "after", within=RECOVERY_SECONDS)

    assert proofs == ALL_WORKING, session.seen[-20:]
    closes = [event for event in session.seen if event["event"] in {"close", "disconnect"}]
    assert closes == [], closes
    log = session.server.log()
    for what in ("The channel layer (pushes to /ws/chats/ sockets)", "Receiving Socket.IO pushes from Redis"):
        assert 1 <= log.count(f"{what} failed") <= 2, log  # named, and once per interval, not per attempt
        assert f"{what} works again" in log, log


def test_both_transports_work_again_after_redis_is_paused(session: Session, redis_process: RedisProcess) -> None:
    redis_process.pause()
    session.command("rename during-pause")
    session.drain(4)
    redis_process.resume()

    proofs = working(session, "after", within=RECOVERY_SECONDS)

    assert proofs == ALL_WORKING, session.seen[-20:]
