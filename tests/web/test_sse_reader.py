"""The web client's SSE reader (web/static/web/sse.js), run in Node on bodies cut at awkward places."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent / "read_sse.mjs"
BODY = (
    'event: assistant_typing\nid: 1\nretry: 1000\ndata: {"message_id":"m1"}\n\n'
    ": ping\n\n"
    'event: assistant_delta\nid: 2\nretry: 1000\ndata: {"delta":"Olá, café ☕"}\n\n'
    'event: assistant_delta\nid: 3\ndata: {"delta":"whole","full":true}\n\n'
)
EVENTS = [
    {"name": "assistant_typing", "id": 1, "data": {"message_id": "m1"}},
    {"name": "assistant_delta", "id": 2, "data": {"delta": "Olá, café ☕"}},
    {"name": "assistant_delta", "id": 3, "data": {"delta": "whole", "full": True}},
]


def read(chunks: list[bytes]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "Node.js runs the web client's modules in these tests"
    encoded = json.dumps([base64.b64encode(chunk).decode() for chunk in chunks])
    result = subprocess.run([node, str(SCRIPT), encoded], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_it_reads_whole_events_and_skips_comments() -> None:
    assert read([BODY.encode()]) == EVENTS


def test_an_event_cut_anywhere_even_inside_a_character_is_read_whole() -> None:
    body = BODY.encode()
    assert read([body[i : i + 1] for i in range(len(body))]) == EVENTS


@pytest.mark.parametrize("cut", [1, 7, 50])
def test_crlf_line_ends_are_read_like_lf(cut: int) -> None:
    body = BODY.replace("\n", "\r\n").encode()
    assert read([body[i : i + cut] for i in range(0, len(body), cut)]) == EVENTS
