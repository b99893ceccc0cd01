"""Sign-up and sign-in: the services behind the auth endpoints, and the guest who becomes a user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser, update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from chats.services import chats_claim_for_user
from chatsite.errors import InvalidCredentials, TokenInvalid, UsernameTaken, ValidationError
from chatsite.identity import anon_id_validate
from usage.rate_limits import RateLimit, rate_limit_give_back, rate_limit_take
from usage.services import account_open, anon_usage_claim


def _signup_limit() -> RateLimit:
    return RateLimit(
        scope="signup-ip",
        limit=settings.SIGNUP_PER_IP,
        window=timedelta(minutes=settings.SIGNUP_WINDOW_MINUTES),
        message="Too many sign-ups from your network. Try again later.",
    )


def _login_limits() -> tuple[RateLimit, RateLimit]:
    """Failed sign-ins per address and per username (in that order: every caller takes them in one order)."""
    window = timedelta(minutes=settings.LOGIN_WINDOW_MINUTES)
    message = "Too many failed sign-ins. Try again later."
    return (
        RateLimit(scope="login-ip", limit=settings.LOGIN_FAILURES_PER_IP, window=window, message=message),
        RateLimit(scope="login-username", limit=settings.LOGIN_FAILURES_PER_USERNAME, window=window, message=message),
    )


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


def user_register(*, username: str, password: str, email: str, anon_id: str | None, ip: str | None) -> dict[str, Any]:
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
            # Counted in the account's own transaction: a sign-up that fails (a taken username) is not counted,
            # and the welcome credit goes only to accounts within the limit. Parallel sign-ups from one address
            # wait here for each other (the counter row's lock); other addresses do not.
            if ip:
                rate_limit_take(rule=_signup_limit(), subject=ip)
            user = user_model.objects.create_user(username=username, email=email, password=password)
            account_open(user_id=user.pk)
            guest_claim(anon_id=anon_id, user_id=user.pk)
    except IntegrityError:
        raise UsernameTaken() from None
    return {"user": user_payload(user), **tokens_for(user)}


@transaction.atomic
def login_attempt_take(*, username: str, ip: str | None) -> None:
    """Count a sign-in attempt against the address and the username before the password is checked, so that
    parallel guesses cannot all pass a check made before any of them was counted. Refused by either limit, it
    is counted by neither (the transaction rolls back)."""
    by_ip, by_username = _login_limits()
    if ip:
        rate_limit_take(rule=by_ip, subject=ip)
    rate_limit_take(rule=by_username, subject=username)


def login_attempt_forgive(*, username: str, ip: str | None) -> None:
    """A sign-in that succeeded was not a failure: give its count back. Earlier failures stay counted until
    their window ends, so a guesser's budget does not grow with each sign-in of the account's owner."""
    by_ip, by_username = _login_limits()
    if ip:
        rate_limit_give_back(rule=by_ip, subject=ip)
    rate_limit_give_back(rule=by_username, subject=username)


def user_login(*, username: str, password: str, anon_id: str | None, ip: str | None) -> dict[str, str]:
    if anon_id:
        anon_id_validate(anon_id)
    login_attempt_take(username=username, ip=ip)
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials()
    with transaction.atomic():
        login_attempt_forgive(username=username, ip=ip)
        update_last_login(type(user), user)  # the sender argument is unused
        guest_claim(anon_id=anon_id, user_id=user.pk)
    return tokens_for(user)


REFRESH_INVALID = "The refresh token is invalid, expired or already used."


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a refresh token: a new access token and a new refresh token, the one sent blacklisted.

    Blacklisting is the check, not a read before it: the blacklist's unique row can be inserted once, so of
    any number of parallel refreshes with one token (on any number of workers) exactly one succeeds.
    """
    try:
        # Signature, expiry and type; its blacklist lookup only refuses early. (simplejwt types the encoded
        # token as a Token, but takes the string.)
        token = RefreshToken(refresh)  # type: ignore[arg-type]
    except TokenError:
        raise TokenInvalid(REFRESH_INVALID) from None
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
        raise TokenInvalid(REFRESH_INVALID)
    with transaction.atomic():
        _refresh_token_spend(token, user)
        access = str(token.access_token)
        token.set_jti()
        token.set_exp()
        token.set_iat()
        token.outstand()
    return {"access": access, "refresh": str(token)}


def _refresh_token_spend(token: RefreshToken, user: Any) -> None:
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[api_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:  # another refresh spent it first (or is spending it: the insert waited for it)
        raise TokenInvalid(REFRESH_INVALID) from None
