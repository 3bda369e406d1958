"""The broker being unreachable never fails a request whose write committed: the queueing error is logged, the
caller gets its answer, and the periodic sweep does the work. Real commits (transaction=True) so on_commit runs
inside the request, as in production; Celery publishes for real (eager off) to a closed port."""

from __future__ import annotations

import json
import socket

import pytest
from django.test import Client

from apps.alerts.tasks import deliver_notification_task
from apps.core.actors import SYSTEM
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.core.services import api_key_create
from apps.usage.models import UsageEvent
from apps.usage.tasks import rate_pending_task
from config.celery import app
from tests.usage.builders import ago, rate

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _apps():
    # The app the tasks resolve to (Celery's current app) and the project's app: normally the same object.
    return {id(a): a for a in (app, rate_pending_task.app, deliver_notification_task.app)}.values()


def _fresh_pools(celery_app):
    # Connections and producers are pooled per app: drop them so the next publish uses the current broker url.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    closed = f"redis://127.0.0.1:{_closed_port()}/0"
    saved = []
    for celery_app in _apps():
        saved.append((celery_app, celery_app.conf.task_always_eager, celery_app.conf.broker_url))
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_url = closed
        _fresh_pools(celery_app)
    yield
    for celery_app, eager, url in saved:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = eager, url
        _fresh_pools(celery_app)


def test_enqueue_reports_a_refused_publish_without_raising(broker_down, caplog):
    assert enqueue(rate_pending_task) is False
    assert "could not queue usage.rate_pending" in caplog.text
    assert "Connection refused" in caplog.text or "Error 111" in caplog.text


def test_enqueue_on_commit_outside_a_transaction_does_not_raise(broker_down, caplog):
    enqueue_on_commit(deliver_notification_task, 123)
    assert "could not queue alerts" in caplog.text


def test_ingestion_answers_200_and_the_sweep_rates_later(world, broker_down, caplog):
    tokens = world.meter("llm.input_tokens")
    table = world.table()
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    acme = world.customer("acme", table, credits="1000")
    key = api_key_create(name="ingest", actor=SYSTEM)
    body = {"events": [world.event(acme, tokens, 5, ago(minutes=2), id=f"e{i}") for i in range(3)]}
    response = Client().post(
        "/api/v1/events",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
    )
    assert response.status_code == 200 and response.json()["ingested"] == 3
    assert "could not queue usage.rate_pending" in caplog.text
    assert UsageEvent.objects.filter(state=UsageEvent.State.PENDING).count() == 3
    rate()  # what the beat sweep runs
    assert UsageEvent.objects.filter(state=UsageEvent.State.RATED).count() == 3


def test_a_backdated_approval_succeeds_while_its_rerate_cannot_be_queued(world, broker_down, caplog):
    tokens = world.meter("llm.input_tokens")
    table = world.table()
    world.version(table, {tokens: "0.001"}, effective_from=ago(days=60))
    version = world.version(table, {tokens: "0.002"}, effective_from=ago(days=1), backdated=True)
    assert version.status == "approved"
    assert "could not queue usage.rerate_after_approval" in caplog.text
