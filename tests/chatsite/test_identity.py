"""Who is asking: a signed-in user by access token, or an anonymous visitor by x-anon-id; never a guess."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import RequestFactory
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chatsite.errors import AuthRequired, TokenInvalid, ValidationError
from chatsite.identity import Identity, identity_from_request, identity_resolve

pytestmark = pytest.mark.django_db

GUEST = "guest-abcdef12"


def _request(**headers: str) -> Any:
    return RequestFactory().get("/api/v1/auth/me", headers=headers)


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


# The error types


def test_the_identity_errors_carry_their_codes_and_statuses() -> None:
    assert (TokenInvalid.code, TokenInvalid.status) == ("TOKEN_INVALID", 401)
    assert (AuthRequired.code, AuthRequired.status) == ("AUTH_REQUIRED", 401)
    assert (ValidationError.code, ValidationError.status) == ("VALIDATION_ERROR", 400)


# Tokens


def test_it_resolves_a_valid_access_token_to_its_user(user: Any, access_token: str) -> None:
    identity = identity_resolve(token=access_token, anon_id=None)
    assert identity == Identity(user_id=user.pk)
    assert identity is not None
    assert not identity.is_anonymous
    assert identity.key == f"user:{user.pk}"


def test_it_resolves_a_bearer_header_to_its_user(user: Any, access_token: str) -> None:
    identity = identity_from_request(_request(Authorization=f"Bearer {access_token}"))
    assert identity == Identity(user_id=user.pk)


def test_it_accepts_the_bearer_scheme_in_any_case(user: Any, access_token: str) -> None:
    identity = identity_from_request(_request(Authorization=f"bearer {access_token}"))
    assert identity == Identity(user_id=user.pk)


def test_a_token_wins_over_an_anon_id_sent_with_it(user: Any, access_token: str) -> None:
    identity = identity_from_request(_request(Authorization=f"Bearer {access_token}", **{"x-anon-id": GUEST}))
    assert identity == Identity(user_id=user.pk)
    assert identity_resolve(token=access_token, anon_id=GUEST) == Identity(user_id=user.pk)


def test_it_refuses_an_expired_token(user: Any) -> None:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    with pytest.raises(TokenInvalid) as caught:
        identity_resolve(token=str(token), anon_id=None)
    assert caught.value.code == "TOKEN_INVALID"
    assert caught.value.status == 401


def test_it_refuses_a_token_with_a_tampered_signature(access_token: str) -> None:
    with pytest.raises(TokenInvalid):
        identity_resolve(token=_tampered(access_token), anon_id=None)


def test_it_refuses_a_garbage_token() -> None:
    with pytest.raises(TokenInvalid):
        identity_resolve(token="not-a-jwt", anon_id=None)


def test_it_refuses_a_refresh_token_used_as_an_access_token(user: Any) -> None:
    with pytest.raises(TokenInvalid):
        identity_resolve(token=str(RefreshToken.for_user(user)), anon_id=None)


def test_it_refuses_the_token_of_a_deleted_user(user: Any, access_token: str) -> None:
    user.delete()
    with pytest.raises(TokenInvalid):
        identity_resolve(token=access_token, anon_id=None)


def test_it_refuses_the_token_of_an_inactive_user(user: Any, access_token: str) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])
    with pytest.raises(TokenInvalid):
        identity_resolve(token=access_token, anon_id=None)


def test_a_bad_token_never_falls_back_to_the_anon_id_sent_with_it() -> None:
    with pytest.raises(TokenInvalid):
        identity_from_request(_request(Authorization="Bearer garbage", **{"x-anon-id": GUEST}))


@pytest.mark.parametrize("header", ["Basic xyz", "Token abc", "Bearer", "Bearer    ", "xyz"])
def test_it_refuses_an_authorization_header_that_is_not_a_bearer_token(header: str) -> None:
    with pytest.raises(TokenInvalid) as caught:
        identity_from_request(_request(Authorization=header, **{"x-anon-id": GUEST}))
    assert caught.value.code == "TOKEN_INVALID"
    assert caught.value.status == 401


# Anonymous ids


@pytest.mark.parametrize(
    "anon_id",
    ["abcdefgh", "guest_ab-12", "A" * 128, "a-b_c-d_", "0123456789"],
    ids=["8-chars", "underscore-and-dash", "128-chars", "mixed", "digits"],
)
def test_it_resolves_a_well_formed_anon_id_to_an_anonymous_identity(anon_id: str) -> None:
    identity = identity_from_request(_request(**{"x-anon-id": anon_id}))
    assert identity == Identity(anon_id=anon_id)
    assert identity is not None
    assert identity.is_anonymous
    assert identity.key == f"anon:{anon_id}"


@pytest.mark.parametrize(
    "anon_id",
    ["abcdefg", "A" * 129, "guest abcdef", "guest.abcdef", "gäst-abcdef", "guest/abcdef", "ﬁrst-guest-1"],
    ids=["7-chars", "129-chars", "space", "dot", "umlaut", "slash", "ligature"],
)
def test_it_refuses_a_malformed_anon_id(anon_id: str) -> None:
    with pytest.raises(ValidationError) as caught:
        identity_resolve(token=None, anon_id=anon_id)
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.status == 400


def test_it_refuses_a_malformed_anon_id_header() -> None:
    with pytest.raises(ValidationError):
        identity_from_request(_request(**{"x-anon-id": "short"}))


def test_it_refuses_an_anon_id_with_a_trailing_newline() -> None:
    with pytest.raises(ValidationError):
        identity_resolve(token=None, anon_id="guest-abcdef12\n")


# Nobody


def test_it_requires_a_token_or_an_anon_id_when_asked_to() -> None:
    with pytest.raises(AuthRequired) as caught:
        identity_from_request(_request())
    assert caught.value.code == "AUTH_REQUIRED"
    assert caught.value.status == 401


def test_it_treats_empty_credentials_as_none() -> None:
    with pytest.raises(AuthRequired):
        identity_resolve(token="", anon_id="")


def test_it_answers_none_for_nobody_when_not_required() -> None:
    assert identity_from_request(_request(), required=False) is None
    assert identity_resolve(token=None, anon_id=None, required=False) is None


def test_a_bad_token_is_refused_even_when_identity_is_not_required() -> None:
    with pytest.raises(TokenInvalid):
        identity_from_request(_request(Authorization="Bearer garbage"), required=False)


# Identity values


def test_the_group_name_is_stable_and_differs_between_callers() -> None:
    alice = Identity(user_id=1)
    assert alice.group == Identity(user_id=1).group
    assert alice.group != Identity(user_id=2).group
    assert alice.group != Identity(anon_id="1").group
    assert alice.group.startswith("identity.")
    assert len(alice.group) < 100
