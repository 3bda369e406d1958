"""Issue 13.9: the ledger says "newest first", so it is ordered by when each movement happened (a grant issued
today above a debit dated at last month's usage), and the balance column runs in that same order."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.wallets.services import wallet_debit, wallet_grant
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db


def test_ledger_is_newest_first_by_effective_time_with_a_running_balance(clients):
    c = f.customer("ledger-order")
    now = timezone.now()
    old = wallet_grant(
        customer_id=c.pk,
        kind="purchased",
        amount=Decimal(100),
        price_per_credit=Decimal("0.01"),
        effective_at=now - timedelta(days=60),
        idempotency_key="lo-old",
        actor=SYSTEM,
    )
    new = wallet_grant(customer_id=c.pk, kind="promotional", amount=Decimal(50), idempotency_key="lo-new", actor=SYSTEM)
    debit = wallet_debit(
        customer_id=c.pk, amount=Decimal(30), at=now - timedelta(days=10), idempotency_key="lo-debit", actor=SYSTEM
    )  # written last, dated 10 days ago
    for url in (f"/wallets/customers/{c.external_id}/ledger/", f"/wallets/customers/{c.external_id}/ledger-panel/"):
        html = clients["support"].get(url).content.decode()
        ids = [int(i) for i in re.findall(r'title="Entry #(\d+),', html)]
        new_entry, old_entry = new.entries.get().pk, old.entries.get().pk
        assert ids == [new_entry, debit.entry_id, old_entry]
        rows = re.findall(
            r'title="Entry #(\d+),.*?title="Balance when this entry was written: [^"]*">([^<]+)</td>', html, re.S
        )
        balances = [Decimal(b.replace(",", "").strip()) for _, b in rows]
        assert balances == [Decimal(120), Decimal(70), Decimal(100)]
