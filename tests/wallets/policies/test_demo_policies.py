"""seed_demo shows the credit policies: an auto top-up that fired on rated demo usage, a rollover with breakage
and a recurring pilot grant; seeding again adds none of them twice."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest

from apps.wallets.models import CreditGrant, LedgerEntry
from apps.wallets.selectors import credit_policy_status, wallet_conservation

pytestmark = pytest.mark.django_db
MODULES = ("apps.core.demo", "apps.catalog.demo", "apps.contracts.demo", "apps.wallets.demo", "apps.usage.demo")


def _seed() -> str:
    out = StringIO()
    for name in MODULES:
        importlib.import_module(name).seed(stdout=out, size="small")
    return out.getvalue()


def _policy_rows():
    return (
        list(CreditGrant.objects.filter(reason_code="auto_topup").values_list("pk", flat=True)),
        list(CreditGrant.objects.filter(kind="rollover").values_list("pk", flat=True)),
        list(CreditGrant.objects.filter(reason_code="recurring").values_list("pk", flat=True)),
    )


def test_demo_has_a_fired_top_up_and_a_rollover_with_breakage():
    out = _seed()
    assert "auto top-up below" in out and "rollover with a 25 % cap" in out
    topups, rollovers, recurring = _policy_rows()
    assert topups and rollovers and recurring
    rolled = CreditGrant.objects.get(pk=rollovers[0])
    breakage = LedgerEntry.objects.filter(wallet=rolled.wallet, entry_type="expiry", note__contains="breakage")
    assert breakage.exists()
    topup = CreditGrant.objects.get(pk=topups[0])
    status = credit_policy_status(customer_id=topup.wallet.customer_id)
    assert status is not None and status.policy.has_topup
    assert all(wallet_conservation(customer_id=g.wallet.customer_id).holds for g in (rolled, topup))

    _seed()
    assert _policy_rows() == (topups, rollovers, recurring)
