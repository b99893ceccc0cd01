"""Live pushes cross processes: a send on one server reaches a Socket.IO client held by another."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import run_node
from tests.e2e.http import post_stream

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent
GUEST = "pushed-guest-01"


def listen(url: str, auth: dict[str, str], origin: str | None = None) -> subprocess.Popen[str]:
    node = shutil.which("node")
    assert node
    args = [node, str(NODE_DIR / "socket_listen.mjs"), url, json.dumps(auth), *([origin] if origin else [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events_of(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.mark.postgres
@pytest.mark.redis
def test_a_send_on_one_process_is_pushed_to_a_socket_on_another(servers: Any) -> None:
    first, second = servers(), servers()
    listener = listen(second.url, {"anon_id": GUEST})
    assert listener.stdout is not None
    assert json.loads(listener.stdout.readline())["event"] == "usage_info"  # sent at once on connect
    assert json.loads(listener.stdout.readline())["event"] == "connected"

    sent = post_stream(f"{first.url}/api/v1/messages/send", {"content": "across processes"}, {"x-anon-id": GUEST})
    output, errors = listener.communicate(timeout=30)

    assert sent.status == 200
    events = events_of(output)
    names = [event["event"] for event in events]
    assert "chat_created" in names, errors + first.log() + second.log()
    created = [event["data"]["message"] for event in events if event["event"] == "message_created"]
    assert [message["role"] for message in created] == ["user", "assistant"]
    assert created[1]["content"] == "You said: across processes"
    usage = [event["data"] for event in events if event["event"] == "usage_info"]
    assert usage[-1]["used"] == 1


@pytest.mark.postgres
@pytest.mark.redis
def test_a_push_larger_than_a_client_packet_may_be_crosses_processes(servers: Any) -> None:
    first, second = servers(), servers()
    listener = listen(second.url, {"anon_id": GUEST})
    assert listener.stdout is not None
    assert json.loads(listener.stdout.readline())["event"] == "usage_info"
    assert json.loads(listener.stdout.readline())["event"] == "connected"
    content = "é" * 20_000  # about 120 KB of JSON, over SOCKET_MAX_FRAME_BYTES

    post_stream(f"{first.url}/api/v1/messages/send", {"content": content}, {"x-anon-id": GUEST})
    output, errors = listener.communicate(timeout=30)

    created = [event["data"]["message"] for event in events_of(output) if event["event"] == "message_created"]
    assert [message["content"] for message in created] == [content, f"You said: {content}"], errors


def test_a_socket_io_client_from_a_foreign_origin_is_refused(servers: Any) -> None:
    server = servers()

    listener = listen(server.url, {"anon_id": GUEST}, origin="https://evil.example")
    output, _ = listener.communicate(timeout=30)

    events = events_of(output)
    assert [event["event"] for event in events] == ["connect_error"]


def test_a_socket_io_client_without_token_or_anon_id_is_refused(servers: Any) -> None:
    server = servers()

    result = run_node("seed_socket.mjs", server.url, "")

    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["event"] for event in events] == ["connect_error"]
    assert events[0]["data"]["data"]["code"] == "AUTH_REQUIRED"


def test_a_socket_io_client_from_an_allowed_origin_connects(servers: Any) -> None:
    server = servers()

    listener = listen(server.url, {"anon_id": GUEST}, origin=server.url)

    assert listener.stdout is not None
    assert json.loads(listener.stdout.readline())["event"] == "usage_info"
    listener.kill()


def test_socket_io_acknowledgements_get_the_reply(servers: Any) -> None:
    server = servers()

    result = run_node("socket_ack.mjs", server.url, GUEST)

    assert result.returncode == 0, result.stderr
    acks = json.loads(result.stdout)
    assert acks["listed"] == {"event": "chats_list", "data": {"chats": [], "page": 0, "limit": 5, "total": 0}}
    assert acks["refused"]["event"] == "error"
    assert acks["refused"]["data"]["code"] == "UNKNOWN_EVENT"
    assert acks["renamed"]["data"] == {"event": "rename_chat", "code": "NOT_FOUND", "error": "Chat not found."}
