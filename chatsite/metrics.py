"""The metrics registry and its endpoint. Each app defines its own metrics with ``prometheus_client``, in this
process's default registry; ``/metrics`` renders whatever was registered."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


async def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
