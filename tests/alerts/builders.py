"""Test data for alerts and dashboards, built through the real services: catalog versions approved by the
maker-checker workflow, contracts and wallets through their services, usage through ingestion and rating."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.catalog.models import Meter, MeterCost, Product, RateTable
from apps.contracts import services as contracts
from apps.core.actors import SYSTEM, Actor
from apps.wallets import services as wallets
from tests.catalog.factories import approved_version

_seq = itertools.count(1)


def D(value) -> Decimal:
    return Decimal(str(value))


def ago(**kwargs) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def anchor_for_recent_period(days_back: int = 3) -> int:
    """An anchor day whose current billing period started about `days_back` days ago, so recent events and
    now share one period."""
    return (timezone.now() - timedelta(days=days_back)).astimezone(UTC).day


class Shop:
    """Two meters (tokens, images) with costs, a credits table and a USD table, each with one approved version
    in force since 60 days ago."""

    def __init__(
        self,
        actors,
        *,
        token_price: str = "0.002",
        image_price: str = "5",
        usd_token_price: str = "0.00002",
        usd_image_price: str = "0.05",
    ):
        self.owner: Actor = actors["owner"]
        self.finance: Actor = actors["finance"]
        n = next(_seq)
        self.product = Product.objects.create(code=f"ai-{n}", name="AI platform")
        self.tokens = Meter.objects.create(product=self.product, code=f"llm.tokens.{n}", name="Tokens", unit="token")
        self.images = Meter.objects.create(product=self.product, code=f"image.gen.{n}", name="Images", unit="image")
        since = timezone.now() - timedelta(days=400)
        # cost: $0.00001 per token, $0.02 per image
        MeterCost.objects.create(meter=self.tokens, unit_cost=D("0.01"), per_units=D(1000), effective_from=since)
        MeterCost.objects.create(meter=self.images, unit_cost=D("0.02"), per_units=D(1), effective_from=since)
        self.credits = RateTable.objects.create(
            code=f"credits-{n}", name=f"Credits {n}", pricing_unit="credits", currency_per_unit=D("0.01")
        )
        self.usd = RateTable.objects.create(code=f"usd-{n}", name=f"USD {n}", pricing_unit="USD")
        effective = timezone.now() - timedelta(days=60)
        approved_version(
            self.credits,
            {self.tokens: token_price, self.images: image_price},
            maker=self.owner,
            checker=self.finance,
            effective_from=effective,
        )
        approved_version(
            self.usd,
            {self.tokens: usd_token_price, self.images: usd_image_price},
            maker=self.owner,
            checker=self.finance,
            effective_from=effective,
        )
        self.events = itertools.count(1)

    def customer(
        self,
        external_id: str | None = None,
        *,
        billing_model: str = "prepaid",
        enforcement: str = "soft",
        overdraft_limit: str = "100000",
        credit_price: str = "0.01",
        allowances: dict | None = None,
        thresholds=(70, 90, 100),
        credits: str | None = None,
        price_per_credit: str = "0.01",
        manager=None,
        anchor_day: int | None = None,
        table=None,
    ):
        external_id = external_id or f"cust-{next(_seq)}"
        customer = contracts.customer_create(
            external_id=external_id,
            name=external_id.replace("-", " ").title(),
            account_manager_id=manager.pk if manager else None,
            actor=SYSTEM,
        )
        if table is None:
            table = self.usd if billing_model == "postpaid" else self.credits
        contracts.contract_create(
            customer_id=customer.pk,
            rate_table_id=table.pk,
            starts_at=timezone.now() - timedelta(days=90),
            billing_model=billing_model,
            enforcement=enforcement,
            credit_price=D(credit_price),
            overdraft_limit=D(overdraft_limit) if enforcement == "soft" else D(0),
            billing_anchor_day=anchor_day or anchor_for_recent_period(),
            alert_thresholds=list(thresholds),
            allowances={m.pk: D(q) for m, q in (allowances or {}).items()},
            actor=self.finance,
        )
        if credits is not None:
            self.grant(customer, credits, price_per_credit=price_per_credit)
        return customer

    def grant(self, customer, amount: str, *, price_per_credit: str = "0.01", kind: str = "purchased", **kwargs):
        return wallets.wallet_grant(
            customer_id=customer.pk,
            kind=kind,
            amount=D(amount),
            price_per_credit=D(price_per_credit),
            effective_at=kwargs.pop("effective_at", timezone.now() - timedelta(days=120)),
            idempotency_key=f"grant-{next(_seq)}",
            actor=SYSTEM,
            **kwargs,
        )

    def event(
        self, customer, meter, quantity, ts: datetime | None = None, *, id: str | None = None, **attributes
    ) -> dict:
        ts = ts or timezone.now() - timedelta(minutes=5)
        return {
            "id": id or f"e{next(self.events):07d}",
            "customer": customer.external_id,
            "meter": meter.code,
            "quantity": str(quantity),
            "timestamp": ts.isoformat(),
            "attributes": attributes,
        }


def ingest(events: list[dict]):
    from apps.usage.ingestion import usage_events_ingest

    result = None
    for start in range(0, len(events), 1000):
        result = usage_events_ingest(events=events[start : start + 1000])
    return result


def rate():
    """What the rating task does (rate everything pending)."""
    from apps.usage.tasks import rate_pending_task

    return rate_pending_task.delay().get()


def ingest_and_rate(events: list[dict], capture):
    """Ingest and rate as production does, running the on-commit hooks (rating -> usage_rated -> alerts)."""
    with capture(execute=True):
        result = ingest(events)
        rate()
    return result
