"""Sign-up and sign-in: the services behind the auth endpoints, and the guest who becomes a user."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser, update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.tokens import RefreshToken

from chats.services import chats_claim_for_user
from chatsite.errors import InvalidCredentials, UsernameTaken, ValidationError
from chatsite.identity import anon_id_validate
from usage.services import account_open, anon_usage_claim


def user_payload(user: Any) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "date_joined": user.date_joined.isoformat(),
    }


def tokens_for(user: AbstractBaseUser) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def guest_claim(*, anon_id: str | None, user_id: int) -> None:
    """A guest who signs up or logs in keeps their chats; their anonymous id stops counting against them."""
    if not anon_id:
        return
    anon_id = anon_id_validate(anon_id)
    chats_claim_for_user(anon_id=anon_id, user_id=user_id)
    anon_usage_claim(anon_id=anon_id, user_id=user_id)


def user_register(*, username: str, password: str, email: str, anon_id: str | None) -> dict[str, Any]:
    user_model = get_user_model()
    candidate = user_model(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError("password: " + " ".join(exc.messages)) from None
    if anon_id:
        anon_id_validate(anon_id)
    try:
        with transaction.atomic():
            user = user_model.objects.create_user(username=username, email=email, password=password)
            account_open(user_id=user.pk)
            guest_claim(anon_id=anon_id, user_id=user.pk)
    except IntegrityError:
        raise UsernameTaken() from None
    return {"user": user_payload(user), **tokens_for(user)}


def user_login(*, username: str, password: str, anon_id: str | None) -> dict[str, str]:
    if anon_id:
        anon_id_validate(anon_id)
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    with transaction.atomic():
        update_last_login(type(user), user)  # the sender argument is unused
        guest_claim(anon_id=anon_id, user_id=user.pk)
    return tokens_for(user)
