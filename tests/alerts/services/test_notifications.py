"""Notifications: email to the account manager, webhooks signed with HMAC-SHA256 over the body (verified by a
tiny HTTP server on 127.0.0.1), retried with backoff on transient errors, every attempt logged."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from apps.alerts import services
from apps.alerts.models import Alert, Kind, NotificationDelivery
from apps.alerts.services import alert_rule_create, webhook_endpoint_create
from apps.core.actors import SYSTEM
from tests.alerts.builders import ago, ingest_and_rate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def loopback_receiver_allowed(settings):
    """The receivers here listen on 127.0.0.1: allowed explicitly, as an on-premises receiver would be."""
    settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"]}


class Receiver:
    """A loopback-only webhook receiver answering with the next status of a script (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.location = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"body": body, "headers": dict(self.headers)})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ratedesk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fire(shop, users, django_capture_on_commit_callbacks):
    """Make one balance alert fire for a customer managed by `am`, through rating."""

    def run():
        customer = shop.customer("hooked", credits="1000", manager=users["am"])
        alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="500", customer_id=customer.pk, actor=SYSTEM)
        ingest_and_rate([shop.event(customer, shop.tokens, 300_000, ago(hours=1))], django_capture_on_commit_callbacks)
        return Alert.objects.get(customer=customer, kind=Kind.BALANCE_BELOW)

    return run


