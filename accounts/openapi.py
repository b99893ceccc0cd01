"""The OpenAPI description of the auth endpoints, beyond what drf-spectacular reads from their serializers (see
chatsite/openapi.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from chatsite.openapi import ERROR, NOBODY, RATE_LIMITED, USER, Schema, ref

_USER: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "date_joined": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "username", "email", "date_joined"],
}
_TOKENS: Schema = {
    "type": "object",
    "properties": {"access": {"type": "string"}, "refresh": {"type": "string"}},
    "required": ["access", "refresh"],
}
_REGISTERED: Schema = {
    "type": "object",
    "properties": {"user": _USER, **_TOKENS["properties"]},
    "required": ["user", "access", "refresh"],
}


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ref(ERROR), description=description)


_GUEST = OpenApiParameter(
    "x-anon-id",
    str,
    OpenApiParameter.HEADER,
    description="A guest whose chats move to the account (and whose free-message count is reset). A malformed id "
    "is 400 and nothing happens.",
    pattern=r"^[A-Za-z0-9_-]{8,128}$",
)
_ERRORS = {
    400: _error("VALIDATION_ERROR: a missing or invalid field (`error` names it), a body that is not JSON"),
    413: _error("PAYLOAD_TOO_LARGE"),
    415: _error("UNSUPPORTED_MEDIA_TYPE: a body that is not application/json"),
    503: _error("SERVICE_UNAVAILABLE: the database is unreachable"),
}


_THROTTLED = {429: OpenApiResponse(ref(RATE_LIMITED), description="RATE_LIMITED")}
# (A response header is a parameter for drf-spectacular.)
_RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    description="Whole seconds until the limit's window ends.",
    response=[429],
)


def _auth(operation_id: str, summary: str, description: str, responses: dict[int, Any], **more: Any) -> Any:
    """The description of a sign-up or sign-in endpoint, for the serializer of its body."""
    return lambda body: extend_schema(
        request=body,
        tags=["auth"],
        operation_id=operation_id,
        summary=summary,
        description=description,
        auth=NOBODY,  # type: ignore[arg-type]  # (hinted as names; used as the operation's security requirements)
        responses={**responses, **_ERRORS},
        **more,
    )


register = _auth(
    "auth_register",
    "Create an account",
    "Gets NEW_USER_CREDITS; SIGNUP_PER_IP accounts per address per SIGNUP_WINDOW_MINUTES.",
    {
        201: OpenApiResponse(_REGISTERED, description="The account and its tokens."),
        409: _error("USERNAME_TAKEN"),
        **_THROTTLED,
    },
    parameters=[_GUEST, _RETRY_AFTER],
)
token = _auth(
    "auth_token",
    "Sign in",
    "Failed sign-ins are limited per username and per address; past a limit every attempt is 429.",
    {
        200: OpenApiResponse(_TOKENS, description="An access and a refresh token."),
        401: _error("INVALID_CREDENTIALS"),
        **_THROTTLED,
    },
    parameters=[_GUEST, _RETRY_AFTER],
)
refresh = _auth(
    "auth_refresh",
    "Refresh the tokens",
    "Refresh tokens rotate: the one sent is spent, even by parallel requests.",
    {
        200: OpenApiResponse(_TOKENS, description="A new access and a new refresh token."),
        401: _error("TOKEN_INVALID: invalid, expired or already used"),
    },
)
me = extend_schema(
    tags=["auth"],
    operation_id="auth_me",
    summary="The signed-in user",
    auth=USER,  # type: ignore[arg-type]
    responses={
        200: OpenApiResponse(_USER, description="The account."),
        400: _error("VALIDATION_ERROR: a malformed x-anon-id, a NUL character in a header"),
        401: _error("AUTH_REQUIRED (no token, or only an anonymous id) or TOKEN_INVALID"),
        503: _error("SERVICE_UNAVAILABLE: the database is unreachable"),
    },
)
