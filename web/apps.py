from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    """The reference browser client. It sits on top of the API and imports none of the apps behind it."""

    name = "web"
