"""Quota enforcement before the view runs (as the design asks), for views declared with ``admitted_by``.

The middleware asks the view's admitter what the request needs, takes that quota (one free message for a guest,
or a reservation of the most the answer can cost for a user) and hands the view an ``Admission``; a refusal is
the admitter's response and the view never runs. It knows no URL and no view: only what views declare.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from chatsite.db import db
from chatsite.errors import ApiError, ShuttingDown
from chatsite.identity import Identity
from chatsite.lifecycle import is_draining
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_unavailable
from usage.admission import Admission, Admitter, admitter_of, hold_release
from usage.metrics import SEND_ADMISSION
from usage.services import client_ip, quota_acquire

_releasing: set[asyncio.Task[None]] = set()


class Refused(Exception):
    def __init__(self, error: ApiError, identity: Identity | None) -> None:
        self.error, self.identity = error, identity


def _admit(admitter: Admitter, request: HttpRequest) -> Admission[Any]:
    if is_draining():
        raise Refused(ShuttingDown(), None)
    try:
        demand = admitter.demand(request)
    except ApiError as error:
        raise Refused(error, None) from None
    if not demand.holds:
        return Admission(identity=demand.identity, subject=demand.subject, hold=None)
    try:
        hold = quota_acquire(identity=demand.identity, ip=client_ip(request.META), reserve=demand.reserve)
    except ApiError as error:
        raise Refused(error, demand.identity) from None
    return Admission(identity=demand.identity, subject=demand.subject, hold=hold)


def _release_if_admitted(admitting: asyncio.Future[Admission[Any]]) -> None:
    """The client left while its quota was being taken: give it back once it is known."""
    if admitting.cancelled() or admitting.exception() is not None:
        return
    task = asyncio.ensure_future(hold_release(admitting.result().hold))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


class QuotaMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return await self.get_response(request)

    async def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        """Runs last before the view, which is called without a pause in between: once the admission is on the
        request, nothing can cancel the request before the view has taken the hold over."""
        admitter = admitter_of(view)
        if admitter is None or request.method not in admitter.methods:
            return None
        admitting = asyncio.ensure_future(db(_admit)(admitter, request))
        try:
            with SEND_ADMISSION.time():  # accepted or refused alike
                request.admission = await asyncio.shield(admitting)  # type: ignore[attr-defined]
        except Refused as refused:
            return await admitter.refusal(request, refused.identity, refused.error)
        except DATABASE_OUTAGE_ERRORS as error:  # nothing was held: quota is taken in one transaction
            return await admitter.refusal(request, None, database_unavailable(error, "admitting a request"))
        except asyncio.CancelledError:
            admitting.add_done_callback(_release_if_admitted)
            raise
        return None
