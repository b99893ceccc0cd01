"""What every entry point refuses in text and JSON from outside, in one place: HTTP bodies (the generation
endpoints' parser and DRF's), identity and idempotency headers, and socket frames on both transports.

- A NUL character or a lone surrogate in any string (a key or a value) is ``VALIDATION_ERROR``: PostgreSQL
  cannot store a NUL, a lone surrogate cannot be encoded as UTF-8, and no honest client sends either.
- JSON nested deeper than ``JSON_MAX_DEPTH`` is ``VALIDATION_ERROR`` (Python's parser would otherwise raise
  ``RecursionError`` a thousand levels down), and so are ``NaN`` and ``Infinity``, which are not JSON.
- A socket frame larger than its limit is ``PAYLOAD_TOO_LARGE``; an HTTP body larger than
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (the ``MAX_BODY_BYTES`` variable) is ``413 PAYLOAD_TOO_LARGE`` on every
  endpoint (``body_limit``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import IO, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware
from rest_framework.parsers import BaseParser

from chatsite.errors import PayloadTooLarge, ValidationError

JSON_MAX_DEPTH = 32
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def text_safe(value: str) -> bool:
    """Whether ``value`` is free of NUL characters and lone surrogates."""
    return _UNSAFE.search(value) is None


def text_check(value: str, name: str) -> str:
    """``value``, unless it holds a NUL character or a lone surrogate."""
    if not text_safe(value):
        raise ValidationError(f"{name} must not contain NUL characters or lone surrogates.")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_load(raw: str | bytes, *, limit: int | None = None, what: str = "The body") -> Any:
    """A JSON document from outside, at most ``limit`` bytes long; its content is for ``json_check``."""
    if limit is not None and len(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")) > limit:
        raise PayloadTooLarge(f"{what} is larger than {limit} bytes.")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationError(f"The JSON is nested deeper than {JSON_MAX_DEPTH} levels.") from None
    except ValueError:  # UnicodeDecodeError included
        raise ValidationError(f"{what} is not valid JSON.") from None


def json_parse(raw: str | bytes, *, limit: int | None = None, what: str = "The body") -> Any:
    """A JSON document from outside, loaded and checked."""
    return json_check(json_load(raw, limit=limit, what=what))


def json_check(value: Any) -> Any:
    """``value`` (parsed JSON), unless it nests deeper than ``JSON_MAX_DEPTH`` or a string in it is unsafe.
    Iterative, so that no input can exhaust the stack."""
    pending: list[tuple[Any, int, str]] = [(value, 1, "")]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, str):
            text_check(item, path or "The JSON")
        elif isinstance(item, dict | list):
            if depth > JSON_MAX_DEPTH:
                raise ValidationError(f"The JSON is nested deeper than {JSON_MAX_DEPTH} levels.")
            pending.extend(_children(item, depth + 1, path))
    return value


def _children(item: dict[str, Any] | list[Any], depth: int, path: str) -> list[tuple[Any, int, str]]:
    if isinstance(item, list):
        return [(child, depth, f"{path}[{index}]") for index, child in enumerate(item)]
    children = []
    for key, child in item.items():
        text_check(key, "A key of the JSON")
        children.append((child, depth, f"{path}.{key}" if path else key))
    return children


class JsonParser(BaseParser):
    """DRF's parser for the auth endpoints, with the same checks as every other body."""

    media_type = "application/json"

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        return json_parse(stream.read())


def _oversized(request: HttpRequest) -> JsonResponse | None:
    try:
        request.body  # noqa: B018  Django compares the declared and the received size with the limit first
    except RequestDataTooBig:
        error = PayloadTooLarge("The request body is too large.")
        return JsonResponse(error.payload(), status=error.status)
    return None


@sync_and_async_middleware
def body_limit(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], Any]:
    """``413 PAYLOAD_TOO_LARGE`` as JSON for a body over the limit, before any view or parser sees it (Django's
    own refusal is an HTML 400 raised wherever the body is first read)."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponseBase:
            return _oversized(request) or await get_response(request)  # type: ignore[misc]

        return markcoroutinefunction(middleware)

    def sync_middleware(request: HttpRequest) -> HttpResponseBase:
        return _oversized(request) or get_response(request)  # type: ignore[return-value]

    return sync_middleware
