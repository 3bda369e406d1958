"""Celery tasks: evaluate after rating and periodically; deliver notifications with retries and backoff.

Only transient errors are retried: database connection errors (evaluation), network errors, timeouts and HTTP
5xx/429 (webhooks). A delivery records every attempt; after the last one it is marked failed, never raised,
so an eager (in-process) run cannot fail the rating that triggered it.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

TRANSIENT_DB = (OperationalError, InterfaceError)
EVALUATE = "alerts.evaluate_customers"
EVALUATE_ALL = "alerts.evaluate_all"
DELIVER = "alerts.deliver_notification"
SWEEP = "alerts.sweep_deliveries"


@shared_task(name=EVALUATE, autoretry_for=TRANSIENT_DB, retry_backoff=True, max_retries=5)
def evaluate_customers_task(customer_ids: list[int], batch_id: int | None = None) -> dict:
    from .services import alerts_evaluate

    summary = alerts_evaluate(customer_ids=customer_ids, batch_id=batch_id)
    return {"customers": summary.customers, "fired": summary.fired, "resolved": summary.resolved}


@shared_task(name=EVALUATE_ALL, autoretry_for=TRANSIENT_DB, retry_backoff=True, max_retries=3)
def evaluate_all_task(chunk: int = 200) -> dict:
    """The periodic sweep: every customer with a contract in force or a live alert (balances and runways move
    without new usage: grants expire, days pass)."""
    from .selectors import customers_to_evaluate
    from .services import alerts_evaluate

    ids = customers_to_evaluate()
    fired = resolved = 0
    for start in range(0, len(ids), chunk):
        summary = alerts_evaluate(customer_ids=ids[start : start + chunk])
        fired += summary.fired
        resolved += summary.resolved
    return {"customers": len(ids), "fired": fired, "resolved": resolved}


@shared_task(bind=True, name=DELIVER, max_retries=None)
def deliver_notification_task(self, delivery_id: int) -> str:
    """One delivery; on a transient error Celery retries it after 30 s, 2 min, 8 min, 32 min (then hourly) until
    the attempt limit (RATEDESK["ALERTS_DELIVERY_MAX_ATTEMPTS"], default 5) marks it failed."""
    from .services import TransientDeliveryError, delivery_attempt, retry_delay

    while True:
        try:
            delivery = delivery_attempt(delivery_id=delivery_id)
        except TransientDeliveryError as exc:
            if self.request.is_eager:
                # No broker to schedule a retry (dev, tests): try again at once; delivery_attempt counts the
                # attempts and marks the delivery failed at the limit instead of raising.
                continue
            raise self.retry(exc=exc, countdown=retry_delay(self.request.retries + 1)) from exc
        return delivery.status if delivery is not None else "missing"


@shared_task(name=SWEEP)
def sweep_deliveries_task() -> int:
    """Re-queue deliveries whose task was lost (worker restart, broker outage)."""
    from .services import deliveries_due

    ids = deliveries_due()
    from apps.core.queueing import enqueue

    for pk in ids:
        enqueue(deliver_notification_task, pk)
    return len(ids)


def on_usage_rated(sender, *, batch_id=None, customer_ids=(), **kwargs) -> None:
    """Receiver of apps.usage.signals.usage_rated (sent on commit of a rating or re-rating batch)."""
    from django.conf import settings

    from apps.core.queueing import enqueue

    ids = sorted({int(i) for i in customer_ids or ()})
    if not ids or not settings.RATEDESK.get("ALERTS_EVALUATE_AFTER_RATING", True):
        return  # (bulk loads such as demo seeding turn this off and evaluate once at the end)
    # robust: an evaluation problem is logged, never raised into the rating that already committed.
    from django.db import transaction

    transaction.on_commit(lambda: enqueue(evaluate_customers_task, ids, batch_id), robust=True)
