"""Stream tokens: short-lived, signed, good only for reading one message's stream.

``EventSource`` cannot send headers, so the resume endpoint accepts this token in its URL; it grants nothing
else, and expires after ``STREAM_TOKEN_TTL_SECONDS``.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "chatsite.stream-token"


def stream_token_make(message_id: str) -> str:
    return signing.dumps({"m": message_id}, salt=SALT, compress=False)


def stream_token_allows(token: str, message_id: str) -> bool:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.STREAM_TOKEN_TTL_SECONDS)
    except signing.BadSignature:
        return False
    return isinstance(data, dict) and data.get("m") == message_id
