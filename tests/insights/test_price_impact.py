"""The review page's impact panel: revenue before/after from rolled-up usage, at list price."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.catalog import services as catalog_services
from apps.contracts import services as contract_services
from apps.insights.price_impact import price_change_impact
from apps.usage.models import DailyUsage
from tests.catalog.factories import MeterFactory, RateTableFactory, approved_version

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def setup(actors):
    meter = MeterFactory(code="gpu.seconds")
    other_meter = MeterFactory(code="agent.actions")
    table = RateTableFactory(code="list-usd")
    other_table = RateTableFactory(code="other")
    approved_version(
        table,
        {meter: "0.002", other_meter: "0.01"},
        maker=actors["owner"],
        checker=actors["finance"],
        effective_from=timezone.now() - timedelta(days=60),
    )
    draft = catalog_services.rate_table_version_create_draft(rate_table_id=table.id, actor=actors["owner"])
    rate = draft.rates.get(meter=meter)
    catalog_services.rate_update_field(rate_id=rate.id, field="unit_price", value="0.001", actor=actors["owner"])
    start = timezone.now() - timedelta(days=90)
    customers = []
    for ext, rt in (("acme", table), ("globex", table), ("initech", other_table)):
        c = contract_services.customer_create(external_id=ext, name=ext.title(), actor=actors["am"])
        contract_services.contract_create(customer_id=c.id, rate_table_id=rt.id, starts_at=start, actor=actors["am"])
        customers.append(c)
    today = timezone.now().date()
    for c, qty in zip(customers, (1000, 3000, 50000), strict=False):
        for offset in (1, 5, 45):  # the 45-days-ago row is outside a 30-day window
            DailyUsage.objects.create(
                customer=c,
                meter=meter,
                day=today - timedelta(days=offset),
                quantity=D(qty),
                cost=D(qty) * D("0.0006"),
                updated_at=timezone.now(),
            )
    return {"draft": draft, "meter": meter}


def test_impact_prices_window_usage_of_customers_on_the_table(setup):
    impact = price_change_impact(version_id=setup["draft"].id, days=30)
    assert impact.customers == 2
    (row,) = impact.rows
    assert row.meter_code == "gpu.seconds" and row.customers == 2
    quantity = D(2 * (1000 + 3000))
    assert row.quantity == quantity
    assert row.revenue_old == quantity * D("0.002") and row.revenue_new == quantity * D("0.001")
    assert row.delta == -quantity * D("0.001") and row.delta_pct == D("-50")
    assert row.cost == quantity * D("0.0006")
    assert impact.total.revenue_new == row.revenue_new


def test_impact_panel_permissions(setup, clients):
    url = f"/impact/versions/{setup['draft'].id}/"
    for role, status in (("finance", 200), ("owner", 200), ("am", 403), ("support", 403), ("admin", 403)):
        assert clients[role].get(url).status_code == status, role
    html = clients["finance"].get(url).content.decode()
    assert "gpu.seconds" in html and "-50.0 %" in html
