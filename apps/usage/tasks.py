"""Celery tasks: load by id / arguments and call the service. Only transient database errors are retried."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError

from apps.core.actors import SYSTEM, Actor
from apps.core.queueing import enqueue
from apps.core.selectors import user_get

from .services import DEFAULT_BATCH_SIZE, usage_rate_pending, usage_rerate, usage_rerate_after_approval

TRANSIENT = (OperationalError, InterfaceError)
RATE_PENDING = "usage.rate_pending"
RERATE_RANGE = "usage.rerate_range"
RERATE_AFTER_APPROVAL = "usage.rerate_after_approval"


@shared_task(name=RATE_PENDING, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def rate_pending_task(batch_size: int | None = None, max_batches: int | None = 20) -> dict:
    summary = usage_rate_pending(batch_size=batch_size or DEFAULT_BATCH_SIZE, max_batches=max_batches)
    return {"batches": summary.batches, "events": summary.events, "errors": summary.errors}


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
    """After an ingestion commits: rate soon (a task rates at most 20 batches; the beat sweep continues). Eager (dev, tests): now, in-process. With a broker: one task per
    web process every couple of seconds at most (the beat sweep catches anything left)."""
    if not settings.RATEDESK.get("USAGE_RATE_ON_INGEST", True):
        return
    if not settings.CELERY_TASK_ALWAYS_EAGER and not cache.add("usage:rating-queued", 1, timeout=2):
        return
    try:
        enqueue(rate_pending_task)
    except Exception:  # noqa: BLE001 - the events are stored: a rating failure is never the ingestion's failure
        logging.getLogger(__name__).exception("rating after ingestion failed; the beat sweep retries it")


from .simulation.tasks import simulate_task  # noqa: E402,F401 - registered with the worker through this module
