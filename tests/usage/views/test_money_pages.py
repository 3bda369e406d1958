"""Issue 8 (also): the customer page's wallet panel, the ledger and "why this charge" show included credits and
give-backs plainly (which grant, how much, why)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.contracts import services as contracts
from apps.contracts.selectors import contract_in_force
from apps.usage.models import UsageEvent
from apps.wallets.models import CreditGrant
from tests.usage.builders import D, ago, ingest, rate

pytestmark = pytest.mark.django_db


def test_included_credits_and_give_backs_are_shown(world, clients):
    grad = world.meter("grad")
    table = world.table(unit="credits")
    world.version(
        table,
        {grad: {"model": "graduated", "tiers": [(100, "1", "0"), (None, "0.5", "0")]}},
        effective_from=ago(days=90),
    )
    acme = contracts.customer_create(external_id="acme", name="Acme", actor=world.owner)
    contracts.contract_create(
        customer_id=acme.pk,
        rate_table_id=table.id,
        starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        billing_model="prepaid",
        enforcement="hard",
        included_credits=D(50),
        billing_anchor_day=1,
        actor=world.finance,
    )
    world.grant(acme, "1000", price_per_credit="0.01")
    start, _ = contract_in_force(customer_id=acme.pk, at=timezone.now()).period(timezone.now())
    t = max(start + timedelta(minutes=5), ago(minutes=50))
    ingest([world.event(acme, grad, 100, t, id="a")])
    rate()
    ingest([world.event(acme, grad, 10, t - timedelta(minutes=1), id="late")])
    rate()
    included = CreditGrant.objects.get(wallet__customer=acme, kind="included")
    panel = clients["am"].get("/wallets/customers/acme/panel/").content.decode()
    assert "Included credits this period:" in panel and "50.00 granted, 50.00 used, 0.00 left" in panel
    assert "Recent give-backs" in panel and f"to #{included.pk} included" in panel
    ledger = clients["support"].get("/wallets/customers/acme/ledger/").content.decode()
    assert "Give-back to:" in ledger and "Included in the contract" in ledger
    event = UsageEvent.objects.get(event_id="a")
    why = clients["am"].get(f"/usage/events/{event.pk}/").content.decode()
    assert "Included credits of the period" in why
    assert "Given back to" in why and f"to #{included.pk} included" in why


def test_statement_page_shows_a_volume_true_up_as_a_readable_line(world, clients):
    vol = world.meter("vol")
    table = world.table()
    world.version(
        table, {vol: {"model": "volume", "tiers": [(100, "1", "0"), (None, "0.8", "0")]}}, effective_from=ago(days=60)
    )
    acme = world.customer("acme", table, billing_model="prepaid", enforcement="hard", credit_price="0.01")
    world.grant(acme, "20000", price_per_credit="0.01")
    t = ago(hours=3)
    ingest([world.event(acme, vol, 100, t, id="first")])
    rate()
    ingest([world.event(acme, vol, 1, t + timedelta(seconds=1), id="second")])
    rate()
    html = (
        clients["am"]
        .get(f"/usage/customers/acme/statement/?start={t.date()}&end={(t + timedelta(days=1)).date()}")
        .content.decode()
    )
    assert "80.80" in html and "includes -19.20 given back" in html
    second = UsageEvent.objects.get(event_id="second")
    why = clients["am"].get(f"/usage/events/{second.pk}/").content.decode()
    assert "given back: a later event lowered the price" in why
