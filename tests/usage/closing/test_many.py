"""A month's statements are read for every customer at once (one set of queries, whatever the number of
customers) with the same figures, to the cent, as one customer at a time: on the demo (prepaid, postpaid and
hybrid contracts, purchased, included and free credits, automatic top-ups, price overrides, usage over limits),
its closed month, and late usage and a back-dated purchase for that month carried as adjustments."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.contracts.selectors import contracts_for_customers, customers_all
from apps.core.actors import SYSTEM
from apps.usage import statements as base
from apps.usage.closing import selectors
from apps.usage.closing.statements import month_last_day, next_month, previous_month
from apps.usage.models import DailyUsage
from apps.wallets import services as wallets
from tests.usage.builders import D, ingest, rate

pytestmark = pytest.mark.django_db
MODULES = (
    "apps.core.demo",
    "apps.catalog.demo",
    "apps.contracts.demo",
    "apps.wallets.demo",
    "apps.usage.demo",
    "apps.usage.closing.demo",
)


@pytest.fixture
def demo():
    out = StringIO()
    for name in MODULES:
        importlib.import_module(name).seed(stdout=out, size="small")
    closed = previous_month(timezone.now().date().replace(day=1))
    assert selectors.close_in_force(month=closed) is not None, out.getvalue()
    return closed


def _late_usage_and_purchase(closed):
    """A late event for the closed month (received now) and a purchase dated in it, recorded now."""
    row = DailyUsage.objects.filter(day__gte=closed, day__lte=month_last_day(closed)).select_related(
        "customer", "meter"
    )
    used = row.order_by("customer__external_id", "meter__code").first()
    at = datetime(closed.year, closed.month, month_last_day(closed).day, 12, tzinfo=UTC)
    event = {
        "id": "late-for-the-closed-month",
        "customer": used.customer.external_id,
        "meter": used.meter.code,
        "quantity": "7",
        "timestamp": at.isoformat(),
        "attributes": {},
    }
    ingest([event], now=timezone.now())
    rate()
    buyer = row.order_by("-customer__external_id").first().customer
    wallets.wallet_grant(
        customer_id=buyer.pk,
        kind="purchased",
        amount=D(1234),
        price_per_credit=D("0.0125"),
        effective_at=at - timedelta(days=3),
        idempotency_key="late-purchase-for-the-closed-month",
        reference="PO-LATE",
        actor=SYSTEM,
    )
    return used.customer, buyer


def test_statements_of_all_customers_at_once_equal_one_at_a_time(demo):
    closed = demo
    open_month = next_month(closed)
    late_user, buyer = _late_usage_and_purchase(closed)
    customers = customers_all()
    assert len(customers) > 20
    for first in (closed, open_month):
        last = month_last_day(first)
        many = base.statements(customers=customers, start=first, end=last)
        assert set(many) == {c.pk for c in customers}
        for c in customers:
            assert many[c.pk] == base.statement(customer=c, start=first, end=last), c.external_id

    with CaptureQueriesContext(connection) as queries:
        live = selectors.live_statements(month=open_month)
    assert len(queries.captured_queries) <= 30  # one set of queries, not one per customer
    assert len(live) > 20
    for st in live:
        customer = next(c for c in customers if c.pk == st.customer_id)
        (one,) = selectors.live_statements(month=open_month, customer=customer)
        assert one == st and one.content_hash == st.content_hash, st.customer_external_id
    # what the demo covers: every kind of line, late usage and the back-dated purchase among them
    kinds = {ln.kind for st in live for ln in st.lines}
    assert kinds == {"base_fee", "usage", "credit_purchase", "credits_applied", "adjustment"}
    terms = [t for ts in contracts_for_customers(customer_ids=[st.customer_id for st in live]).values() for t in ts]
    assert {t.billing_model for t in terms} == {"prepaid", "postpaid", "hybrid"} and any(t.overrides for t in terms)
    by_ext = {st.customer_external_id: st for st in live}
    assert any(ln.meter for ln in by_ext[late_user.external_id].lines_of("adjustment"))
    assert any("PO-LATE" in ln.description for ln in by_ext[buyer.external_id].lines_of("adjustment"))
