"""What a price change would do to revenue and margin, from the last N days of rolled-up usage.

Served as a panel on the finance review page (catalog links to it; catalog never imports usage).
The estimate prices each customer's window quantity at list price with the old and the new
version (before contract overrides and included allowances), using the one pricing function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from apps.catalog import selectors as catalog_selectors
from apps.catalog.pricing import price_quantity
from apps.contracts import selectors as contract_selectors
from apps.core.money import margin_percent, percent_change
from apps.core.permissions import capability_required
from apps.core.roles import Cap
from apps.usage.selectors import rollup_meter_window

ZERO = Decimal(0)


@dataclass
class ImpactRow:
    meter_code: str
    customers: int = 0
    quantity: Decimal = ZERO
    revenue_old: Decimal = ZERO
    revenue_new: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def delta(self) -> Decimal:
        return self.revenue_new - self.revenue_old

    @property
    def delta_pct(self) -> Decimal | None:
        return percent_change(self.revenue_old, self.revenue_new)

    @property
    def margin_old(self) -> Decimal | None:
        return margin_percent(self.revenue_old, self.cost) if self.quantity else None

    @property
    def margin_new(self) -> Decimal | None:
        return margin_percent(self.revenue_new, self.cost) if self.quantity else None


@dataclass
class Impact:
    days: int
    customers: int
    base_number: int | None
    currency: str
    rows: list[ImpactRow] = field(default_factory=list)
    total: ImpactRow = field(default_factory=lambda: ImpactRow("total"))


def price_change_impact(*, version_id: int, days: int = 30, now=None) -> Impact | None:
    version = catalog_selectors.version_get(version_id=version_id)
    if version is None:
        return None
    now = now or timezone.now()
    base = catalog_selectors.version_replaced(version)
    new_specs = catalog_selectors.version_rate_specs(version_id=version.id)
    old_specs = catalog_selectors.version_rate_specs(version_id=base.id) if base else {}
    table = version.rate_table
    start = (now - timedelta(days=days)).date()
    usage = rollup_meter_window(start=start, end=now.date())
    contracts = contract_selectors.contracts_in_force(customer_ids={u.customer_id for u in usage}, at=now)
    on_table = {cid for cid, terms in contracts.items() if terms.rate_table_id == table.id}
    to_currency = table.currency_per_unit
    rows: dict[int, ImpactRow] = {}
    customers_by_meter: dict[int, set[int]] = {}
    for u in usage:
        if u.customer_id not in on_table:
            continue
        meter_id, quantity = u.meter_id, u.quantity
        row = rows.setdefault(meter_id, ImpactRow(u.meter_code))
        customers_by_meter.setdefault(meter_id, set()).add(u.customer_id)
        row.quantity += quantity
        row.cost += u.cost
        if meter_id in old_specs:
            row.revenue_old += price_quantity(old_specs[meter_id], quantity).amount * to_currency
        if meter_id in new_specs:
            row.revenue_new += price_quantity(new_specs[meter_id], quantity).amount * to_currency
    impact = Impact(
        days=days,
        customers=len(on_table),
        base_number=base.number if base else None,
        currency="USD" if table.pricing_unit == "credits" else table.pricing_unit,
    )
    for meter_id, row in sorted(rows.items(), key=lambda item: item[1].meter_code):
        row.customers = len(customers_by_meter[meter_id])
        impact.rows.append(row)
        for name in ("quantity", "revenue_old", "revenue_new", "cost"):
            setattr(impact.total, name, getattr(impact.total, name) + getattr(row, name))
    impact.total.customers = len(on_table)
    return impact


@capability_required(Cap.RATES_APPROVE, Cap.CATALOG_EDIT)
def price_impact_panel(request, version_id: int):
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 90))
    except ValueError:
        days = 30
    impact = price_change_impact(version_id=version_id, days=days)
    if impact is None:
        raise Http404
    return render(request, "insights/_price_impact.html", {"impact": impact, "version_id": version_id})


app_name = "impact"
urlpatterns = [path("versions/<int:version_id>/", price_impact_panel, name="version")]
