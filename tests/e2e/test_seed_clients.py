"""The seed's own client snippets, run unchanged (bar the noted fixes) in Node against a real server process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken

from chats.models import Message
from tests.e2e.conftest import run_node
from usage.services import account_open

pytestmark = pytest.mark.e2e


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def make_token() -> str:
    user = get_user_model().objects.create_user(username="seed-user", password="s3cret-pass-word")
    account_open(user_id=user.pk)
    return str(RefreshToken.for_user(user).access_token)


def test_the_seed_fetch_reader_receives_the_whole_answer(servers: Any) -> None:
    server = servers()
    headers = {"x-anon-id": "seed-guest-0001"}
    body = {"chat_id": None, "model": "echo", "content": "Hello from the seed reader"}

    result = run_node("seed_fetch.mjs", server.url, json.dumps(headers), json.dumps(body))

    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["status"] == 200
    events = [item["event"] for item in output["handled"]]
    assert events[0] == "assistant_typing"
    assert events[-2:] == ["assistant_complete", "usage_info"]
    assert set(events[1:-2]) == {"assistant_delta"}
    deltas = "".join(item["data"]["delta"] for item in output["handled"] if item["event"] == "assistant_delta")
    stored = Message.objects.get(pk=output["handled"][-2]["data"]["message_id"])
    assert deltas == stored.content == "You said: Hello from the seed reader"
    assert output["handled"][-1]["data"]["used"] == 1


def test_the_seed_reader_shows_a_refusal_before_the_stream(servers: Any) -> None:
    server = servers(ANON_MESSAGE_LIMIT="0")

    result = run_node(
        "seed_fetch.mjs", server.url, json.dumps({"x-anon-id": "seed-guest-0002"}), json.dumps({"content": "hi"})
    )

    output = json.loads(result.stdout)
    assert output["status"] == 429
    assert output["handled"] == [
        {
            "event": "assistant_error",
            "data": {"code": "ANON_LIMIT_REACHED", "error": output["handled"][0]["data"]["error"]},
        }
    ]


def test_the_seed_socket_lists_the_chats_created_over_sse(servers: Any) -> None:
    server = servers()
    token = make_token()
    sent = run_node(
        "seed_fetch.mjs",
        server.url,
        json.dumps({"Authorization": f"Bearer {token}"}),
        json.dumps({"content": "a chat made over SSE"}),
    )
    chat_id = json.loads(sent.stdout)["handled"][0]["data"]["chat_id"]

    result = run_node("seed_socket.mjs", server.url, token)

    assert result.returncode == 0, result.stderr + server.log()
    events = {item["event"]: item["data"] for item in lines(result.stdout)}
    assert events["usage_info"]["anonymous"] is False
    assert [chat["id"] for chat in events["chats_list"]["chats"]] == [chat_id]
    assert events["chats_list"]["total"] == 1


def test_the_seed_socket_gets_connect_error_for_a_bad_token(servers: Any) -> None:
    server = servers()

    result = run_node("seed_socket.mjs", server.url, "not-a-valid-token")

    events = {item["event"]: item["data"] for item in lines(result.stdout)}
    assert events["connect_error"]["data"]["code"] == "TOKEN_INVALID"
    assert "chats_list" not in events
