"""The auth endpoints: thin DRF views over accounts.services."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import openapi
from accounts.services import token_refresh, user_login, user_payload, user_register
from chatsite.errors import AuthRequired
from chatsite.identity import identity_from_request
from usage.services import client_ip


class RegisterSerializer(serializers.Serializer[dict[str, str]]):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, default="", allow_blank=True)


class LoginSerializer(serializers.Serializer[dict[str, str]]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer[dict[str, str]]):
    refresh = serializers.CharField()


class RegisterView(APIView):
    @openapi.register(RegisterSerializer)
    def post(self, request: Request) -> Response:
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = user_register(
            **data.validated_data, anon_id=request.headers.get("x-anon-id"), ip=client_ip(request.META)
        )
        return Response(result, status=201)


class TokenView(APIView):
    @openapi.token(LoginSerializer)
    def post(self, request: Request) -> Response:
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        anon_id = request.headers.get("x-anon-id")
        return Response(user_login(**data.validated_data, anon_id=anon_id, ip=client_ip(request.META)))


class TokenRefreshView(APIView):
    @openapi.refresh(RefreshSerializer)
    def post(self, request: Request) -> Response:
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(token_refresh(refresh=data.validated_data["refresh"]))


class MeView(APIView):
    @openapi.me
    def get(self, request: Request) -> Response:
        identity = identity_from_request(request)
        assert identity is not None
        if identity.user_id is None:
            raise AuthRequired("Sign in to see your account.")
        return Response(user_payload(get_user_model().objects.get(pk=identity.user_id)))
