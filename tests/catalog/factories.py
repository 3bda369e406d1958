"""Catalog test data built through the services (so tests exercise the real paths)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.catalog import services
from apps.catalog.models import Meter, MeterCost, Product, RateTable
from apps.core.actors import Actor


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    code = factory.Sequence(lambda n: f"product-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")


class MeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Meter

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"meter.{n}")
    name = factory.Sequence(lambda n: f"Meter {n}")
    unit = "token"


class RateTableFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RateTable

    code = factory.Sequence(lambda n: f"table-{n}")
    name = factory.Sequence(lambda n: f"Table {n}")
    pricing_unit = "USD"


def add_cost(meter: Meter, unit_cost: str, per_units: str = "1", effective_from: datetime | None = None) -> MeterCost:
    return MeterCost.objects.create(
        meter=meter,
        unit_cost=Decimal(unit_cost),
        per_units=Decimal(per_units),
        effective_from=effective_from or timezone.now() - timedelta(days=365),
    )


def approved_version(
    table: RateTable,
    prices: dict[Meter, str],
    *,
    maker: Actor,
    checker: Actor,
    effective_from: datetime | None = None,
    per_units: str = "1",
    backdate_reason: str = "old",
):
    """Create, fill, submit and approve a version (maker != checker)."""
    draft = services.rate_table_version_create_draft(rate_table_id=table.id, actor=maker)
    existing = {r.meter_id: r for r in draft.rates.all()}
    for meter, price in prices.items():
        if meter.id in existing:
            services.rate_update_field(rate_id=existing[meter.id].id, field="unit_price", value=price, actor=maker)
        else:
            services.rate_add(
                version_id=draft.id, meter_id=meter.id, unit_price=price, price_per_units=per_units, actor=maker
            )
    effective_from = effective_from or timezone.now() + timedelta(seconds=1)
    version = services.rate_table_version_submit(
        version_id=draft.id,
        effective_from=effective_from,
        reason="prices",
        backdate_reason=backdate_reason,
        actor=maker,
        now=min(timezone.now(), effective_from - timedelta(seconds=1)),
    )
    return services.rate_table_version_approve(
        version_id=version.id,
        content_hash=version.content_hash,
        actor=checker,
        now=effective_from - timedelta(seconds=1),
    )
