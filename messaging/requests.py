"""The bodies of the generation endpoints, parsed and checked before anything is written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatsite.errors import ContentTooLong, ValidationError
from chatsite.input import json_parse, text_check

KEY_MAX = 128


@dataclass(frozen=True)
class GenerationRequest:
    """A send (``content`` set), a regenerate (``message_id`` set: an answer) or an edit (both set: ``message_id``
    names the user message that gets a new version)."""

    content: str | None = None
    chat_id: str | None = None
    message_id: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    client_message_id: str | None = None

    @property
    def is_regenerate(self) -> bool:
        return self.message_id is not None and self.content is None

    @property
    def is_edit(self) -> bool:
        return self.message_id is not None and self.content is not None

    def fingerprint(self) -> str:
        """What a retried send or edit must repeat exactly to count as the same one."""
        body: list[Any] = [self.chat_id, self.content, self.model, self.temperature, self.max_tokens]
        if self.message_id is not None:  # (a send's fingerprint is unchanged: keys stored before edits still match)
            body.append(self.message_id)
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _body(raw: bytes) -> dict[str, Any]:
    body = json_parse(raw or b"null")
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.")
    return body


def _optional_str(body: dict[str, Any], name: str, max_length: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ValidationError(f"{name} must be a non-empty string of at most {max_length} characters.")
    return value.strip()


def _temperature(body: dict[str, Any]) -> float | None:
    value = body.get("temperature")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 2:
        raise ValidationError("temperature must be a number from 0 to 2.")
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_tokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("max_tokens must be a positive integer.")
    return value


def _content(body: dict[str, Any]) -> str:
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValidationError("content must be a non-empty string.")
    if len(content) > settings.MAX_MESSAGE_CHARS:
        raise ContentTooLong(f"content must be at most {settings.MAX_MESSAGE_CHARS} characters.")
    return content


def _idempotency_key(body: dict[str, Any], idempotency_key: str | None) -> str | None:
    header = text_check(idempotency_key, "Idempotency-Key").strip() if idempotency_key else None
    key = _optional_str(body, "client_message_id", KEY_MAX) or header or None
    if key is not None and len(key) > KEY_MAX:
        raise ValidationError(f"Idempotency-Key must be at most {KEY_MAX} characters.")
    return key


def send_request_parse(raw: bytes, idempotency_key: str | None) -> GenerationRequest:
    body = _body(raw)
    content, key = _content(body), _idempotency_key(body, idempotency_key)
    return GenerationRequest(
        content=content,
        chat_id=_optional_str(body, "chat_id"),
        model=_optional_str(body, "model"),
        temperature=_temperature(body),
        max_tokens=_max_tokens(body),
        client_message_id=key,
    )


def edit_request_parse(raw: bytes, idempotency_key: str | None) -> GenerationRequest:
    body = _body(raw)
    message_id = _optional_str(body, "message_id")
    if message_id is None:
        raise ValidationError("message_id is required.")
    content, key = _content(body), _idempotency_key(body, idempotency_key)
    return GenerationRequest(
        content=content,
        message_id=message_id,
        model=_optional_str(body, "model"),
        temperature=_temperature(body),
        max_tokens=_max_tokens(body),
        client_message_id=key,
    )


def regenerate_request_parse(raw: bytes) -> GenerationRequest:
    body = _body(raw)
    message_id = _optional_str(body, "message_id")
    if message_id is None:
        raise ValidationError("message_id is required.")
    return GenerationRequest(
        message_id=message_id,
        model=_optional_str(body, "model"),
        temperature=_temperature(body),
        max_tokens=_max_tokens(body),
    )
