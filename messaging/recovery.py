"""Crash recovery: end the generations whose process died, and give back what they held.

A generation is taken for dead when its answer has been ``streaming`` longer than ``GENERATION_ORPHAN_SECONDS``
and no process holds its owner key (with Redis, on two passes in a row: a key can vanish for a moment when Redis
restarts). Its answer is failed with ``GENERATION_LOST``, keeping the text its log holds, its credit released,
and its log ended so that readers stop waiting.

While Redis is unreachable nothing is reaped: no process can tell a dead generation from a live one then. An
outage also starts the two passes over, since the keys may have been lost with it.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chats.models import Message
from chats.services import answer_fail_lost
from chatsite.errors import GenerationLost, ServiceUnavailable
from chatsite.outages import redis_health
from chatsite.redis import redis_enabled
from messaging import events
from messaging.events import StreamEvent
from messaging.log_reader import log_end_append, orphan_log
from messaging.metrics import GENERATIONS
from messaging.owners import owners
from usage.selectors import reservation_open_for, reservations_orphaned
from usage.services import QuotaHold, hold_close

log = logging.getLogger(__name__)

CANDIDATES = 500


class _Suspects:
    """Generations without an owner key on the last pass, and how many Redis outages had happened by then."""

    ids: set[str] = set()
    outages = 0


def reservations_orphaned_release(*, opened_before: datetime) -> int:
    """Release credit held for a send whose process died before it wrote the answer's row."""
    orphans = reservations_orphaned(opened_before=opened_before)
    for reservation_id in orphans:
        hold_close(hold=QuotaHold(reservation_id=reservation_id))
    return len(orphans)


def orphan_candidates(*, started_before: datetime) -> list[str]:
    rows = Message.objects.filter(status=Message.Status.STREAMING, created_at__lt=started_before)
    return [str(pk) for pk in rows.values_list("pk", flat=True)[:CANDIDATES]]


@transaction.atomic
def orphan_fail(*, message_id: str, end_id: int, content: str, reasoning: str = "") -> StreamEvent | None:
    """Fail a dead generation's answer and close its hold; return the terminal event of its stream."""
    error = GenerationLost()
    answer = answer_fail_lost(
        message_id=message_id, end_id=end_id, error_code=error.code, content=content, reasoning=reasoning
    )
    if answer is None:
        return None
    # Nothing came before the process died: a guest's free message comes back, as for any answer that fails
    # before its first token. (The per-IP count is not known here and stays.)
    hold = QuotaHold(anon_id=answer.chat.anon_id, reservation_id=reservation_open_for(message_id=message_id))
    hold_close(hold=hold, give_back=not (content or reasoning))
    data = events.error_data(error, chat_id=str(answer.chat_id), message_id=message_id)
    return StreamEvent(end_id, events.ASSISTANT_ERROR, data, final=True)


async def _confirmed_dead(candidates: list[str]) -> set[str]:
    """Those without an owner on this pass and the last (one pass is enough without Redis); raises
    ``ServiceUnavailable`` when Redis cannot tell."""
    alive = await owners.alive(candidates)
    missing = {message_id for message_id in candidates if message_id not in alive}
    if not redis_enabled():
        return missing
    seen = _Suspects.ids if _Suspects.outages == redis_health.outages else set()
    _Suspects.ids, _Suspects.outages = missing, redis_health.outages
    return missing & seen


async def generations_reap() -> int:
    """Fail the ``streaming`` messages nobody runs any more; return how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_ORPHAN_SECONDS)
    await database_sync_to_async(reservations_orphaned_release)(opened_before=cutoff)
    candidates = await database_sync_to_async(orphan_candidates)(started_before=cutoff)
    reaped = 0
    try:
        for message_id in sorted(await _confirmed_dead(candidates)):
            reaped += await _reap(message_id)
    except ServiceUnavailable:  # (logged) the next pass after the outage takes it up again
        _Suspects.ids = set()
    if reaped:
        log.warning("marked %d orphaned generation(s) failed", reaped)
    return reaped


async def _reap(message_id: str) -> int:
    end_id, content, reasoning = await orphan_log(message_id)
    terminal = await database_sync_to_async(orphan_fail)(
        message_id=message_id, end_id=end_id, content=content, reasoning=reasoning
    )
    if terminal is None:
        return 0
    GENERATIONS.labels(outcome=Message.Status.FAILED, code=GenerationLost.code).inc()
    if redis_enabled():
        # Readers of the log that miss this end find the failed answer in the database instead.
        with contextlib.suppress(ServiceUnavailable):
            await log_end_append(message_id, terminal)
    return 1
