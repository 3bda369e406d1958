"""Usage test data built through the other apps' services (the real paths)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.catalog import services as catalog
from apps.catalog.models import Meter, MeterCost, Product, RateTable
from apps.catalog.pricing import TierSpec
from apps.contracts import services as contracts
from apps.contracts.selectors import OverrideTerms
from apps.core.actors import SYSTEM, Actor
from apps.usage.ingestion import usage_events_ingest
from apps.usage.services import usage_rate_pending
from apps.wallets import services as wallets

_seq = itertools.count(1)


def D(value) -> Decimal:
    return Decimal(str(value))


def _override(kind: str, value: str, per: str = "1") -> OverrideTerms:
    """("multiplier", "0.8") or ("fixed", "0.3", "1000")."""
    if kind == "multiplier":
        return OverrideTerms("multiplier", D(value), None, D(1))
    return OverrideTerms("fixed", None, D(value), D(per))


class World:
    """A small catalog with approved versions, customers with contracts and wallets."""

    def __init__(self, actors):
        self.owner: Actor = actors["owner"]
        self.finance: Actor = actors["finance"]
        self.product = Product.objects.create(code=f"ai-{next(_seq)}", name="AI platform")
        self.events = itertools.count(1)

    # catalog
    def meter(
        self,
        code: str,
        *,
        unit: str = "token",
        aggregation: str = "sum",
        cost: str | None = None,
        cost_per: str = "1",
        cost_from: datetime | None = None,
    ) -> Meter:
        meter = Meter.objects.create(
            product=self.product, code=code, name=code.replace(".", " ").title(), unit=unit, aggregation=aggregation
        )
        if cost is not None:
            self.cost(meter, cost, per=cost_per, effective_from=cost_from)
        return meter

    def cost(self, meter: Meter, unit_cost: str, *, per: str = "1", effective_from: datetime | None = None):
        return MeterCost.objects.create(
            meter=meter,
            unit_cost=D(unit_cost),
            per_units=D(per),
            effective_from=effective_from or timezone.now() - timedelta(days=400),
        )

    def table(self, code: str = "", *, unit: str = "USD") -> RateTable:
        code = code or f"table-{next(_seq)}"
        return RateTable.objects.create(code=code, name=code.title(), pricing_unit=unit)

    def set_rates(self, version, rates: dict) -> None:
        """rates as version() takes them, on an editable version (a draft)."""
        existing = {r.meter_id: r for r in version.rates.all()}
        for meter, spec in rates.items():
            if not isinstance(spec, dict):
                spec = {"price": spec}
            model = spec.get("model", "per_unit")
            rate = existing.get(meter.id)
            if rate is None:
                rate = catalog.rate_add(
                    version_id=version.id,
                    meter_id=meter.id,
                    unit_price=str(spec.get("price", "0")),
                    price_per_units=str(spec.get("per", "1")),
                    pricing_model=model,
                    actor=self.owner,
                )
            else:
                for name, value in (
                    ("pricing_model", model),
                    ("unit_price", str(spec.get("price", "0"))),
                    ("price_per_units", str(spec.get("per", "1"))),
                ):
                    catalog.rate_update_field(rate_id=rate.id, field=name, value=value, actor=self.owner)
            catalog.rate_update_field(
                rate_id=rate.id, field="free_units", value=str(spec.get("free", "0")), actor=self.owner
            )
            if model in ("graduated", "volume"):
                tiers = [TierSpec(None if up is None else D(up), D(price), D(fee)) for up, price, fee in spec["tiers"]]
                catalog.rate_tiers_set(rate_id=rate.id, tiers=tiers, actor=self.owner)

    def version(
        self,
        table: RateTable,
        rates: dict,
        *,
        effective_from: datetime,
        backdated: bool = False,
        cohort: str | None = None,
        cohort_customers=(),
        cohort_segments=(),
        grandfather_until: datetime | None = None,
    ):
        """rates: {meter: "0.5"} per unit, or {meter: {"model": "graduated", "tiers": [(up_to, price, fee)],
        "per": "1000", "free": "0", "price": "0"}}. Approved at effective_from - 1s unless backdated. `cohort` (and
        its customers, segments, grandfather_until) limits who it applies to (apps.catalog.cohorts)."""
        draft = catalog.rate_table_version_create_draft(rate_table_id=table.id, actor=self.owner)
        self.set_rates(draft, rates)
        if cohort is not None:
            catalog.rate_table_version_set_cohort(
                version_id=draft.id,
                cohort=cohort,
                customers=cohort_customers,
                segments=cohort_segments,
                grandfather_until=grandfather_until,
                actor=self.owner,
            )
        now = timezone.now()
        submit_now = now if backdated else min(now, effective_from - timedelta(seconds=2))
        version = catalog.rate_table_version_submit(
            version_id=draft.id,
            effective_from=effective_from,
            reason="prices",
            backdate_reason="correction",
            actor=self.owner,
            now=submit_now,
        )
        return catalog.rate_table_version_approve(
            version_id=version.id,
            content_hash=version.content_hash,
            actor=self.finance,
            now=now if backdated else effective_from - timedelta(seconds=1),
        )

    # customers
    def customer(
        self,
        external_id: str,
        table: RateTable,
        *,
        billing_model: str = "prepaid",
        enforcement: str = "unlimited",
        overdraft_limit: str = "0",
        credit_price: str = "1",
        allowances: dict | None = None,
        overrides: dict | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        anchor_day: int = 1,
        credits: str | None = None,
        price_per_credit: str = "1",
        segment: str = "smb",
        protected_version=None,
        protected_until: datetime | None = None,
    ):
        customer = contracts.customer_create(
            external_id=external_id, name=external_id.title(), segment=segment, actor=self.owner
        )
        self.contract(
            customer,
            table,
            billing_model=billing_model,
            enforcement=enforcement,
            overdraft_limit=overdraft_limit,
            credit_price=credit_price,
            allowances=allowances,
            overrides=overrides,
            starts_at=starts_at,
            ends_at=ends_at,
            anchor_day=anchor_day,
            protected_version=protected_version,
            protected_until=protected_until,
        )
        if credits is not None:
            self.grant(customer, credits, price_per_credit=price_per_credit)
        return customer

    def contract(
        self,
        customer,
        table,
        *,
        billing_model="prepaid",
        enforcement="unlimited",
        overdraft_limit="0",
        credit_price="1",
        allowances=None,
        overrides=None,
        starts_at=None,
        ends_at=None,
        anchor_day=1,
        protected_version=None,
        protected_until=None,
    ):
        return contracts.contract_create(
            customer_id=customer.pk,
            rate_table_id=table.id,
            starts_at=starts_at or datetime(2020, 1, 1, tzinfo=UTC),
            ends_at=ends_at,
            billing_model=billing_model,
            enforcement=enforcement,
            overdraft_limit=D(overdraft_limit),
            credit_price=D(credit_price),
            billing_anchor_day=anchor_day,
            allowances={m.id: D(q) for m, q in (allowances or {}).items()},
            overrides={m.id: _override(*spec) for m, spec in (overrides or {}).items()},
            protected_version_id=protected_version.id if protected_version is not None else None,
            protected_until=protected_until,
            actor=self.finance,
        )

    def grant(self, customer, amount: str, *, price_per_credit: str = "1", kind: str = "purchased"):
        return wallets.wallet_grant(
            customer_id=customer.pk,
            kind=kind,
            amount=D(amount),
            price_per_credit=D(price_per_credit),
            effective_at=timezone.now() - timedelta(days=400),
            idempotency_key=f"grant-{next(_seq)}",
            actor=SYSTEM,
        )

    # usage
    def event(self, customer, meter, quantity, ts: datetime, *, id: str | None = None, **attributes) -> dict:
        return {
            "id": id or f"e{next(self.events):06d}",
            "customer": customer.external_id,
            "meter": meter.code,
            "quantity": str(quantity),
            "timestamp": ts.isoformat(),
            "attributes": attributes,
        }


def ingest(events: list[dict], **kwargs):
    result = None
    for start in range(0, len(events), 1000):
        result = usage_events_ingest(events=events[start : start + 1000], **kwargs)
    return result


def rate(batch_size: int = 5000):
    return usage_rate_pending(batch_size=batch_size)


def ago(**kwargs) -> datetime:
    return timezone.now() - timedelta(**kwargs)


def per_grant(customer) -> tuple[dict, dict]:
    """(ledger, records): per grant, (credits drawn net of give-backs, revenue of those credits), from the ledger's
    allocations and from the current rated records' allocations. Zero rows are left out."""
    from apps.usage.models import RatedUsage
    from apps.wallets.models import LedgerAllocation

    ledger: dict = {}
    for grant_id, amount, revenue in LedgerAllocation.objects.filter(entry__wallet__customer=customer).values_list(
        "grant_id", "amount", "revenue"
    ):
        credits, rev = ledger.get(grant_id, (Decimal(0), Decimal(0)))
        ledger[grant_id] = (credits - amount, rev + revenue)
    records: dict = {}
    for allocations in RatedUsage.objects.filter(customer=customer, superseded_at__isnull=True).values_list(
        "allocations", flat=True
    ):
        for a in allocations:
            credits, rev = records.get(a["grant_id"], (Decimal(0), Decimal(0)))
            records[a["grant_id"]] = (credits + Decimal(a["credits"]), rev + Decimal(a["revenue"]))
    strip = lambda d: {k: v for k, v in d.items() if v != (0, 0)}  # noqa: E731
    return strip(ledger), strip(records)
