"""Auto top-up once per crossing under concurrent rating (real PostgreSQL connections): two rating workers rate
one prepaid customer's events in small batches (each batch's draw is a `wallet_debits` call) while six threads
debit the same wallet directly (a re-rate, another writer), dated before the events so that every top-up
serves the usage rated after it (a top-up is usable from its crossing's instant on). Whatever the interleaving, the wallet lock serializes
the draws: every debit that took the balance across the threshold has exactly one top-up, no other debit has
one, and the wallet reconciles."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from apps.contracts.services import credit_policy_set
from apps.core.actors import SYSTEM
from apps.usage.models import UsageEvent
from apps.usage.services import usage_rate_pending
from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import wallet_conservation
from apps.wallets.services import DebitRequest, topup_key, wallet_debits
from tests.usage.builders import ago, ingest

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent connections and row locks"),
]
D = Decimal
THRESHOLD, TOPUP = D(400), D(500)


@pytest.fixture(autouse=True)
def rate_in_workers_only(settings):
    settings.RATEDESK = {**settings.RATEDESK, "USAGE_RATE_ON_INGEST": False}


def test_top_up_once_per_crossing_with_rating_workers_and_concurrent_debits(world):
    tokens = world.meter("tok")
    table = world.table(unit="credits")
    world.version(table, {tokens: "1"}, effective_from=ago(days=30))
    acme = world.customer("acme", table, enforcement="hard", credits="1000")
    contract = acme.contracts.get()
    credit_policy_set(
        contract_id=contract.pk,
        actor=SYSTEM,
        change_reason="t",
        topup_threshold=THRESHOLD,
        topup_amount=TOPUP,
        topup_monthly_cap=100,
    )
    ingest([world.event(acme, tokens, 45, ago(minutes=90 - i), id=f"e{i:03d}") for i in range(60)])
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def run(target):
        try:
            barrier.wait(30)
            target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def debit(i):
        return lambda: wallet_debits(
            requests=[DebitRequest(customer_id=acme.pk, amount=D(120), idempotency_key=f"x{i}", at=ago(minutes=95))],
            actor=SYSTEM,
        )

    targets = [lambda: usage_rate_pending(batch_size=7, patience=2)] * 2 + [debit(i) for i in range(6)]
    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    assert not errors, errors
    usage_rate_pending(batch_size=50)  # whatever a worker left (a customer held by the other)
    assert not UsageEvent.objects.filter(customer=acme, state="pending").exists()

    debits = list(LedgerEntry.objects.filter(wallet__customer=acme, entry_type="debit"))
    crossings = [e for e in debits if e.balance_after - e.amount >= THRESHOLD > e.balance_after]
    topups = CreditGrant.objects.filter(wallet__customer=acme, reason_code="auto_topup")
    assert len(crossings) >= 2 and topups.count() == len(crossings)
    keys = set(LedgerEntry.objects.filter(grant__in=topups).values_list("idempotency_key", flat=True))
    assert keys == {topup_key(wallet_id=e.wallet_id, entry_id=e.pk) for e in crossings}
    assert wallet_conservation(customer_id=acme.pk).holds
