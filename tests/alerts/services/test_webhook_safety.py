"""Webhooks cannot reach inside: private/loopback/link-local/multicast/unspecified destinations are refused at save
time and again after DNS at send time, redirects are not followed, failures are recorded without the remote's own
error text, and signatures carry a timestamp so a captured delivery cannot be replayed."""

import time

import pytest
from django.urls import reverse

from apps.alerts import services
from apps.alerts.models import NotificationDelivery, WebhookEndpoint
from apps.alerts.services import webhook_endpoint_create, webhook_endpoint_update
from apps.core.actors import SYSTEM
from apps.core.errors import ValidationFailed
from tests.alerts.services.test_notifications import Receiver, fire  # noqa: F401, F811 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://localhost:8000/hook",
        "http://10.0.0.1/",
        "http://192.168.1.20/",
        "http://172.16.0.5/",
        "http://169.254.169.254/latest/meta-data/",
        "http://224.0.0.1/",
        "http://0.0.0.0:80/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://2130706433/",
    ],
)
def test_internal_destinations_are_refused_at_save_time(url, clients):
    with pytest.raises(ValidationFailed) as refused:
        webhook_endpoint_create(name="scan", url=url, actor=SYSTEM)
    assert refused.value.field == "url"
    response = clients["owner"].post(reverse("alerts:webhook-create"), {"name": "scan", "url": url})
    assert response.status_code == 400 and not WebhookEndpoint.objects.exists()


def test_an_edit_cannot_point_an_endpoint_inside():
    endpoint = webhook_endpoint_create(name="ops", url="https://93.184.215.14/hook", actor=SYSTEM)
    with pytest.raises(ValidationFailed):
        webhook_endpoint_update(
            endpoint_id=endpoint.pk, name="ops", url="http://127.0.0.1:6379/", is_active=True, actor=SYSTEM
        )


def test_public_addresses_and_allowed_private_hosts_are_accepted(settings):
    webhook_endpoint_create(name="public", url="https://93.184.215.14/hook", actor=SYSTEM)
    with pytest.raises(ValidationFailed):
        webhook_endpoint_create(name="onprem", url="http://127.0.0.1:9000/hook", actor=SYSTEM)
    settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"]}
    webhook_endpoint_create(name="onprem", url="http://127.0.0.1:9000/hook", actor=SYSTEM)


@pytest.fixture
def deliver(fire):  # noqa: F811 - the imported fixture
    def run():
        fire()
        return NotificationDelivery.objects.get(channel="webhook")

    return run


def test_send_time_check_after_dns_refuses_a_name_that_resolves_to_loopback(deliver):
    with Receiver() as receiver:
        endpoint = webhook_endpoint_create(name="ops", url="https://93.184.215.14/hook", actor=SYSTEM)
        # A stored URL whose name resolves inside (saved before the rule, or DNS changed since).
        port = receiver.server.server_address[1]
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"http://localhost:{port}/hook")
        delivery = deliver()
    assert receiver.requests == []
    assert delivery.status == "failed" and delivery.last_error.startswith("refused:")


def test_allowed_hosts_are_checked_again_at_send_time(deliver, settings):
    with Receiver() as receiver:
        settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"]}
        webhook_endpoint_create(name="ops", url=receiver.url, actor=SYSTEM)
        settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": []}
        delivery = deliver()
    assert receiver.requests == [] and delivery.status == "failed"


def test_redirects_are_not_followed(deliver, settings):
    settings.RATEDESK = {**settings.RATEDESK, "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"]}
    with Receiver() as target, Receiver(statuses=[302]) as redirecting:
        redirecting.location = target.url
        webhook_endpoint_create(name="ops", url=redirecting.url, actor=SYSTEM)
        delivery = deliver()
    assert len(redirecting.requests) == 1 and target.requests == []
    assert delivery.status == "failed" and delivery.response_status == 302
    assert "redirects are not followed" in delivery.last_error


def test_failures_do_not_show_the_remote_error_text(deliver, settings, clients):
    settings.RATEDESK = {
        **settings.RATEDESK,
        "WEBHOOK_ALLOWED_PRIVATE_HOSTS": ["127.0.0.1"],
        "ALERTS_DELIVERY_MAX_ATTEMPTS": 1,
    }
    closed = Receiver()
    url = closed.url
    closed.server.server_close()
    webhook_endpoint_create(name="down", url=url, actor=SYSTEM)
    delivery = deliver()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith("connection failed")
    page = clients["owner"].get(reverse("alerts:webhook-list")).content.decode()
    for leak in ("Connection refused", "Errno", "Remote end closed"):
        assert leak not in delivery.last_error and leak not in page
        assert all(leak not in entry["error"] for entry in delivery.log)


def test_the_signature_carries_a_timestamp_and_a_stale_one_is_refused():
    body = b'{"event":"alert.fired"}'
    header = services.sign("whsec_x", body)
    t = int(header.split(",")[0].removeprefix("t="))
    assert abs(t - time.time()) < 600 and ",v1=" in header
    assert services.verify_signature("whsec_x", body, header)
    assert not services.verify_signature("whsec_x", body + b" ", header)
    assert not services.verify_signature("whsec_y", body, header)
    assert not services.verify_signature("whsec_x", body, header, now=t + 301)  # replayed later
    assert not services.verify_signature("whsec_x", body, f"t={t + 1000},v1=" + header.split("v1=")[1], now=t)
