"""Generated hostile input at every entry point where text comes in: the send, regenerate and auth endpoints,
and both socket transports. Nothing may answer 500, no socket may close with 1011, and every error has a code.

The examples are moderate in number and share one database per test (no transaction per example), so that the
whole file runs in seconds.
"""

from __future__ import annotations

import json
import operator
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from chats.models import Chat
from chatsite.asgi import application
from chatsite.push import MESSAGE_MAX_BYTES
from tests.chats.raw_sio import RawSocketIO
from tests.sse import read_events

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    # No shrinking: a failure is reported with the example that failed, at once, instead of after replaying
    # variations of it for longer than the test's timeout.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
GUEST = "fuzzed-guest-01"
CHAT_ID = uuid.UUID("0b5c8f8e-1d7a-4d3e-9a39-5a1f7a2f0c01")
HOSTILE = ["\x00", "\ud800", "\udfff", "a\x00b", "\ud83d", "\ufeff", "\u202e", "\U0001f600", "", " ", "null", "NaN",
           "1e999", "\\u0000", "' OR 1=1 --", "<script>", "%00", "\r\n\r\n", "list_chats", str(CHAT_ID)]  # fmt: skip

texts = st.one_of(
    st.text(max_size=24),
    st.sampled_from(HOSTILE),
    st.lists(st.one_of(st.characters(), st.sampled_from(HOSTILE)), max_size=10).map("".join),
    st.builds(operator.mul, st.sampled_from(["x", "é", "\x00", "\U0001f600"]), st.integers(30_000, 34_000)),
)
header_texts = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=40),
    st.sampled_from(["\x00", "Bearer \x00", "Bearer", "bearer  x", "Bearer " + "a" * 5000, "Basic Zm9vOmJhcg=="]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4))


def _utf8(value: Any) -> bytes:
    """JSON with characters as UTF-8 bytes, lone surrogates included (which makes the bytes invalid UTF-8)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


documents = st.one_of(
    values.map(json.dumps),
    values.map(_utf8),
    st.integers(30, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(30, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(["NaN", "[Infinity]", '{"content": -Infinity}', "", "{", "\x00", b"\xff\xfe\x00"]),
    st.binary(max_size=64),
    texts,
)


def objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON objects that may have each field (a likely value or anything at all), or any document at all."""
    shaped = st.fixed_dictionaries({}, optional={name: st.one_of(s, values) for name, s in fields.items()})
    return st.one_of(shaped.map(json.dumps), shaped.map(_utf8), documents)


