"""Rating tasks in production shape: at most two run at once (slots), a task that stops with work left queues its
successor, a batch that leaves customers for another worker queues a helper while a slot is free, and ingestion
queues nothing while every slot is taken. Claims rate the oldest pending event first."""

from __future__ import annotations

import psycopg
import pytest
from django.core.cache import cache
from django.db import connection

from apps.usage import tasks
from apps.usage.models import UsageEvent
from apps.usage.services import usage_rating_batch_run
from apps.usage.tasks import RATING_SLOTS, queue_rating, rate_pending_task
from tests.usage.builders import ago, ingest


@pytest.fixture(autouse=True)
def rating_not_queued_by_ingestion(settings):
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": False}
    cache.delete_many(["usage:rating-helper", "usage:rating-queued"])


@pytest.fixture
def queued(monkeypatch):
    """Publishing for real (eager off); what would be queued is recorded instead of sent."""
    sent = []
    conf = rate_pending_task.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args, **kwargs: sent.append((task.name, kwargs)) or True)
    yield sent
    conf.task_always_eager = eager


@pytest.fixture
def other_session():
    """hold(slot): another database session takes that rating slot (as a running task elsewhere would)."""
    if connection.vendor != "postgresql":
        pytest.skip("slots are PostgreSQL advisory locks")
    db = connection.settings_dict
    sessions = []

    def hold(slot: int) -> None:
        conn = psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"] or "postgres",
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
        )
        conn.execute("SELECT pg_advisory_lock(%s)", [RATING_SLOTS + slot])
        sessions.append(conn)

    yield hold
    for conn in sessions:
        conn.close()


def world_of(world, customers=2, events=10):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    people = [world.customer(f"c{n}", table, billing_model="postpaid") for n in range(customers)]
    ingest([world.event(people[i % customers], tokens, 1, ago(minutes=100 - i), id=f"e{i:03d}") for i in range(events)])
    return people


def pending() -> int:
    return UsageEvent.objects.filter(state="pending").count()


def test_a_task_that_stops_at_max_batches_queues_its_successor_until_nothing_is_left(world):
    world_of(world, customers=1, events=10)
    result = rate_pending_task.delay(batch_size=2, max_batches=1).get()  # eager: the successors run in turn
    assert (result["batches"], result["stopped"]) == (1, "max_batches")
    assert pending() == 0 and UsageEvent.objects.filter(state="rated").count() == 10


def test_the_oldest_pending_event_is_in_the_first_batch_whatever_its_customer(world):
    tokens = world.meter("tok")
    table = world.table()
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    acme, bolt, cato = (world.customer(name, table, billing_model="postpaid") for name in ("acme", "bolt", "cato"))
    ingest([world.event(cato, tokens, 1, ago(minutes=50), id="oldest")])
    ingest([world.event(c, tokens, 1, ago(minutes=40 - i), id=f"e{i}") for i, c in enumerate([acme, bolt] * 5)])
    usage_rating_batch_run(batch_size=2)
    assert UsageEvent.objects.get(event_id="oldest").state == "rated"


def test_a_batch_that_leaves_customers_to_another_worker_queues_a_helper_while_a_slot_is_free(
    world, queued, other_session
):
    world_of(world, customers=2, events=20)
    result = rate_pending_task(batch_size=20)
    # One task rated both customers (half the window each batch) and asked for a helper once, after its first
    # batch left the second customer; nothing was left, so no successor.
    assert (result["batches"], result["events"], result["stopped"]) == (2, 20, "done")
    assert queued == [("usage.rate_pending", {})]


def test_no_helper_while_the_other_slot_is_taken(world, queued, other_session):
    world_of(world, customers=2, events=20)
    other_session(1)
    result = rate_pending_task(batch_size=20)
    assert (result["batches"], result["events"]) == (2, 20)
    assert queued == []


def test_a_task_does_not_start_while_every_slot_is_taken_and_ingestion_queues_none(
    world, settings, queued, other_session
):
    world_of(world, customers=2, events=6)
    other_session(0)
    other_session(1)
    assert rate_pending_task()["stopped"] == "no free slot"
    assert pending() == 6
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": True}
    queue_rating()  # both running tasks look for pending events before they stop: nothing to queue
    assert queued == []


def test_ingestion_queues_rating_when_a_slot_is_free(world, settings, queued, other_session):
    world_of(world, customers=1, events=3)
    other_session(0)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": True}
    queue_rating()
    queue_rating()  # at most one every couple of seconds from a process
    assert queued == [("usage.rate_pending", {})]
