"""Who is asking: one resolver for HTTP requests, Socket.IO handshakes and WebSocket frames.

A caller is either a signed-in user (a simplejwt access token) or an anonymous visitor (an ``x-anon-id``).
A token that is present but unusable is always an error, never a silent fall-back to anonymous.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from chatsite.errors import AuthRequired, TokenInvalid, ValidationError
from chatsite.input import text_check
from chatsite.sql import fetch_one

ANON_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")


@dataclass(frozen=True)
class Identity:
    user_id: int | None = None
    anon_id: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def key(self) -> str:
        """A stable string naming the caller, used for rooms, log keys and idempotency scopes."""
        return f"user:{self.user_id}" if self.user_id is not None else f"anon:{self.anon_id}"

    @property
    def group(self) -> str:
        """A channel-layer group name (ASCII, under 100 characters) for this caller's open sockets."""
        return "identity." + hashlib.sha256(self.key.encode()).hexdigest()[:40]


def anon_id_validate(anon_id: object) -> str:
    # fullmatch, not "^...$": "$" would let a trailing newline through.
    if not isinstance(anon_id, str) or not ANON_ID_RE.fullmatch(anon_id):
        raise ValidationError("x-anon-id must be 8-128 characters of A-Z, a-z, 0-9, '_' or '-'.")
    return anon_id


def user_id_from_token(token: str) -> int:
    """The id of the active user an access token names, or ``TokenInvalid``. Reads the database."""
    try:
        user_id = AccessToken(token)["user_id"]  # type: ignore[arg-type]
    except (TokenError, KeyError):
        raise TokenInvalid() from None
    users = get_user_model()._meta.db_table
    # (in SQL: every signed-in request asks; chatsite/sql.py)
    if fetch_one(f"SELECT 1 FROM {users} WHERE id = %s AND is_active", [user_id]) is None:
        raise TokenInvalid("The account of this token no longer exists or is disabled.")
    return int(user_id)


def identity_resolve(*, token: object, anon_id: object, required: bool = True) -> Identity | None:
    """The caller named by a token or an anonymous id (the token wins when both are given). Values come from
    JSON frames too, so anything that is not a string is refused, not trusted."""
    if token:
        if not isinstance(token, str):
            raise TokenInvalid()
        return Identity(user_id=user_id_from_token(text_check(token, "The token")))
    if anon_id:
        return Identity(anon_id=anon_id_validate(anon_id))
    if required:
        raise AuthRequired()
    return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; any other non-empty scheme is an invalid token."""
    if not authorization:
        return None
    text_check(authorization, "Authorization")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenInvalid("The Authorization header must be 'Bearer <access token>'.")
    return token.strip()


def identity_from_request(request: HttpRequest, *, required: bool = True) -> Identity | None:
    return identity_resolve(
        token=bearer_token(request.headers.get("Authorization")),
        anon_id=request.headers.get("x-anon-id"),
        required=required,
    )
