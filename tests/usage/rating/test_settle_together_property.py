"""Property: settling customers together (one wallet call per operation for give-backs and for each round of
billing-period debits) writes exactly what settling each customer alone writes (`DrawStep._draw`): the same
current records to the last decimal place, the same ledger entries per wallet in the same order, the same grants
and balances. Exercised by a backdated price change re-rated over generated usage, contracts and ranges that
cross billing periods (give-backs, several debits per customer, shortfalls, caps)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apps.catalog import services as catalog
from apps.usage.models import RatedUsage
from apps.usage.rating.draw import DrawStep
from apps.usage.services import usage_rerate
from apps.wallets.models import CreditGrant, LedgerEntry, Wallet
from tests.usage.simulation.helpers import day_range, draft
from tests.usage.simulation.test_property import contract_specs, generated_world, rate_specs, usage

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
RECORD_FIGURES = (
    "event_id",
    "meter_id",
    "period_start",
    "rate_version_id",
    "quantity",
    "prior_quantity",
    "amount",
    "included_quantity",
    "credits",
    "credits_drawn",
    "overage_units",
    "overage_amount",
    "over_limit",
    "over_limit_quantity",
    "revenue",
    "cost",
)


def _state(customers) -> dict:
    ids = [c.pk for c in customers]
    records = sorted(
        (
            tuple(getattr(r, name) for name in RECORD_FIGURES)
            + (tuple(sorted((a["grant_id"], a["credits"], a["revenue"]) for a in r.allocations or [])),)
            for r in RatedUsage.objects.filter(customer_id__in=ids, superseded_at__isnull=True)
        ),
        key=repr,
    )
    ledger = {
        wallet_id: [
            (
                e.entry_type,
                e.amount,
                e.revenue,
                e.balance_after,
                e.requested,
                e.grant_id,
                tuple(sorted((a.grant_id, a.amount, a.revenue) for a in e.allocations.all())),
            )
            for e in LedgerEntry.objects.filter(wallet_id=wallet_id).prefetch_related("allocations").order_by("pk")
        ]
        for wallet_id in Wallet.objects.filter(customer_id__in=ids).values_list("pk", flat=True)
    }
    grants = sorted(CreditGrant.objects.filter(wallet__customer_id__in=ids).values_list("pk", "remaining"))
    balances = sorted(Wallet.objects.filter(customer_id__in=ids).values_list("pk", "balance"))
    return {"records": records, "ledger": ledger, "grants": grants, "balances": balances}


@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    old=rate_specs(),
    new=rate_specs(),
    customers=st.lists(st.tuples(contract_specs, usage), min_size=2, max_size=4),
    first_days_ago=st.integers(min_value=1, max_value=24),
)
def test_settling_together_writes_what_settling_alone_writes(world, monkeypatch, old, new, customers, first_days_ago):
    table, tokens, made = generated_world(world, old, customers, tag=f"t{next(_ids)}", anchor_step=7)
    version = draft(world, table, {tokens: new})
    first = (timezone.now() - timedelta(days=first_days_ago)).date()
    start, end = day_range(first, timezone.now().date())
    submitted = catalog.rate_table_version_submit(
        version_id=version.id, effective_from=start, reason="change", backdate_reason="test", actor=world.owner
    )
    catalog.rate_table_version_approve(version_id=version.id, content_hash=submitted.content_hash, actor=world.finance)

    alone_calls = []
    settles_alone = DrawStep._settles_alone

    def always_alone(self, priced):
        settles_alone(self, priced)  # fills the priced items' needs and periods
        alone_calls.append(priced.customer_id)
        return True

    point = transaction.savepoint_create()
    with monkeypatch.context() as patch:
        patch.setattr(DrawStep, "_settles_alone", always_alone)
        usage_rerate(start=start, end=end, actor=world.finance, reason="one by one")
    alone = _state(made)
    transaction.savepoint_rollback(point)

    usage_rerate(start=start, end=end, actor=world.finance, reason="together")
    assert _state(made) == alone
