"""``/metrics`` of a real worker, scraped with its token while real clients send, stop, read and hold sockets."""

from __future__ import annotations

import http.client
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken

from tests.e2e.http import post_stream, read_then_leave
from tests.e2e.outages import wait_for
from tests.e2e.servers import Server
from tests.scrape import Samples, moved, scrape, value
from usage.services import balance_grant

pytestmark = pytest.mark.e2e
TOKEN = "scrape-token-0123456789abcdef"
GUEST = {"x-anon-id": "metrics-guest-01"}
NODE_DIR = Path(__file__).resolve().parent


def metered(servers: Any) -> Server:
    # (No grace at shutdown: a test that leaves a long answer running ends at once.)
    server: Server = servers(METRICS_TOKEN=TOKEN, UPSTREAM_MAX_RETRIES="0", SHUTDOWN_GRACE_SECONDS="0")
    return server


def scraped_when(server: Server, ready: Callable[[Samples], bool]) -> Samples:
    """The first scrape that shows what ``ready`` waits for (a generation is counted just after it is stored)."""
    return wait_for(lambda: (lambda samples: samples if ready(samples) else None)(scrape(server.url, TOKEN)))


def bearer(username: str, credits: Decimal) -> dict[str, str]:
    user = get_user_model().objects.create_user(username=username, password="s3cret-pass-word")
    if credits:
        balance_grant(user_id=user.pk, amount=credits)
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def test_the_worker_refuses_a_scrape_without_its_token(servers: Any) -> None:
    server = metered(servers)

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.url}/metrics", timeout=10)

    assert refused.value.code == 401
    assert json.loads(refused.value.read())["code"] == "AUTH_REQUIRED"
    assert value(scrape(server.url, TOKEN), "chatsite_generations_running") == 0


def test_a_paid_answer_moves_the_generation_metrics(servers: Any, fake_model: Any) -> None:
    fake_model(upstream_model="fake:tokens=20", input_price=Decimal(100), output_price=Decimal(200))
    payer = bearer("payer", Decimal(10))
    server = metered(servers)
    before = scrape(server.url, TOKEN)

    result = post_stream(f"{server.url}/api/v1/messages/send", {"model": "fake", "content": "hi"}, payer)
    after = scraped_when(server, lambda s: moved(before, s, "chatsite_generations_total", outcome="complete", code=""))

    assert result.status == 200
    usage = next(event.data["usage"] for event in result.events if event.name == "assistant_complete")
    assert moved(before, after, "chatsite_generations_total", outcome="complete", code="") == 1
    assert moved(before, after, "chatsite_time_to_first_token_seconds_count") == 1
    assert moved(before, after, "chatsite_token_gap_seconds_count") == 2  # 20 deltas: the 8th and the 16th gap
    assert moved(before, after, "chatsite_generation_seconds_count") == 1
    assert moved(before, after, "chatsite_send_admission_seconds_count") == 1
    assert moved(before, after, "chatsite_tokens_total", model="fake", direction="prompt") == usage["prompt_tokens"]
    assert moved(before, after, "chatsite_tokens_total", model="fake", direction="completion") == 20
    charged = moved(before, after, "chatsite_credits_charged_total", model="fake")
    assert charged == pytest.approx(float(usage["cost"])) and charged > 0
    assert moved(before, after, "chatsite_stream_events_total") == len(result.events)
    assert value(after, "chatsite_reservations_open") == 0
    assert value(after, "chatsite_generations_running") == 0


