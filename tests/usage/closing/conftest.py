"""A small month to close: last calendar month (UTC), a postpaid customer with a base fee (anchor day 15) and a
prepaid customer with purchased credits, their usage ingested and rated as it happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.contracts import services as contracts
from apps.core.actors import SYSTEM
from apps.usage.closing.statements import month_bounds, next_month, previous_month
from apps.wallets import services as wallets
from tests.usage.builders import D, ingest, rate


def last_month():
    return previous_month(timezone.now().date().replace(day=1))


@dataclass
class Month:
    world: object
    month: object
    meter: object
    acme: object  # postpaid, USD, base fee, anchor 15
    beta: object  # prepaid, credits

    def at(self, day: int, hour: int = 12, month=None) -> datetime:
        m = month or self.month
        return datetime(m.year, m.month, day, hour, tzinfo=UTC)

    def usage(self, customer, quantity, ts: datetime, *, id: str | None = None, received: datetime | None = None):
        ingest([self.world.event(customer, self.meter, quantity, ts, id=id)], now=received or ts + timedelta(hours=1))
        rate()

    @property
    def next_month(self):
        return next_month(self.month)


@pytest.fixture
def month_world(world) -> Month:
    month = last_month()
    start, _ = month_bounds(previous_month(month))
    meter = world.meter("llm.tokens")
    usd = world.table(unit="USD")
    credits = world.table(unit="credits")
    world.version(usd, {meter: "0.015"}, effective_from=start - timedelta(days=30))
    world.version(credits, {meter: "1"}, effective_from=start - timedelta(days=30))
    acme = contracts.customer_create(external_id="acme", name="Acme", actor=world.owner)
    contracts.contract_create(
        customer_id=acme.pk,
        rate_table_id=usd.id,
        starts_at=start,
        billing_model="postpaid",
        enforcement="unlimited",
        base_fee=D("99.995"),
        billing_anchor_day=15,
        actor=world.finance,
    )
    beta = contracts.customer_create(external_id="beta", name="Beta", actor=world.owner)
    contracts.contract_create(
        customer_id=beta.pk,
        rate_table_id=credits.id,
        starts_at=start,
        billing_model="prepaid",
        enforcement="unlimited",
        actor=world.finance,
    )
    m = Month(world, month, meter, acme, beta)
    wallets.wallet_grant(
        customer_id=beta.pk,
        kind="purchased",
        amount=D("1000"),
        price_per_credit=D("0.0125"),
        effective_at=m.at(3, 9),
        idempotency_key="beta-purchase-1",
        reference="PO-7",
        actor=SYSTEM,
    )
    m.usage(acme, 1001, m.at(4), id="a1")
    m.usage(acme, 333, m.at(20), id="a2")
    m.usage(beta, 250, m.at(5), id="b1")
    return m
