"""Conversations as people use them, with real clients and real server processes: edit and branch with two tabs
open, a reasoning answer resumed on another process, a second tab that joins a running answer, search."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from chats.models import Message
from tests.e2e.conftest import run_node
from tests.e2e.http import post_stream, read_then_leave
from tests.e2e.test_durable_streams import finished
from tests.sse import joined_deltas

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent
GUEST = "conversing-guest-1"
HEADERS = {"x-anon-id": GUEST}


class Tabs:
    """Browser tabs of one caller: stock socket.io-clients in a Node process (socket_tabs.mjs)."""

    def __init__(self, url: str, auth: dict[str, str], count: int) -> None:
        node = shutil.which("node")
        assert node
        args = [node, str(NODE_DIR / "socket_tabs.mjs"), url, json.dumps(auth), str(count)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: list[dict[str, Any]] = []
        for tab in range(count):
            self.next(tab, "connected")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self, tab: int, event: str, where: Any = lambda data: True, timeout: float = 20) -> Any:
        """The data of the first ``event`` that ``tab`` received (or receives) and ``where`` accepts."""

        def wanted(line: dict[str, Any]) -> bool:
            return line["tab"] == tab and line.get("event") == event and where(line.get("data"))

        for index, line in enumerate(self.seen):
            if wanted(line):
                return self.seen.pop(index).get("data")
        while True:
            line = self.lines.get(timeout=timeout)
            if wanted(line):
                return line.get("data")
            self.seen.append(line)

    def emit(self, tab: int, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Emit from ``tab`` and return the acknowledged reply."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"tab": tab, "emit": event, "data": data}) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.lines.get(timeout=20)
            if line["tab"] == tab and "ack" in line:
                return line["ack"]
            self.seen.append(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def test_an_edit_and_a_select_in_one_tab_reach_the_other_and_every_version_stays(
    servers: Any, fake_model: Any, upstream: Any
) -> None:
    fake_model(upstream_model="fake:echo")
    server = servers()
    tabs = Tabs(server.url, {"anon_id": GUEST}, count=2)
    send = f"{server.url}/api/v1/messages/send"
    turns = [post_stream(send, {"model": "fake", "content": "first question"}, HEADERS)]
    chat_id = turns[0].events[0].data["chat_id"]
    for text in ("second question", "third question"):
        turns.append(post_stream(send, {"chat_id": chat_id, "content": text}, HEADERS))
    first = turns[0].events[0].data["user_message_id"]

    edited = post_stream(f"{server.url}/api/v1/messages/edit", {"message_id": first, "content": "zanzibar?"}, HEADERS)

    assert edited.status == 200 and edited.events[-2].name == "assistant_complete"
    assert [m["content"] for m in upstream.request_with("zanzibar?").body["messages"]] == ["zanzibar?"]
    new_first, answer = edited.events[0].data["user_message_id"], edited.events[0].data["message_id"]
    for tab in (0, 1):  # both tabs are told of the new branch, and of its answer as it starts
        assert tabs.next(tab, "generation_started", lambda data: data["message_id"] == answer)["stream_token"]
        pushed = tabs.next(tab, "messages_list")
        assert [m["id"] for m in pushed["messages"]] == [new_first, answer]

    selected = tabs.emit(0, "select_version", {"message_id": first})

    old_branch = ["first question", "second question", "third question"]
    assert selected["event"] == "messages_list"
    assert [m["content"] for m in selected["data"]["messages"] if m["role"] == "user"] == old_branch
    assert tabs.next(1, "messages_list") == selected["data"]  # the other tab sees the same branch
    for tab in (0, 1):
        assert tabs.next(tab, "chat_updated", lambda data: data["chat"]["message_count"] == 6)
    listed = tabs.emit(1, "list_messages", {"chat_id": chat_id})["data"]
    assert [m["content"] for m in listed["messages"] if m["role"] == "user"] == old_branch
    versions = tabs.emit(1, "list_versions", {"message_id": first})["data"]
    assert [v["id"] for v in versions["versions"]] == [first, new_first] and versions["current"] == first
    found = tabs.emit(0, "search_chats", {"q": "zanzib"})["data"]["chats"]  # only the branch not shown holds it
    assert [chat["id"] for chat in found] == [chat_id]
    assert found[0]["message_id"] in {new_first, answer} and "zanzibar" in found[0]["snippet"]
    tabs.close()


@pytest.mark.redis
def test_a_reasoning_answer_resumed_on_another_process_replays_reasoning_and_text_exactly(
    servers: Any, fake_model: Any
) -> None:
    fake_model(upstream_model="fake:reasoning=20:tokens=20:delay_ms=20")
    first, second = servers(), servers()
    url = f"{first.url}/api/v1/messages/send"
    seen = read_then_leave(
        url, {"model": "fake", "content": "hi"}, HEADERS, deltas=5, counted="assistant_reasoning_delta"
    )
    message_id, token = seen[0].data["message_id"], seen[0].data["stream_token"]

    result = run_node("resume_eventsource.mjs", second.url, message_id, token, str(seen[-1].id))

    assert result.returncode == 0, result.stderr + second.log()
    received = json.loads(result.stdout)["received"]
    ids = [event.id for event in seen] + [event["id"] for event in received]
    assert ids == list(range(1, len(ids) + 1)), "no gap, no duplicate"
    names = [event.name for event in seen] + [event["name"] for event in received]
    assert names[1:41] == ["assistant_reasoning_delta"] * 20 + ["assistant_delta"] * 20
    stored = finished(message_id)

    def joined(name: str) -> str:
        live = "".join(event.data["delta"] for event in seen if event.name == name)
        return live + "".join(event["data"]["delta"] for event in received if event["name"] == name)

    assert joined("assistant_reasoning_delta") == stored.reasoning == "".join(f"think{i} " for i in range(20))
    assert joined("assistant_delta") == stored.content == " ".join(f"tok{i}" for i in range(20))


def test_a_second_tab_joins_a_running_answer_and_another_caller_hears_nothing(servers: Any, fake_model: Any) -> None:
    fake_model(upstream_model="fake:reasoning=2:tokens=30:delay_ms=20")
    server = servers()
    node = shutil.which("node")
    assert node
    args = [str(NODE_DIR / "join_running.mjs"), server.url, json.dumps({"anon_id": GUEST})]
    joiner = subprocess.Popen(
        [node, *args, json.dumps({"anon_id": "someone-else-42"})], stdout=subprocess.PIPE, text=True
    )
    assert joiner.stdout is not None
    assert json.loads(joiner.stdout.readline()) == {"event": "ready"}

    sent = post_stream(f"{server.url}/api/v1/messages/send", {"model": "fake", "content": "hi"}, HEADERS)
    output, _ = joiner.communicate(timeout=60)

    seen = json.loads(output)
    message_id = sent.events[0].data["message_id"]
    owner = {item["event"]: item["data"] for item in seen["owner"]}
    assert owner["generation_started"]["message_id"] == message_id
    assert owner["chat_created"]["chat"]["streaming_message_id"] == message_id
    followed = seen["followed"]
    assert [event["id"] for event in followed] == list(range(1, len(followed) + 1))
    assert [event["event"] for event in followed][-2:] == ["assistant_complete", "usage_info"]
    stored = Message.objects.get(pk=message_id)
    text = "".join(e["data"]["delta"] for e in followed if e["event"] == "assistant_delta")
    assert text == joined_deltas(sent.events) == stored.content
    assert (
        "".join(e["data"]["delta"] for e in followed if e["event"] == "assistant_reasoning_delta") == stored.reasoning
    )
    assert [item["event"] for item in seen["stranger"]] == ["usage_info"]  # its own, on connect; nothing else
