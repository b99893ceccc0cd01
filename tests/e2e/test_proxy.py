"""The shipped nginx configuration (docker/nginx.conf) in front of two real workers on PostgreSQL and Redis.

Which worker serves a request is read from nginx's own access log (the upstream of each request), and is
deterministic here: the test owns all the traffic of a fresh nginx, the REST, SSE and /ws/chats/ upstream picks
the worker with the fewest open connections (ties go round robin, the first request to the first worker), and
Socket.IO is pinned to one worker per client address.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken

from chats.models import Message
from tests.conftest import REQUIRE_SERVICES
from tests.e2e.conftest import run_node
from tests.e2e.http import parallel, post_stream, read_then_leave
from tests.e2e.nginx import Nginx, Served, free_port, nginx_binary
from tests.e2e.servers import Server
from tests.sse import Event, joined_deltas, parse_sse
from usage.models import IpUsage
from usage.services import account_open

pytestmark = pytest.mark.e2e


@dataclass
class Site:
    """nginx and the workers behind it, in the order of its upstream servers."""

    nginx: Nginx
    workers: list[Server]

    @property
    def url(self) -> str:
        return self.nginx.url

    def upstream(self, worker: Server) -> str:
        return f"127.0.0.1:{worker.port}"

    def served(self, method: str, uri_start: str, count: int = 1) -> list[Served]:
        return served(self.nginx, method, uri_start, count)


def served(nginx: Nginx, method: str, uri_start: str, count: int = 1) -> list[Served]:
    """The requests nginx finished that match, once ``count`` of them are logged (a line is written when a
    request ends, which for a reader that left is when nginx notices)."""
    deadline = time.monotonic() + 10
    while True:
        found = [s for s in nginx.served() if s.method == method and s.uri.startswith(uri_start)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _require_nginx() -> None:
    if nginx_binary() is None:
        message = "needs nginx (apt-get install nginx-light)"
        if REQUIRE_SERVICES:
            pytest.fail(message + ", and CHATSITE_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
        pytest.skip(message)


@pytest.fixture
def nginx() -> Iterator[Callable[[list[int]], Nginx]]:
    """A real nginx running docker/nginx.conf in front of the given ports (stopped at the end of the test)."""
    _require_nginx()
    started: list[Nginx] = []

    def start(ports: list[int]) -> Nginx:
        proxy = Nginx(ports)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def site(servers: Any, nginx: Callable[[list[int]], Nginx]) -> Iterator[Callable[..., Site]]:
    """Two workers behind nginx, started with TRUSTED_PROXY_COUNT=1 as in docker/compose.yml."""
    started: list[Site] = []

    def start(**env: str) -> Site:
        workers = parallel([lambda: servers(TRUSTED_PROXY_COUNT="1", **env)] * 2)
        started.append(Site(nginx([worker.port for worker in workers]), workers))
        return started[-1]

    yield start
    for proxied in started:  # nginx first, then both workers at once (each drains on SIGTERM)
        proxied.nginx.stop()
        parallel([worker.stop for worker in proxied.workers])


def stream_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> Iterator[Event]:
    """POST a send and yield its events one by one, as they are read from the socket."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.request("POST", parsed.path, json.dumps(body), {"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        block = b""
        while line := response.readline():  # chunked: nginx keeps the connection open after the end
            block += line
            if line == b"\n":
                yield from parse_sse(block)
                block = b""
    finally:
        connection.close()


def user_token() -> str:
    user = get_user_model().objects.create_user(username="proxied", password="s3cret-pass-word")
    account_open(user_id=user.pk)
    return str(RefreshToken.for_user(user).access_token)


@pytest.mark.redis
def test_the_seed_socketio_client_polls_then_upgrades_through_the_proxy_on_one_worker(site: Any) -> None:
    proxied = site()

    result = run_node("socket_upgrade.mjs", proxied.url, user_token())

    assert result.returncode == 0, result.stdout + result.stderr + proxied.nginx.log()
    output = json.loads(result.stdout)
    assert output["transports"] == ["polling", "websocket"]
    assert output["current"] == "websocket"
    events = [item["event"] for item in output["events"]]
    assert events[0] == "usage_info" and events[-1] == "chats_list"
    polls = [s for s in proxied.served("GET", "/socket.io/") if "transport=polling" in s.uri]
    polls += [s for s in proxied.served("POST", "/socket.io/") if "transport=polling" in s.uri]
    upgrade = proxied.served("GET", "/socket.io/?EIO=4&transport=websocket")
    assert len(polls) >= 3, polls  # the handshake, then requests that name its session
    assert [s.status for s in upgrade] == [101]
    assert len({s.upstream for s in polls + upgrade}) == 1, "one Socket.IO session, one worker"


@pytest.mark.redis
def test_the_plain_websocket_gets_the_pushes_of_a_send_that_the_other_worker_ran(site: Any) -> None:
    proxied = site()

    result = run_node("ws_chats.mjs", proxied.url, "proxy-guest-ws-01")

    assert result.returncode == 0, result.stdout + result.stderr + proxied.nginx.log()
    output = json.loads(result.stdout)
    assert output["sendStatus"] == 200
    frames = output["frames"]
    assert frames[0]["event"] == "usage_info" and frames[0]["data"]["used"] == 0
    created = [f["data"]["message"] for f in frames if f["event"] == "message_created"]
    assert [(m["role"], m["status"]) for m in created] == [("user", "complete"), ("assistant", "complete")]
    assert created[1]["content"] == "You said: hello over the proxy"
    (listed,) = [f["data"] for f in frames if f["event"] == "chats_list"]
    assert listed["total"] == 1
    (socket,) = proxied.served("GET", "/ws/chats/")
    (send,) = proxied.served("POST", "/api/v1/messages/send")
    assert socket.status == 101 and send.status == 200
    assert socket.upstream != send.upstream, "the push crossed from one worker to the other"


