"""The page of the reference client. Everything else it needs is a static file or the public API."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# Defence in depth behind text-only rendering: only this origin's own files may run, nothing inline (no
# <script> blocks, no on* attributes), so HTML that slips into the page from an answer still cannot run.
# connect-src 'self' covers the page's fetch, EventSource and the Socket.IO WebSocket on the same host.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "web/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
