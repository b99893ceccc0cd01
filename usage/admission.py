"""How a view declares that its requests spend quota, and what the quota middleware hands it.

A view that starts paid or counted work (a send, a regenerate) is decorated with ``admitted_by(admitter)``.
The quota middleware finds the admitter on the resolved view, asks it what the request needs (its ``Demand``),
takes that quota, and gives the view one immutable ``Admission``. From then on the view owns the hold: it
starts its work inside ``quota_held(...)``, which gives the quota back if the work does not start. Usage knows
nothing of what the work is: the demand's ``subject`` is carried through untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from chatsite.db import db
from chatsite.errors import ApiError
from chatsite.identity import Identity
from usage.money import ZERO
from usage.services import QuotaHold, quota_release

T = TypeVar("T")
V = TypeVar("V", bound=Callable[..., Any])

ADMISSION_ATTRIBUTE = "admitter"


@dataclass(frozen=True)
class Demand(Generic[T]):
    """What a request asks of the quota: one generation for ``identity`` costing at most ``reserve``, or (with
    ``holds`` false) nothing at all, for work already admitted once (a retried send)."""

    identity: Identity
    subject: T
    reserve: Decimal = ZERO
    holds: bool = True


@dataclass(frozen=True)
class Admission(Generic[T]):
    """What the view gets: its subject and the quota held for it (``None`` when nothing was held)."""

    identity: Identity
    subject: T
    hold: QuotaHold | None


class Admitter(Protocol):
    methods: tuple[str, ...]

    def demand(self, request: HttpRequest) -> Demand[Any]:
        """Parse and check the request (synchronous, may read the database); raise ``ApiError`` to refuse."""
        ...

    async def refusal(self, request: HttpRequest, identity: Identity | None, error: ApiError) -> HttpResponseBase:
        """The response to a refused request (and whatever the caller's other tabs should hear of it)."""
        ...


def admitted_by(admitter: Admitter) -> Callable[[V], V]:
    """Declare that a view's requests are admitted by ``admitter`` (the quota middleware looks for it)."""

    def decorate(view: V) -> V:
        setattr(view, ADMISSION_ATTRIBUTE, admitter)
        return view

    return decorate


def admitter_of(view: Callable[..., Any]) -> Admitter | None:
    return getattr(view, ADMISSION_ATTRIBUTE, None)


def admission_of(request: HttpRequest) -> Admission[Any]:
    admission: Admission[Any] = request.admission  # type: ignore[attr-defined]
    return admission


async def hold_release(hold: QuotaHold | None) -> None:
    if hold is not None:
        await db(quota_release)(hold=hold)


@asynccontextmanager
async def quota_held(hold: QuotaHold | None) -> AsyncIterator[None]:
    """Work started inside this block owns the hold; if the block fails (or is cancelled), the hold is given
    back, and the release runs to its end even if the cancellation came from a client that left."""
    try:
        yield
    except BaseException:
        await asyncio.shield(hold_release(hold))
        raise
