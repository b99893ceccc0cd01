"""The streaming endpoints, and the catalog and usage reads. Thin: the quota middleware has already planned
a send, regenerate or edit and held its quota (``usage.admission``)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from chats.models import Message
from chats.selectors import message_status_for_owner
from chatsite.db import db
from chatsite.errors import NotFound, ValidationError
from chatsite.http import allow, json_errors
from chatsite.identity import identity_from_request
from chatsite.openapi import described
from messaging import events, openapi
from messaging.admission import Replay, edit_admission, regenerate_admission, send_admission, send_errors
from messaging.catalog import models_for
from messaging.events import Batch, StreamEvent
from messaging.follow import stream_follow
from messaging.generation import generation_begin
from messaging.maintenance import maintenance_start
from messaging.responses import sse_errors, sse_response
from messaging.stops import stop_request
from messaging.stream_tokens import stream_token_allows
from usage.admission import admission_of, admitted_by
from usage.selectors import usage_info

TEST_SSE_MAX = 100


async def _generate(request: HttpRequest) -> HttpResponseBase:
    admission = admission_of(request)
    maintenance_start()
    if isinstance(admission.subject, Replay):
        message_id = str(admission.subject.message_id)
    else:
        assert admission.hold is not None  # a plan is always admitted with its hold
        begin = asyncio.ensure_future(generation_begin(admission.subject, admission.hold))
        message_id = (await asyncio.shield(begin)).message_id
    return sse_response(stream_follow(message_id, 0))


_described = functools.partial(described, components=openapi.COMPONENTS)
send = _described(openapi.SEND)(csrf_exempt(send_errors(allow("POST")(admitted_by(send_admission)(_generate)))))
regenerate = _described(openapi.REGENERATE)(
    csrf_exempt(send_errors(allow("POST")(admitted_by(regenerate_admission)(_generate))))
)
edit = _described(openapi.EDIT)(csrf_exempt(send_errors(allow("POST")(admitted_by(edit_admission)(_generate)))))


def _last_event_id(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError("Last-Event-ID must be an integer.") from None
    if value < 0:
        raise ValidationError("Last-Event-ID must not be negative.")
    return value


def _check_reader(request: HttpRequest, message_id: str) -> None:
    token = request.GET.get("stream_token")
    if token:
        # A wrong token says nothing about the message; a deleted message is a 404 (not a stream an
        # EventSource would reconnect to forever).
        if not stream_token_allows(token, message_id) or not Message.objects.filter(pk=message_id).exists():
            raise NotFound("Message not found.")
        return
    message_status_for_owner(identity=identity_from_request(request), message_id=message_id)  # type: ignore[arg-type]


@_described(openapi.STREAM)
@sse_errors
@allow("GET")
async def stream(request: HttpRequest, message_id: Any) -> HttpResponseBase:
    """Resume (or join) a message's stream after ``Last-Event-ID``."""
    after = _last_event_id(request)
    await db(_check_reader)(request, str(message_id))
    maintenance_start()
    batches = stream_follow(str(message_id), after)
    try:
        first = await anext(batches)
    except StopAsyncIteration:
        # The reader already has the end. 204 is what tells an EventSource to stop reconnecting.
        return HttpResponse(status=204)
    return sse_response(_prepend(first, batches))


async def _prepend(first: Batch | None, rest: AsyncIterator[Batch | None]) -> AsyncIterator[Batch | None]:
    yield first
    async for batch in rest:
        yield batch


@_described(openapi.STOP)
@csrf_exempt
@json_errors
@allow("POST")
async def stop(request: HttpRequest, message_id: Any) -> HttpResponseBase:
    def owned() -> str:
        identity = identity_from_request(request)
        assert identity is not None
        return message_status_for_owner(identity=identity, message_id=message_id)

    status = await db(owned)()
    await stop_request(str(message_id))
    return JsonResponse({"message_id": str(message_id), "status": status}, status=202)


async def _test_events(count: int) -> AsyncIterator[Batch]:
    for counter in range(events.FIRST_ID, count + 1):
        data = {"counter": counter, "message": f"Test message {counter}"}
        yield [StreamEvent(counter, events.TEST_MESSAGE, data)]
        await asyncio.sleep(settings.TEST_SSE_INTERVAL_MS / 1000)
    yield [StreamEvent(events.next_id(count), events.TEST_COMPLETE, {"message": f"Sent {count} test messages"}, True)]


@_described(openapi.test_sse(TEST_SSE_MAX))
@csrf_exempt
@sse_errors
@allow("GET", "POST")
async def test_sse(request: HttpRequest) -> HttpResponseBase:
    try:
        count = int(request.GET.get("count", "5"))
    except ValueError:
        raise ValidationError("count must be an integer.") from None
    if not 1 <= count <= TEST_SSE_MAX:
        raise ValidationError(f"count must be from 1 to {TEST_SSE_MAX}.")
    return sse_response(_test_events(count))


@_described(openapi.MODELS)
@json_errors
@allow("GET")
async def models(request: HttpRequest) -> HttpResponseBase:
    def listing() -> list[dict[str, Any]]:
        return [model.to_payload() for model in models_for(identity_from_request(request, required=False))]

    return JsonResponse({"models": await db(listing)()})


@_described(openapi.USAGE)
@json_errors
@allow("GET")
async def usage(request: HttpRequest) -> HttpResponseBase:
    def current() -> dict[str, Any]:
        identity = identity_from_request(request)
        assert identity is not None
        return usage_info(identity=identity)

    return JsonResponse(await db(current)())
