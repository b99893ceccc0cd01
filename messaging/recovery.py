"""Database side of crash recovery: find and fail generations whose process died."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from chats.models import Message
from chatsite.errors import GenerationLost
from messaging import events
from messaging.streams import StreamEvent
from usage.models import Reservation
from usage.services import anon_message_release, reservation_settle


def reservations_orphaned_release(*, opened_before: datetime) -> int:
    """Release credit held for a send whose process died before it wrote the answer's row."""
    orphans = Reservation.objects.filter(status="open", message__isnull=True, created_at__lt=opened_before)
    released = 0
    for reservation_id in orphans.values_list("pk", flat=True)[:500]:
        released += reservation_settle(reservation_id=reservation_id, cost=Decimal(0)) == 0
    return released


def orphan_candidates(*, started_before: datetime) -> list[str]:
    rows = Message.objects.filter(status=Message.Status.STREAMING, created_at__lt=started_before)
    return [str(pk) for pk in rows.values_list("pk", flat=True)[:500]]


def orphan_fail(*, message_id: str, end_id: int, content: str) -> StreamEvent | None:
    """Mark a dead generation failed, keeping the text its log holds (if any); release its reservation; return
    its terminal event."""
    kept = {"content": content} if content else {}
    with transaction.atomic():
        failed = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            status=Message.Status.FAILED,
            error_code=GenerationLost.code,
            last_event_id=end_id,
            finished_at=timezone.now(),
            **kept,
        )
        if not failed:
            return None
        for reservation_id in Reservation.objects.filter(message_id=message_id, status="open").values_list(
            "pk", flat=True
        ):
            reservation_settle(reservation_id=reservation_id, cost=Decimal(0))
        chat_id, anon_id = Message.objects.values_list("chat_id", "chat__anon_id").get(pk=message_id)
        if anon_id and not content:
            # Nothing came before the process died: the guest's free message comes back, as for any answer
            # that fails before its first token. (The per-IP count is not known here and stays.)
            anon_message_release(anon_id=anon_id, ip=None)
    data = {"chat_id": str(chat_id), "message_id": message_id, **GenerationLost().payload()}
    return StreamEvent(end_id, events.ASSISTANT_ERROR, data, final=True)
