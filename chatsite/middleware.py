"""Middleware of the API stack (settings.API_MIDDLEWARE)."""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.security import SecurityMiddleware as DjangoSecurityMiddleware


class SecurityMiddleware(DjangoSecurityMiddleware):
    """Django's, with its hooks run on the event loop: they only compare settings with the request and set
    headers, so the thread hop each way that Django makes for a synchronous middleware is pure cost."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)  # type: ignore[misc]  # async in this stack
        return self.process_response(request, response)