@pytest.mark.redis
def test_a_send_read_through_the_proxy_gets_every_delta_while_the_upstream_is_silent(
    site: Any, fake_model: Any, upstream: Any
) -> None:
    # Five tokens, then the upstream says nothing more. Those five events are far smaller than nginx's buffers,
    # so a buffering proxy would hold them until the answer ends (here: until it is stopped).
    fake_model(upstream_model="fake:tokens=40:stall_after=5")
    proxied = site()
    guest = {"x-anon-id": "proxy-guest-slow-01"}
    events = stream_events(f"{proxied.url}/api/v1/messages/send", {"model": "fake", "content": "slowly"}, guest)
    seen = [next(events)]
    while sum(event.name == "assistant_delta" for event in seen) < 5:
        seen.append(next(events))
    message_id = seen[0].data["message_id"]
    record = upstream.request_with("slowly")
    upstream_by_then = (record.chunks_sent, record.finished)
    status_by_then = Message.objects.get(pk=message_id).status

    stop = urllib.request.Request(f"{proxied.url}/api/v1/messages/{message_id}/stop", method="POST", headers=guest)
    with urllib.request.urlopen(stop, timeout=10) as response:
        assert response.status == 202
    rest = list(events)

    assert upstream_by_then == (5, False)
    assert status_by_then == "streaming"
    assert joined_deltas(seen) == "tok0 tok1 tok2 tok3 tok4"
    assert [event.name for event in rest] == ["assistant_complete", "usage_info"]
    assert rest[0].data["message"]["status"] == "stopped"


@pytest.mark.redis
def test_an_eventsource_resumes_through_the_proxy_on_the_other_worker(site: Any, fake_model: Any) -> None:
    fake_model(upstream_model="fake:tokens=60:delay_ms=20")
    proxied = site()
    guest = {"x-anon-id": "proxy-guest-resume-01"}
    seen = read_then_leave(f"{proxied.url}/api/v1/messages/send", {"model": "fake", "content": "hi"}, guest, deltas=5)
    message_id, token = seen[0].data["message_id"], seen[0].data["stream_token"]

    result = run_node("resume_eventsource.mjs", proxied.url, message_id, token, str(seen[-1].id))

    assert result.returncode == 0, result.stderr + proxied.nginx.log()
    received = json.loads(result.stdout)["received"]
    ids = [event.id for event in seen] + [event["id"] for event in received]
    assert ids == list(range(1, len(ids) + 1)), "no gap, no duplicate"
    assert [event["name"] for event in received][-2:] == ["assistant_complete", "usage_info"]
    resumed = "".join(event["data"]["delta"] for event in received if event["name"] == "assistant_delta")
    assert joined_deltas(seen) + resumed == " ".join(f"tok{i}" for i in range(60))
    (send,) = proxied.served("POST", "/api/v1/messages/send")
    (resume,) = proxied.served("GET", f"/api/v1/messages/{message_id}/stream")
    workers = {proxied.upstream(worker) for worker in proxied.workers}
    assert {send.upstream, resume.upstream} == workers, "the answer ran on one worker, the resume read the other"


@pytest.mark.redis
def test_the_free_message_limit_per_ip_counts_the_address_the_proxy_saw(site: Any) -> None:
    proxied = site(ANON_MESSAGE_LIMIT="5", ANON_IP_LIMIT="2")

    def send(anon_id: str, **headers: str) -> Any:
        return post_stream(f"{proxied.url}/api/v1/messages/send", {"content": "hi"}, {"x-anon-id": anon_id, **headers})

    first, second = send("proxy-guest-ip-01"), send("proxy-guest-ip-02")
    third = send("proxy-guest-ip-03")
    forged = send("proxy-guest-ip-04", **{"X-Forwarded-For": "203.0.113.7"})

    assert (first.status, second.status) == (200, 200)
    for refused in (third, forged):
        assert refused.status == 429 and refused.codes == ["ANON_LIMIT_REACHED"]
        assert refused.events[0].data["error"].startswith("Too many free messages from your network")
    assert {row.ip: row.used for row in IpUsage.objects.all()} == {"127.0.0.1": 2}
    sends = proxied.served("POST", "/api/v1/messages/send", count=4)
    assert len({s.upstream for s in sends[:2]}) == 2, "the two counted sends ran on different workers"


def test_the_proxy_refuses_a_body_larger_than_the_app_accepts_in_the_apps_error_shape(nginx: Any) -> None:
    proxy = nginx([free_port()])  # nothing listens there: the refusal never reaches a worker
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    body = json.dumps({"content": "x" * (2560 * 1024)})

    connection.request("POST", "/api/v1/messages/send", body, {"Content-Type": "application/json"})
    response = connection.getresponse()

    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.read())["code"] == "CONTENT_TOO_LONG"
    assert [s.upstream for s in served(proxy, "POST", "/api/v1/messages/send")] == ["-"]


def test_the_proxy_does_not_serve_per_worker_metrics(nginx: Any) -> None:
    proxy = nginx([free_port()])

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{proxy.url}/metrics", timeout=10)

    assert refused.value.code == 404
    assert json.loads(refused.value.read()) == {"code": "NOT_FOUND", "error": "Not found."}
    assert [s.upstream for s in served(proxy, "GET", "/metrics")] == ["-"]
