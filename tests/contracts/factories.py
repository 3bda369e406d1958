"""Test data builders for customers, contracts and wallets (through the services, like the app does)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from apps.core.actors import SYSTEM

_seq = itertools.count(1)


def rate_table(code: str = "list-usd", pricing_unit: str = "USD"):
    from apps.catalog.models import RateTable

    table, _ = RateTable.objects.get_or_create(
        code=code, defaults={"name": code.replace("-", " ").title(), "pricing_unit": pricing_unit}
    )
    return table


def meter(code: str = "llm.input_tokens.fast"):
    from apps.catalog.models import Meter, Product

    product, _ = Product.objects.get_or_create(code="llm", defaults={"name": "LLM"})
    m, _ = Meter.objects.get_or_create(code=code, defaults={"product": product, "name": code, "unit": "token"})
    return m


def customer(external_id: str | None = None, name: str | None = None, **kwargs):
    from apps.contracts.services import customer_create

    n = next(_seq)
    external_id = external_id or f"cust-{n}"
    return customer_create(
        external_id=external_id, name=name or f"Customer {n}", actor=kwargs.pop("actor", SYSTEM), **kwargs
    )


def contract(cust, *, starts_at: datetime | None = None, table=None, **kwargs):
    from apps.contracts.services import contract_create

    return contract_create(
        customer_id=cust.pk,
        rate_table_id=(table or rate_table()).pk,
        starts_at=starts_at or datetime(2026, 1, 1, tzinfo=UTC),
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )


def grant(cust, amount, *, key: str | None = None, kind: str = "purchased", **kwargs):
    from apps.wallets.services import wallet_grant

    return wallet_grant(
        customer_id=cust.pk,
        kind=kind,
        amount=Decimal(str(amount)),
        idempotency_key=key or f"test-grant-{next(_seq)}",
        actor=kwargs.pop("actor", SYSTEM),
        **kwargs,
    )