def test_a_failed_upstream_is_counted_by_code_and_a_guest_is_charged_nothing(servers: Any, fake_model: Any) -> None:
    fake_model(name="broken", upstream_model="fake:status=500")
    fake_model(upstream_model="fake:tokens=5", input_price=Decimal(100), output_price=Decimal(200))
    server = metered(servers)
    send = f"{server.url}/api/v1/messages/send"
    before = scrape(server.url, TOKEN)

    failed = post_stream(send, {"model": "broken", "content": "hi"}, GUEST)
    answered = post_stream(send, {"model": "fake", "content": "hi"}, GUEST)
    after = scraped_when(server, lambda s: moved(before, s, "chatsite_generation_seconds_count") == 2)

    assert failed.codes == ["UPSTREAM_ERROR"] and answered.codes == []
    assert moved(before, after, "chatsite_upstream_errors_total", code="UPSTREAM_ERROR") == 1
    assert moved(before, after, "chatsite_generations_total", outcome="failed", code="UPSTREAM_ERROR") == 1
    assert moved(before, after, "chatsite_generations_total", outcome="complete", code="") == 1
    assert moved(before, after, "chatsite_time_to_first_token_seconds_count") == 1  # the failed one had none
    assert moved(before, after, "chatsite_tokens_total", model="fake", direction="completion") == 5
    assert moved(before, after, "chatsite_credits_charged_total", model="fake") == 0


def test_a_stopped_answer_and_every_coded_refusal_are_counted(servers: Any, fake_model: Any) -> None:
    fake_model(upstream_model="fake:tokens=1000:delay_ms=20")
    broke = bearer("broke", Decimal(0))
    server = metered(servers)
    send = f"{server.url}/api/v1/messages/send"
    before = scrape(server.url, TOKEN)
    seen = read_then_leave(send, {"model": "fake", "content": "long"}, GUEST, deltas=3)
    chat_id, message_id = seen[0].data["chat_id"], seen[0].data["message_id"]

    refusals = [
        post_stream(send, {"model": "fake", "content": "again", "chat_id": chat_id}, GUEST),
        post_stream(send, {"model": "no-such-model", "content": "hi"}, GUEST),
        post_stream(send, {"model": "fake"}, GUEST),
        post_stream(send, {"model": "fake", "content": "hi"}, broke),
    ]
    stop = urllib.request.Request(f"{server.url}/api/v1/messages/{message_id}/stop", method="POST", headers=GUEST)
    urllib.request.urlopen(stop, timeout=10).close()
    after = scraped_when(server, lambda s: moved(before, s, "chatsite_generations_total", outcome="stopped", code=""))

    codes = [result.codes[0] for result in refusals]
    assert codes == ["GENERATION_IN_PROGRESS", "MODEL_NOT_FOUND", "VALIDATION_ERROR", "INSUFFICIENT_BALANCE"]
    for code in codes:
        assert moved(before, after, "chatsite_sends_refused_total", code=code) == 1, code
    assert moved(before, after, "chatsite_generations_total", outcome="stopped", code="") == 1
    assert moved(before, after, "chatsite_send_admission_seconds_count") == 5  # the conflict was admitted first
    assert moved(before, after, "chatsite_upstream_errors_total", code="UPSTREAM_ERROR") == 0


def test_open_streams_and_sockets_are_gauged_while_they_are_open(servers: Any, fake_model: Any) -> None:
    fake_model(upstream_model="fake:tokens=1000:delay_ms=20")
    server = metered(servers)
    stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    stream.request("POST", "/api/v1/messages/send", json.dumps({"model": "fake", "content": "long"}), GUEST)
    assert stream.getresponse().status == 200
    sockets = subprocess.Popen(
        ["node", str(NODE_DIR / "socket_hold.mjs"), server.url, GUEST["x-anon-id"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sockets.stdout is not None and sockets.stdout.readline().strip() == "open"
        holding = scrape(server.url, TOKEN)
    finally:
        stream.close()
        sockets.communicate(timeout=10)  # closes its stdin: the client closes both sockets

    assert value(holding, "chatsite_sse_readers") == 1
    assert value(holding, "chatsite_generations_running") == 1
    assert value(holding, "chatsite_sockets_open", transport="socketio") == 1
    assert value(holding, "chatsite_sockets_open", transport="ws") == 1
    closed = scraped_when(
        server,
        lambda s: (
            value(s, "chatsite_sse_readers") == 0
            and value(s, "chatsite_sockets_open", transport="socketio") == 0
            and value(s, "chatsite_sockets_open", transport="ws") == 0
        ),
    )
    assert value(closed, "chatsite_generations_running") == 1  # the answer goes on without its reader