def half_and_half(a: st.SearchStrategy[Any], b: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``a`` or ``b`` with even odds (``a | b`` flattens, and a strategy of many branches would drown ``b``)."""
    return st.booleans().flatmap(lambda first: a if first else b)


def coded(payload: Any) -> None:
    assert isinstance(payload, dict), payload
    assert isinstance(payload.get("code"), str) and payload["code"] != "INTERNAL_ERROR", payload
    assert isinstance(payload.get("error"), str) and payload["error"], payload


async def answered(response: Any) -> None:
    """Not a 500, and every error coded. ``event`` shows how the examples spread (--hypothesis-show-statistics)."""
    assert response.status_code < 500, response
    if isinstance(response, StreamingHttpResponse):
        event("answered with a stream")
        for streamed in await read_events(response):
            if streamed.name == "assistant_error":
                coded(streamed.data)
    elif response.status_code >= 400:
        coded(response.json())
        event(f"refused with {response.status_code} {response.json()['code']}")


async def post(url: str, body: str | bytes, **headers: str) -> Any:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body  # as bytes on the wire
    headers = {"Accept": "application/json", **headers}
    return await AsyncClient().post(url, data=raw, content_type="application/json", headers=headers)


@FUZZ
@given(
    body=half_and_half(
        objects(content=texts, chat_id=texts, model=texts, temperature=scalars, client_message_id=texts),
        st.fixed_dictionaries({"content": st.text(min_size=1, max_size=30) | texts}).map(json.dumps),  # answered
    ),
    key=st.none() | st.text(st.characters(max_codepoint=255), max_size=40) | header_texts,
)
async def test_send_answers_anything_with_a_code(body: Any, key: str | None, access_token: str) -> None:
    headers = {"Authorization": f"Bearer {access_token}", **({"Idempotency-Key": key} if key is not None else {})}

    await answered(await post("/api/v1/messages/send", body, **headers))


@FUZZ
@given(body=objects(message_id=texts, model=texts, max_tokens=scalars), anon_id=header_texts)
async def test_regenerate_answers_anything_with_a_code(body: Any, anon_id: str) -> None:
    await answered(await post("/api/v1/messages/regenerate", body, **{"x-anon-id": anon_id}))


@FUZZ
@given(
    url=st.sampled_from(["/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/auth/token/refresh"]),
    body=half_and_half(
        objects(username=texts, password=texts, email=texts, refresh=texts),
        st.fixed_dictionaries(  # sign-ups and sign-ins that may succeed
            {"username": st.from_regex(r"[\w.@+-]{1,30}", fullmatch=True), "password": texts},
            optional={"email": st.emails() | texts},
        ).map(json.dumps),
    ),
    anon_id=st.none() | header_texts,
)
async def test_the_auth_endpoints_answer_anything_with_a_code(url: str, body: Any, anon_id: str | None) -> None:
    await answered(await post(url, body, **({"x-anon-id": anon_id} if anon_id is not None else {})))


EVENTS = ["list_chats", "list_messages", "usage_info", "rename_chat", "delete_chat", "ping", "auth"]
event_data = st.fixed_dictionaries(
    {},
    optional={
        "chat_id": st.sampled_from([str(CHAT_ID)]) | texts | values,
        "title": texts | values,
        "page": scalars,
        "limit": scalars,
        "anon_id": st.sampled_from([GUEST]) | texts,
        "token": texts | values,
    },
)
events = st.tuples(st.sampled_from(EVENTS) | texts, event_data | values)
frames = st.one_of(
    events.map(lambda pair: json.dumps({"event": pair[0], "data": pair[1]})),
    documents.map(lambda document: document if isinstance(document, str) else document.decode("latin-1")),
    st.binary(max_size=64),
)


async def _chat() -> None:
    await Chat.objects.aget_or_create(pk=CHAT_ID, defaults={"anon_id": GUEST, "model": "echo"})


@pytest.fixture
def unlimited_sockets(settings: Any) -> None:
    """The rate limit has tests of its own; here every frame must reach the checks."""
    settings.SOCKET_RATE_PER_SECOND, settings.SOCKET_RATE_BURST = 1e6, 10**6


async def _ws() -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chats/", headers=[(b"x-anon-id", GUEST.encode())])
    assert (await communicator.connect())[0]
    assert json.loads(await communicator.receive_from())["event"] == "usage_info"
    return communicator


@FUZZ
@given(sent=st.lists(frames, min_size=1, max_size=6))
async def test_the_plain_websocket_answers_any_frame_with_a_code(sent: list[Any], unlimited_sockets: None) -> None:
    await _chat()
    communicator = await _ws()
    for frame in sent:
        kind = "bytes" if isinstance(frame, bytes) else "text"
        await communicator.send_input({"type": "websocket.receive", kind: frame})
        reply = json.loads(await communicator.receive_from(timeout=10))
        if reply["event"] == "error":
            coded(reply["data"])
        if reply["event"] == "error" and reply["data"]["event"] == "auth" and reply["data"]["code"] != "RATE_LIMITED":
            # A bad token or anon id ends the socket (4401); an auth frame refused for what it holds (a NUL, say)
            # does not: a ping after it is answered by the close, or by a pong.
            await communicator.send_input({"type": "websocket.receive", "text": '{"event": "ping", "data": {}}'})
            after = await communicator.receive_output(timeout=10)
            if after["type"] == "websocket.close":
                assert after["code"] == 4401
                communicator = await _ws()
            else:
                assert json.loads(after["text"])["event"] == "pong"
    await communicator.disconnect()


@FUZZ
@given(sent=st.lists(st.one_of(events.map(lambda pair: json.dumps(list(pair))), documents), min_size=1, max_size=6))
async def test_socket_io_answers_any_packet_with_a_code(sent: list[Any], unlimited_sockets: None) -> None:
    await _chat()
    client = RawSocketIO()
    assert (await client.open({"anon_id": GUEST}))[-1][0] == "connect"
    for body in sent:
        text = body if isinstance(body, str) else body.decode("latin-1")
        assume(len(text.encode("utf-8", "surrogatepass")) < MESSAGE_MAX_BYTES)  # a larger one ends the connection
        # A body that starts with a digit would be read as part of the acknowledgement's id (any Unicode digit:
        # python-socketio tests str.isdigit, so "²" counts), leaving nothing to acknowledge.
        emitted, ack = await client.packet(f"[{text}" if text[:1].isdigit() else text)
        assert ack["event"] == emitted[1]
        if ack["event"] == "error":
            coded(ack["data"])
    await client.close()


@FUZZ
@given(auth=documents)
async def test_a_socket_io_handshake_answers_any_auth_with_a_code(auth: Any) -> None:
    text = auth if isinstance(auth, str) else auth.decode("latin-1")
    assume(len(text.encode("utf-8", "surrogatepass")) < MESSAGE_MAX_BYTES)  # a larger one ends the connection
    client = RawSocketIO()

    answer = (await client.open(raw_auth=text))[-1]

    if answer[0] == "connect_error":
        coded(answer[1]["data"])
    await client.close()
