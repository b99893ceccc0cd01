"""Client-visible errors: one exception type per error code.

An ``ApiError`` carries everything each transport needs: the HTTP status, the code and a human message. It is
rendered as JSON ``{code, error}`` by views, as an SSE ``assistant_error`` event by the streaming views, and as
a socket ``error`` event by the management channel. The codes are the contract listed in docs/protocol.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response


class ApiError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong on our side."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "error": self.message}

    def headers(self) -> dict[str, str]:
        """HTTP headers the error's response carries besides its body."""
        return {}


class ValidationError(ApiError):
    code, status, default_message = "VALIDATION_ERROR", 400, "The request is not valid."


class AuthRequired(ApiError):
    code, status, default_message = "AUTH_REQUIRED", 401, "Sign in or send an x-anon-id header."


class TokenInvalid(ApiError):
    code, status, default_message = "TOKEN_INVALID", 401, "The access token is invalid or expired."


class InvalidCredentials(ApiError):
    code, status, default_message = "INVALID_CREDENTIALS", 401, "Wrong username or password."


class NotFound(ApiError):
    code, status, default_message = "NOT_FOUND", 404, "Not found."


class MethodNotAllowed(ApiError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "Method not allowed."


class NotAcceptable(ApiError):
    code, status, default_message = "NOT_ACCEPTABLE", 406, "This endpoint answers in JSON only."


class UnsupportedMediaType(ApiError):
    code, status, default_message = "UNSUPPORTED_MEDIA_TYPE", 415, "Send the body as application/json."


class PayloadTooLarge(ApiError):
    code, status, default_message = "PAYLOAD_TOO_LARGE", 413, "The request is too large."


class UsernameTaken(ApiError):
    code, status, default_message = "USERNAME_TAKEN", 409, "This username is taken."


class ModelNotFound(ApiError):
    code, status, default_message = "MODEL_NOT_FOUND", 404, "No such model."


class ModelNotAllowed(ApiError):
    code, status, default_message = "MODEL_NOT_ALLOWED", 403, "Sign in to use this model."


class ContentTooLong(ApiError):
    code, status, default_message = "CONTENT_TOO_LONG", 413, "The message is too long."


class GenerationInProgress(ApiError):
    code, status, default_message = "GENERATION_IN_PROGRESS", 409, "This chat is still answering."


class IdempotencyMismatch(ApiError):
    code, status, default_message = (
        "IDEMPOTENCY_MISMATCH",
        422,
        "This client_message_id was already used with a different request.",
    )


class InsufficientBalance(ApiError):
    code, status, default_message = "INSUFFICIENT_BALANCE", 402, "Your balance is too low for this message."


class AnonLimitReached(ApiError):
    code, status, default_message = "ANON_LIMIT_REACHED", 429, "You used all free messages. Sign in to go on."


class RateLimited(ApiError):
    """Over a limit: an HTTP limit says when to come back in whole seconds (``retry_after``, also the
    ``Retry-After`` header), a socket's rate limit in milliseconds (``retry_after_ms``)."""

    code, status, default_message = "RATE_LIMITED", 429, "Too many attempts. Try again later."

    def __init__(
        self, message: str | None = None, *, retry_after: int | None = None, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = None if retry_after is None else max(1, retry_after)
        self.retry_after_ms = retry_after_ms

    def payload(self) -> dict[str, Any]:
        waits = {"retry_after": self.retry_after, "retry_after_ms": self.retry_after_ms}
        return {**super().payload(), **{name: wait for name, wait in waits.items() if wait is not None}}

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class ShuttingDown(ApiError):
    code, status, default_message = "SERVER_SHUTTING_DOWN", 503, "The server is restarting; try again."


class ServiceUnavailable(ApiError):
    code, status, default_message = (
        "SERVICE_UNAVAILABLE",
        503,
        "A service this server needs is unreachable; try again in a moment.",
    )


class UpstreamError(ApiError):
    code, status, default_message = "UPSTREAM_ERROR", 502, "The model provider failed."


class UpstreamTimeout(ApiError):
    code, status, default_message = "UPSTREAM_TIMEOUT", 504, "The model provider did not answer in time."


class UpstreamStalled(ApiError):
    code, status, default_message = "UPSTREAM_STALLED", 504, "The model provider stopped sending mid-answer."


class UpstreamDisconnected(ApiError):
    code, status, default_message = "UPSTREAM_DISCONNECTED", 502, "The model provider cut the answer short."


class UpstreamBadResponse(ApiError):
    code, status, default_message = "UPSTREAM_BAD_RESPONSE", 502, "The model provider sent a malformed answer."


class GenerationLost(ApiError):
    code, status, default_message = "GENERATION_LOST", 500, "The server answering this message stopped."


def drf_error_response(exc: Exception) -> Response | None:
    """Render every DRF-raised error in the one `{code, error}` shape (``None``: not one of DRF's)."""
    if isinstance(exc, ApiError):
        return Response(exc.payload(), status=exc.status, headers=exc.headers())
    if isinstance(exc, Http404):
        return Response(NotFound().payload(), status=404)
    if isinstance(exc, drf_exceptions.ParseError):
        return Response(ValidationError("The body is not valid JSON.").payload(), status=400)
    if isinstance(exc, drf_exceptions.ValidationError):
        return Response(ValidationError(_first_detail(exc.detail)).payload(), status=400)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return Response(MethodNotAllowed().payload(), status=405)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return Response(UnsupportedMediaType().payload(), status=415)
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return Response(NotAcceptable().payload(), status=406)
    if isinstance(exc, drf_exceptions.APIException):
        code = str(exc.default_code).upper()
        return Response({"code": code, "error": str(exc.detail)}, status=exc.status_code)
    return None


def _first_detail(detail: Any, field: str | None = None) -> str:
    """Turn DRF's nested error detail into one readable sentence naming the field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_detail(value, None if key == "non_field_errors" else str(key))
    if isinstance(detail, list) and detail:
        return _first_detail(detail[0], field)
    return f"{field}: {detail}" if field else str(detail)


def error_for_code(code: str) -> ApiError:
    """The error a stored code stands for (a failed message keeps only its code)."""
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls()
        pending.extend(cls.__subclasses__())
    return ApiError()
