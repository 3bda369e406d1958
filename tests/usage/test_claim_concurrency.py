"""Rating workers claim disjoint customers (PostgreSQL, real connections from threads): a worker never waits for
another's batch to finish, and never rates a customer another worker is rating."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.usage import services
from apps.usage.models import RatedUsage, UsageEvent
from apps.usage.services import usage_rate_pending, usage_rating_batch_run
from apps.wallets.models import LedgerEntry
from apps.wallets.selectors import wallet_balance, wallet_conservation
from tests.usage.builders import ago, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

TIMEOUT = 60  # seconds: a worker stuck behind another fails the test instead of hanging it
_started: list[threading.Thread] = []


@pytest.fixture(autouse=True)
def postgresql_only(settings):
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent connections need PostgreSQL")
    # Ingestion commits for real here: without this, eager Celery would rate the events before the workers start.
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": False}
    yield
    for thread in _started:  # a failed test still lets its workers end before the database is flushed
        thread.join(TIMEOUT)
    _started.clear()


class Worker(threading.Thread):
    """Runs `target` on its own database connection; keeps its result or its exception."""

    def __init__(self, name, target):
        super().__init__(name=name, daemon=True)
        self.target_ = target
        self.result = None
        self.error: BaseException | None = None

    def start(self):
        _started.append(self)
        super().start()

    def run(self):
        try:
            self.result = self.target_()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            connections.close_all()

    def finish(self):
        self.join(TIMEOUT)
        assert not self.is_alive(), f"worker {self.name} did not finish within {TIMEOUT}s"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def hold_worker_a(monkeypatch):
    """Worker thread "A" stops inside its batch once it has rated it (its transaction still open, its customers
    locked, nothing committed) until `release` is set. `inside` is set when it gets there."""
    inside, release = threading.Event(), threading.Event()
    real = services._run_isolated

    def run_isolated(**kwargs):
        result = real(**kwargs)
        if threading.current_thread().name == "A":
            inside.set()
            release.wait(TIMEOUT)
        return result

    monkeypatch.setattr(services, "_run_isolated", run_isolated)
    yield inside, release
    release.set()  # (before the autouse fixture joins the workers)


def two_customers(world, per_customer=30):
    tokens = world.meter("tok")
    table = world.table(unit="credits")
    world.version(table, {tokens: "2"}, effective_from=ago(days=30))
    acme = world.customer("acme", table, credits="100000")
    bolt = world.customer("bolt", table, credits="100000")
    events = []
    for i in range(per_customer):  # interleaved in time and in arrival
        events.append(world.event(acme, tokens, 10, ago(minutes=200 - 2 * i), id=f"a{i:03d}"))
        events.append(world.event(bolt, tokens, 10, ago(minutes=199 - 2 * i), id=f"b{i:03d}"))
    ingest(events)
    return acme, bolt


def state_of(customer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in UsageEvent.objects.filter(customer=customer).values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def test_two_workers_on_different_customers_both_make_progress_at_once(world, hold_worker_a):
    inside, release = hold_worker_a
    acme, bolt = two_customers(world)

    a = Worker("A", lambda: usage_rating_batch_run(batch_size=60))
    a.start()
    assert inside.wait(TIMEOUT), "worker A never reached its batch"
    # A holds its batch open. B rates the other customer to the end meanwhile, then finds only A's customer left
    # and stops after its patience instead of waiting for A's batch.
    b = Worker("B", lambda: usage_rate_pending(batch_size=60, patience=0.3))
    b.start()
    summary = b.finish()
    assert a.is_alive() and not release.is_set()  # A's batch is still open
    assert (summary.events, summary.batches, summary.stopped) == (30, 1, "held")
    states = sorted([state_of(acme), state_of(bolt)], key=lambda s: "rated" in s)
    assert states == [{"pending": 30}, {"rated": 30}]  # A's customer: nothing committed yet; B's: all rated

    release.set()
    outcome = a.finish()
    assert (outcome.claimed, outcome.written) == (30, 30)
    assert state_of(acme) == state_of(bolt) == {"rated": 30}
    for customer in (acme, bolt):
        assert wallet_balance(customer_id=customer.pk).balance == 100000 - 30 * 20
        assert wallet_conservation(customer_id=customer.pk).holds


def test_a_worker_skips_a_customer_another_is_rating_and_does_not_wait(world, hold_worker_a):
    inside, release = hold_worker_a
    tokens = world.meter("tok")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    acme = world.customer("acme", table, credits="1000")
    ingest([world.event(acme, tokens, 10, ago(minutes=100 - i), id=f"e{i:03d}") for i in range(40)])

    a = Worker("A", lambda: usage_rating_batch_run(batch_size=10))
    a.start()
    assert inside.wait(TIMEOUT)
    b = Worker("B", lambda: usage_rating_batch_run(batch_size=10))
    b.start()
    outcome = b.finish()  # returns at once: acme is A's until A commits
    assert a.is_alive()
    assert (outcome.claimed, outcome.held) == (0, 1)
    c = Worker("C", lambda: usage_rate_pending(batch_size=10, patience=0.3))
    c.start()
    assert c.finish().stopped == "held"
    assert state_of(acme) == {"pending": 40}

    release.set()
    assert a.finish().claimed == 10
    assert usage_rate_pending(batch_size=10).events == 30
    records = list(RatedUsage.objects.filter(customer=acme, superseded_at__isnull=True).order_by("timestamp"))
    assert [r.prior_quantity for r in records] == [Decimal(10 * i) for i in range(40)]
    assert wallet_balance(customer_id=acme.pk).balance == 1000 - 400


def test_many_workers_over_a_few_customers_rate_each_customer_in_sequence_exactly_once(world):
    tokens = world.meter("tok")
    table = world.table(unit="credits")
    world.version(
        table,
        {tokens: {"model": "graduated", "tiers": [(500, "2", "0"), (None, "1", "0")]}},
        effective_from=ago(days=30),
    )
    customers = [world.customer(f"c{n}", table, credits="100000") for n in range(3)]
    ingest(
        [
            world.event(customers[i % 3], tokens, 10, ago(minutes=400 - i), id=f"e{i:03d}")
            for i in range(300)  # 100 events of 10 units per customer
        ]
    )
    barrier = threading.Barrier(4)

    def work():
        barrier.wait(TIMEOUT)
        return usage_rate_pending(batch_size=7)

    workers = [Worker(f"w{i}", work) for i in range(4)]
    for w in workers:
        w.start()
    summaries = [w.finish() for w in workers]
    assert sum(s.events for s in summaries) == 300
    assert UsageEvent.objects.filter(state="rated").count() == 300
    for customer in customers:
        records = list(RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True).order_by("timestamp"))
        assert len({r.event_id for r in records}) == len(records) == 100  # no event rated twice
        assert RatedUsage.objects.filter(customer=customer, superseded_at__isnull=False).count() == 0
        # positions in order, whatever the interleaving: 1000 units, 500 at 2 + 500 at 1
        assert [r.prior_quantity for r in records] == [Decimal(10 * i) for i in range(100)]
        assert sum(r.amount for r in records) == Decimal(1500)
        debits = LedgerEntry.objects.filter(wallet__customer=customer, entry_type="debit")
        assert sum(-e.amount for e in debits) == Decimal(1500)  # one charge per record, none twice
        assert wallet_balance(customer_id=customer.pk).balance == 100000 - 1500
        assert wallet_conservation(customer_id=customer.pk).holds
