"""Hostile input over HTTP gets a coded answer: NUL and lone surrogates in bodies and headers, JSON nested too
deep, and bodies too large for any endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import AsyncClient

from chats.models import Chat, Message
from tests.sse import read_events

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = {"x-anon-id": "hostile-guest-01"}
AS_JSON = {"Accept": "application/json"}
SEND = "/api/v1/messages/send"
REGENERATE = "/api/v1/messages/regenerate"
AUTH = ["/api/v1/auth/register", "/api/v1/auth/token", "/api/v1/auth/token/refresh"]
DEEP = "[" * 50_000 + "]" * 50_000


async def post(url: str, raw: str | bytes, **headers: str) -> Any:
    return await AsyncClient().post(url, data=raw, content_type="application/json", headers={**AS_JSON, **headers})


def coded(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == code
    assert response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"content": "a\x00b"},
        {"content": "lone \ud800 surrogate"},
        {"content": "hi", "client_message_id": "key\x00"},
        {"content": "hi", "client_message_id": "\udfff"},
        {"content": "hi", "model": "echo\x00"},
        {"content": "hi", "extra": {"deep": ["\x00"]}},
        {"content": "hi", "bad\x00key": 1},
    ],
)
async def test_a_send_with_nul_or_a_lone_surrogate_is_refused(body: dict[str, Any]) -> None:
    response = await post(SEND, json.dumps(body), **GUEST)

    coded(response, 400, "VALIDATION_ERROR")
    assert not await Message.objects.aexists()


@pytest.mark.parametrize("key", ["key\x00", "k\x01ey\x00tail"])
async def test_an_idempotency_key_header_with_nul_is_refused(key: str) -> None:
    response = await post(SEND, json.dumps({"content": "hi"}), **GUEST, **{"Idempotency-Key": key})

    coded(response, 400, "VALIDATION_ERROR")
    assert not await Message.objects.aexists()


@pytest.mark.parametrize("header", [{"Authorization": "Bearer abc\x00def"}, {"x-anon-id": "guest\x00guest"}])
async def test_identity_headers_with_nul_are_refused(header: dict[str, str]) -> None:
    response = await post(SEND, json.dumps({"content": "hi"}), **header)

    coded(response, 400, "VALIDATION_ERROR")


async def test_a_regenerate_with_nul_is_refused() -> None:
    response = await post(REGENERATE, json.dumps({"message_id": "\x00"}), **GUEST)

    coded(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("url", [SEND, REGENERATE, *AUTH])
async def test_json_nested_too_deep_is_refused(url: str) -> None:
    response = await post(url, DEEP, **GUEST)

    coded(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("url", [SEND, *AUTH])
async def test_json_nested_a_little_too_deep_is_refused(url: str) -> None:
    body = {"content": "hi", "username": "x", "refresh": "x", "extra": json.loads("[" * 40 + "]" * 40)}

    response = await post(url, json.dumps(body), **GUEST)

    coded(response, 400, "VALIDATION_ERROR")
    assert "deep" in response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "eve\x00", "password": "a long passphrase"},
        {"username": "eve", "password": "a long \ud800 passphrase"},
        {"username": "eve", "password": "a long passphrase", "email": "e\x00@example.com"},
    ],
)
@pytest.mark.parametrize("url", AUTH[:2])
async def test_auth_bodies_with_nul_or_a_lone_surrogate_are_refused(url: str, body: dict[str, Any]) -> None:
    response = await post(url, json.dumps(body))

    coded(response, 400, "VALIDATION_ERROR")


async def test_a_refresh_with_nul_is_refused() -> None:
    response = await post(AUTH[2], json.dumps({"refresh": "\x00"}))

    coded(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("raw", ["NaN", '{"content": "hi", "temperature": NaN}', '{"content": Infinity}'])
async def test_json_constants_that_are_not_json_are_refused(raw: str) -> None:
    response = await post(SEND, raw, **GUEST)

    coded(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", SEND),
        ("post", REGENERATE),
        *[("post", url) for url in AUTH],
        ("get", "/api/v1/auth/me"),
        ("post", "/api/v1/messages/test-sse"),
        ("post", "/api/v1/messages/00000000-0000-0000-0000-000000000000/stop"),
        ("get", "/health"),
    ],
)
async def test_a_body_too_large_gets_413_with_a_code_on_every_endpoint(method: str, url: str) -> None:
    big = json.dumps({"content": "x" * (5 * 1024 * 1024)})

    response = await AsyncClient().generic(
        method.upper(), url, data=big, content_type="application/json", headers={**AS_JSON, **GUEST}
    )

    coded(response, 413, "PAYLOAD_TOO_LARGE")
    assert not await Chat.objects.aexists()


async def test_the_body_limit_is_a_setting(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096  # the MAX_BODY_BYTES variable

    under = await post(SEND, json.dumps({"content": "x" * 3000}), **GUEST)
    await read_events(under)
    over = await post(SEND, json.dumps({"content": "x" * 5000}), **GUEST)

    assert under.status_code == 200
    coded(over, 413, "PAYLOAD_TOO_LARGE")
