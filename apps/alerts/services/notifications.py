"""Alert notifications: one delivery per recipient (the account manager's email, each matching webhook), sent
after the firing transaction commits, retried with backoff, swept when a task was lost."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.core.queueing import enqueue_on_commit

from .. import webhooks
from ..models import Alert, NotificationDelivery, WebhookEndpoint
from ..tasks import deliver_notification_task
from .webhooks import sign

log = logging.getLogger(__name__)


def site_url() -> str:
    return str(getattr(settings, "RATEDESK", {}).get("SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def alert_payload(alert: Alert) -> dict:
    return {
        "event": "alert.fired",
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "state": alert.state,
            "customer": alert.customer.external_id,
            "customer_name": alert.customer.name,
            "meter": alert.subject or None,
            "window": alert.window,
            "crossing": alert.seq,
            "value": format(alert.value.normalize(), "f"),
            "threshold": format(alert.threshold.normalize(), "f"),
            "unit": alert.unit,
            "message": alert.message,
            "occurred_on": alert.occurred_on.isoformat(),
            "fired_at": alert.fired_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "url": site_url() + reverse("alerts:alert-detail", args=[alert.pk]),
        },
    }


def _queue_notifications(alert_ids: list[int]) -> None:
    """Create one delivery per recipient (email to the account manager, each matching webhook) and send them
    after the transaction commits."""
    alerts = list(Alert.objects.select_related("customer__account_manager").filter(pk__in=alert_ids))
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
    deliveries = []
    for alert in alerts:
        manager = alert.customer.account_manager
        if manager is not None and manager.email:
            deliveries.append(
                NotificationDelivery(alert=alert, channel=NotificationDelivery.Channel.EMAIL, recipient=manager.email)
            )
        payload = None
        for endpoint in endpoints:
            if not endpoint.wants(alert.kind):
                continue
            if payload is None:
                payload = json.dumps(alert_payload(alert), separators=(",", ":"), sort_keys=True)
            deliveries.append(
                NotificationDelivery(
                    alert=alert,
                    channel=NotificationDelivery.Channel.WEBHOOK,
                    endpoint=endpoint,
                    recipient=endpoint.url,
                    body=payload,
                )
            )  # signed at each send, with that moment's timestamp
    created = []
    for delivery in deliveries:
        try:
            with transaction.atomic():
                delivery.save(force_insert=True)
        except IntegrityError:
            continue
        created.append(delivery.pk)
    if created:
        for pk in created:  # a broker outage must not fail the rating that triggered it; the sweep re-queues
            enqueue_on_commit(deliver_notification_task, pk)


class TransientDeliveryError(Exception):
    """A failure worth retrying (network error, timeout, HTTP 5xx or 429)."""


class PermanentDeliveryError(Exception):
    """A failure retrying will not fix (HTTP 4xx, no recipient)."""


def _post_webhook(delivery: NotificationDelivery) -> int:
    body = delivery.body.encode()
    timeout = int(getattr(settings, "RATEDESK", {}).get("ALERTS_WEBHOOK_TIMEOUT_SECONDS", 5))
    secret = delivery.endpoint.secret if delivery.endpoint is not None else ""
    if not secret:
        raise PermanentDeliveryError("endpoint removed")
    signature = sign(secret, body)
    NotificationDelivery.objects.filter(pk=delivery.pk).update(signature=signature[:100])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Ratedesk-Alerts/1",
        "X-Ratedesk-Event": "alert.fired",
        "X-Ratedesk-Delivery": str(delivery.pk),
        "X-Ratedesk-Signature": signature,
    }
    try:
        return webhooks.post(delivery.recipient, body, headers, timeout=timeout)
    except webhooks.DeliveryFailure as exc:
        if exc.transient:
            raise TransientDeliveryError(str(exc)) from None
        raise PermanentDeliveryError(str(exc)) from None


def _send_email(delivery: NotificationDelivery) -> None:
    alert = delivery.alert
    payload = alert_payload(alert)["alert"]
    subject = f"[Ratedesk] {alert.customer.name}: {alert.get_kind_display().lower()}"
    lines = [
        alert.message,
        "",
        f"Value: {payload['value']} {alert.unit}",
        f"Threshold: {payload['threshold']} {alert.unit}",
        f"Customer: {alert.customer.name} ({alert.customer.external_id})",
        f"Window: {alert.window}",
        "",
        f"Acknowledge it here: {payload['url']}",
    ]
    EmailMessage(
        subject=subject[:200], body="\n".join(lines), from_email=settings.DEFAULT_FROM_EMAIL, to=[delivery.recipient]
    ).send()


MAX_ATTEMPTS = 5


def max_attempts() -> int:
    return int(getattr(settings, "RATEDESK", {}).get("ALERTS_DELIVERY_MAX_ATTEMPTS", MAX_ATTEMPTS))


def retry_delay(attempt: int) -> int:
    """Seconds before the next attempt: 30 s, 2 min, 8 min, 32 min, then hourly."""
    return min(30 * 4 ** (attempt - 1), 3600)


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> NotificationDelivery | None:
    """One attempt at a delivery; records it. Raises TransientDeliveryError when a retry should follow
    (the task retries with backoff), never for a delivery that is done."""
    with transaction.atomic():
        delivery = (
            NotificationDelivery.objects.select_for_update(of=("self",))
            .select_related("alert__customer", "endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in (
            NotificationDelivery.Status.SENT,
            NotificationDelivery.Status.FAILED,
        ):
            return delivery
        delivery.attempts += 1
        attempt = delivery.attempts
        delivery.save(update_fields=["attempts", "updated_at"])
    now = now or timezone.now()
    status, error, code = NotificationDelivery.Status.SENT, "", None
    transient = False
    try:
        if delivery.channel == NotificationDelivery.Channel.EMAIL:
            _send_email(delivery)
        else:
            if delivery.endpoint is not None and not delivery.endpoint.is_active:
                raise PermanentDeliveryError("endpoint deactivated")
            code = _post_webhook(delivery)
    except TransientDeliveryError as exc:
        transient, error = True, str(exc) or exc.__class__.__name__
    except PermanentDeliveryError as exc:
        status, error = NotificationDelivery.Status.FAILED, str(exc)
    except Exception as exc:  # email backend errors (SMTP) are transient as far as we can tell
        log.warning("delivery %s failed", delivery_id, exc_info=True)
        transient, error = True, f"{exc.__class__.__name__}"
    if transient:
        if attempt >= max_attempts():
            status = NotificationDelivery.Status.FAILED
            error = f"{error} (gave up after {attempt} attempts)"
        else:
            status = NotificationDelivery.Status.RETRYING
    if error.startswith("HTTP "):
        code = int(error.split()[1])  # "HTTP 503", "HTTP 302 (redirects are not followed)"
    entry = {"attempt": attempt, "at": now.isoformat(), "status": status, "error": error[:300], "response_status": code}
    with transaction.atomic():
        delivery = NotificationDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.status = status
        delivery.last_error = error[:500]
        delivery.response_status = code
        delivery.log = [*delivery.log, entry]
        if status == NotificationDelivery.Status.SENT:
            delivery.sent_at = now
            delivery.next_attempt_at = None
        elif status == NotificationDelivery.Status.RETRYING:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(attempt))
        else:
            delivery.next_attempt_at = None
        delivery.save(
            update_fields=["status", "last_error", "response_status", "log", "sent_at", "next_attempt_at", "updated_at"]
        )
    if status == NotificationDelivery.Status.RETRYING:
        raise TransientDeliveryError(error)
    return delivery


def deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Deliveries a lost task left behind (pending for a while, or retrying past their time): for the sweeper."""
    now = now or timezone.now()
    return list(
        NotificationDelivery.objects.filter(
            Q(status=NotificationDelivery.Status.PENDING, created_at__lte=now - timedelta(minutes=5))
            | Q(status=NotificationDelivery.Status.RETRYING, next_attempt_at__lte=now - timedelta(minutes=5))
        ).values_list("pk", flat=True)[:500]
    )
