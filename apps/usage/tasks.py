"""Celery tasks: load by id / arguments and call the service. Only transient database errors are retried.

Rating runs in at most USAGE_RATING_TASKS tasks at once (default 2, the worker's processes in production): each
task holds a slot (a session advisory lock, lost with a killed worker's connection) while it rates, and a task
that finds every slot taken returns at once, so queued extras cost nothing and never pile up work. Two tasks in
flight under load: a batch that leaves customers for another worker queues a helper when a slot is free; a task
that stops at max_batches queues its successor; one that stops because nothing was pending looks once more after
giving its slot up (an ingestion that saw every slot taken did not queue: its events are not left to the sweep)."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from apps.core.actors import SYSTEM, Actor
from apps.core.locks import session_slot, session_slots_held
from apps.core.queueing import enqueue
from apps.core.selectors import user_get

from .services import (
    DEFAULT_BATCH_SIZE,
    BatchOutcome,
    usage_pending_exists,
    usage_rate_pending,
    usage_rerate,
    usage_rerate_after_approval,
)

TRANSIENT = (OperationalError, InterfaceError)
RATE_PENDING = "usage.rate_pending"
RERATE_RANGE = "usage.rerate_range"
RERATE_AFTER_APPROVAL = "usage.rerate_after_approval"
RATING_SLOTS = 0x55535254 << 32  # "USRT": advisory lock keys of the rating task slots
log = logging.getLogger(__name__)


def rating_tasks() -> int:
    """How many rating tasks may run at once."""
    return int(settings.RATEDESK.get("USAGE_RATING_TASKS", 2))


def _eager() -> bool:
    return bool(rate_pending_task.app.conf.task_always_eager)


def _queue_helper(outcome: BatchOutcome) -> None:
    """A batch left customers for another worker: queue a task to take them if a slot is free (at most one every
    couple of seconds from this process). Not in eager mode: there the running loop rates them next."""
    if not outcome.left or _eager():
        return
    if session_slots_held(RATING_SLOTS, rating_tasks()) >= rating_tasks():
        return
    if cache.add("usage:rating-helper", 1, timeout=2):
        enqueue(rate_pending_task)


@shared_task(name=RATE_PENDING, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def rate_pending_task(batch_size: int | None = None, max_batches: int | None = 20) -> dict:
    with session_slot(RATING_SLOTS, rating_tasks()) as slot:
        if slot is None:
            return {"batches": 0, "events": 0, "errors": 0, "stopped": "no free slot"}
        summary = usage_rate_pending(
            batch_size=batch_size or DEFAULT_BATCH_SIZE, max_batches=max_batches, on_batch=_queue_helper
        )
    if summary.stopped == "max_batches" or (summary.stopped == "done" and usage_pending_exists()):
        enqueue(rate_pending_task, batch_size=batch_size, max_batches=max_batches)  # the successor
    return {"batches": summary.batches, "events": summary.events, "errors": summary.errors, "stopped": summary.stopped}


def _actor(user_id: int | None) -> Actor:
    if user_id is None:
        return SYSTEM
    return Actor(user=user_get(user_id=user_id))


@shared_task(name=RERATE_RANGE, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def rerate_range_task(
    start: str, end: str, customer_id: int | None = None, reason: str = "", actor_user_id: int | None = None
) -> dict:
    summary = usage_rerate(
        start=datetime.fromisoformat(start),
        end=datetime.fromisoformat(end),
        customer_id=customer_id,
        actor=_actor(actor_user_id),
        reason=reason,
    )
    return {
        "batch_id": summary.batch_id,
        "rerated": summary.rerated,
        "superseded": summary.superseded,
        "difference": {k: str(v) for k, v in summary.difference.items()},
    }


@shared_task(name=RERATE_AFTER_APPROVAL, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def rerate_after_approval_task(version_id: int, rate_table_id: int, effective_from: str) -> dict | None:
    summary = usage_rerate_after_approval(
        version_id=version_id, rate_table_id=rate_table_id, effective_from=datetime.fromisoformat(effective_from)
    )
    if summary is None:
        return None
    return {"batch_id": summary.batch_id, "rerated": summary.rerated, "superseded": summary.superseded}


def queue_rating() -> None:
    """After an ingestion commits: rate soon. Eager (dev, tests): now, in-process. With a broker: one task per web
    process every couple of seconds at most, and none while every rating slot is taken (the running tasks look
    for pending events before they stop, and once more after; the beat sweep catches anything left)."""
    if not settings.RATEDESK.get("USAGE_RATE_ON_INGEST", True):
        return
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    if not eager and not cache.add("usage:rating-queued", 1, timeout=2):
        return
    try:
        if not eager and session_slots_held(RATING_SLOTS, rating_tasks()) >= rating_tasks():
            return
        enqueue(rate_pending_task)
    except Exception:  # noqa: BLE001 - the events are stored: a rating failure is never the ingestion's failure
        log.exception("rating after ingestion failed; the beat sweep retries it")


from .simulation.tasks import simulate_task  # noqa: E402,F401 - registered with the worker through this module