def test_webhook_is_signed_over_the_body_and_verifiable(fire):
    with Receiver() as receiver:
        endpoint = webhook_endpoint_create(name="ops", url=receiver.url, actor=SYSTEM)
        alert = fire()
    [request] = receiver.requests
    header = request["headers"]["X-Ratedesk-Signature"]
    t = header.split(",")[0].removeprefix("t=")
    expected = hmac.new(endpoint.secret.encode(), f"{t}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, f"t={t},v1={expected}")
    assert services.verify_signature(endpoint.secret, request["body"], header)
    assert not services.verify_signature("another-secret", request["body"], header)
    payload = json.loads(request["body"])
    assert payload["event"] == "alert.fired"
    assert payload["alert"]["id"] == alert.pk and payload["alert"]["kind"] == "balance_below"
    assert (payload["alert"]["value"], payload["alert"]["threshold"]) == ("400", "500")
    assert payload["alert"]["customer"] == "hooked"
    delivery = NotificationDelivery.objects.get(channel="webhook")
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("sent", 1, 200)
    assert request["headers"]["X-Ratedesk-Delivery"] == str(delivery.pk)


def test_email_goes_to_the_account_manager(fire, users):
    alert = fire()
    [message] = [m for m in mail.outbox if "balance below" in m.subject]
    assert message.to == [users["am"].email]
    assert alert.message in message.body and f"/alerts/{alert.pk}/" in message.body
    delivery = NotificationDelivery.objects.get(alert=alert, channel="email")
    assert (delivery.status, delivery.attempts, delivery.recipient) == ("sent", 1, users["am"].email)


def test_transient_failures_are_retried_with_backoff_and_logged(fire):
    with Receiver(statuses=[500, 503]) as receiver:
        webhook_endpoint_create(name="flaky", url=receiver.url, actor=SYSTEM)
        fire()
    assert len(receiver.requests) == 3
    bodies = {r["body"] for r in receiver.requests}
    assert len(bodies) == 1  # retries resend the same body, signed afresh with the time of each attempt
    secret = NotificationDelivery.objects.get(channel="webhook").endpoint.secret
    for r in receiver.requests:
        assert services.verify_signature(secret, r["body"], r["headers"]["X-Ratedesk-Signature"])
    delivery = NotificationDelivery.objects.get(channel="webhook")
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    assert [(e["status"], e["response_status"]) for e in delivery.log] == [
        ("retrying", 500),
        ("retrying", 503),
        ("sent", 200),
    ]
    assert [services.retry_delay(n) for n in (1, 2, 3, 4, 5, 6)] == [30, 120, 480, 1920, 3600, 3600]


def test_a_client_error_fails_at_once_and_an_unreachable_endpoint_gives_up(fire, settings):
    settings.RATEDESK = {**settings.RATEDESK, "ALERTS_DELIVERY_MAX_ATTEMPTS": 3, "ALERTS_WEBHOOK_TIMEOUT_SECONDS": 2}
    with Receiver(statuses=[410]) as receiver:
        webhook_endpoint_create(name="gone", url=receiver.url, actor=SYSTEM)
        closed = Receiver()  # bound, never serving: connections are refused once it is closed
        closed_url = closed.url
        closed.server.server_close()
        webhook_endpoint_create(name="down", url=closed_url, actor=SYSTEM)
        fire()
    gone = NotificationDelivery.objects.get(endpoint__name="gone")
    assert (gone.status, gone.attempts, gone.response_status) == ("failed", 1, 410)
    down = NotificationDelivery.objects.get(endpoint__name="down")
    assert (down.status, down.attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in down.last_error
    assert [e["status"] for e in down.log] == ["retrying", "retrying", "failed"]


def test_notifying_twice_is_impossible(fire):
    with Receiver() as receiver:
        webhook_endpoint_create(name="ops", url=receiver.url, actor=SYSTEM)
        alert = fire()
        services._queue_notifications([alert.pk])  # as a repeated evaluation would
        for delivery in NotificationDelivery.objects.all():
            services.delivery_attempt(delivery_id=delivery.pk)  # a duplicated task: already sent, no-op
    assert len(receiver.requests) == 1
    assert NotificationDelivery.objects.filter(alert=alert).count() == 2  # one email, one webhook


def test_webhook_kinds_filter(fire):
    with Receiver() as receiver:
        webhook_endpoint_create(name="spikes only", url=receiver.url, kinds=[Kind.DAILY_SPIKE], actor=SYSTEM)
        fire()
    assert receiver.requests == []
    assert not NotificationDelivery.objects.filter(channel="webhook").exists()


def test_with_a_worker_a_transient_error_schedules_a_celery_retry_with_backoff(fire, monkeypatch):
    from apps.alerts.tasks import deliver_notification_task

    with Receiver(statuses=[502]) as receiver:
        endpoint = webhook_endpoint_create(name="ops", url=receiver.url, actor=SYSTEM, kinds=[Kind.RUNWAY_BELOW])
        alert = fire()  # a balance alert: this endpoint does not want it, so nothing was sent yet
        endpoint.kinds = []
        endpoint.save()
        services._queue_notifications([alert.pk])
        delivery = NotificationDelivery.objects.get(channel="webhook")
        NotificationDelivery.objects.filter(pk=delivery.pk).update(status="pending", attempts=0, log=[])

        scheduled = []

        class Scheduled(Exception):
            pass

        def fake_retry(*, exc, countdown):
            scheduled.append(countdown)
            return Scheduled()

        monkeypatch.setattr(deliver_notification_task, "retry", fake_retry)
        deliver_notification_task.push_request(is_eager=False, retries=1)
        try:
            with pytest.raises(Scheduled):
                deliver_notification_task.run(delivery.pk)
        finally:
            deliver_notification_task.pop_request()
    assert scheduled == [services.retry_delay(2)] == [120]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    assert delivery.next_attempt_at is not None


def test_bulk_loads_can_turn_evaluation_after_rating_and_notifications_off(
    shop, users, settings, evaluate, django_capture_on_commit_callbacks
):
    """What demo seeding does: rate 90 days without evaluating after each batch, then evaluate once, silently."""
    settings.RATEDESK = {**settings.RATEDESK, "ALERTS_EVALUATE_AFTER_RATING": False, "ALERTS_NOTIFY": False}
    customer = shop.customer("bulk", credits="1000", manager=users["am"])
    alert_rule_create(kind=Kind.BALANCE_BELOW, threshold="500", customer_id=customer.pk, actor=SYSTEM)
    ingest_and_rate([shop.event(customer, shop.tokens, 300_000, ago(hours=1))], django_capture_on_commit_callbacks)
    assert not Alert.objects.filter(customer=customer).exists()
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(customer)
    alert = Alert.objects.get(customer=customer, kind=Kind.BALANCE_BELOW)
    assert alert.detail["notified"] is False
    assert not NotificationDelivery.objects.exists() and mail.outbox == []
