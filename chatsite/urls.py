"""The composition root's URLs: every app's endpoints (the one place that imports them all)."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as accounts
from chats import views as chats
from chatsite.health import health, live, ready
from chatsite.metrics import metrics
from messaging import views as messaging
from web import views as web

urlpatterns = [
    path("", web.index),
    path("admin/", admin.site.urls),
    path("health", health),
    path("health/live", live),
    path("health/ready", ready),
    path("metrics", metrics),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema")),
    path("api/v1/auth/register", accounts.RegisterView.as_view()),
    path("api/v1/auth/token", accounts.TokenView.as_view()),
    path("api/v1/auth/token/refresh", accounts.TokenRefreshView.as_view()),
    path("api/v1/auth/me", accounts.MeView.as_view()),
    path("api/v1/models", messaging.models),
    path("api/v1/usage", messaging.usage),
    path("api/v1/messages/send", messaging.send),
    path("api/v1/messages/regenerate", messaging.regenerate),
    path("api/v1/messages/edit", messaging.edit),
    path("api/v1/messages/test-sse", messaging.test_sse),
    path("api/v1/messages/<uuid:message_id>/stream", messaging.stream),
    path("api/v1/messages/<uuid:message_id>/stop", messaging.stop),
    path("api/v1/messages/<uuid:message_id>/versions", chats.versions),
    path("api/v1/messages/<uuid:message_id>/select", chats.select),
]

handler404 = "chatsite.health.not_found"
handler500 = "chatsite.health.server_error"
