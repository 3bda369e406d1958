"""The deferred-revenue roll-forward on a hand-made ledger: each column, free credits, voids, give-backs, breakage,
currencies, customers and the command (text, --json, a bad period)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.core.errors import ValidationFailed
from apps.wallets.revenue import COLUMNS, month_of, parse_period, rollforward, rollforward_months
from apps.wallets.services import grant_void, wallet_debit, wallet_expire_due, wallet_reverse
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal
JAN, FEB, MAR = (datetime(2026, m, 10, tzinfo=UTC) for m in (1, 2, 3))


def debit(cust, amount, at, key):
    return wallet_debit(customer_id=cust.pk, amount=D(amount), idempotency_key=key, actor=SYSTEM, at=at)


@pytest.fixture
def ledger():
    """January: 1,000 paid credits at 0.05 (expire March 1st) and 500 free (expire Feb 20th); February: 700 drawn (free first:
    500 free + 200 paid); March: the paid grant expires with 800 left; a second paid grant (at 0.10) drawn in
    March, voided later with what is left, and a give-back of 30 of its credits."""
    cust = f.customer("rf-acme", name="Acme")
    f.contract(cust, currency="EUR")
    paid = f.grant(
        cust, 1000, price_per_credit=D("0.05"), effective_at=JAN, expires_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    f.grant(cust, 500, kind="promotional", effective_at=JAN, expires_at=datetime(2026, 2, 20, tzinfo=UTC))
    debit(cust, 700, FEB, "rf-d1")
    wallet_expire_due(now=MAR)
    second = f.grant(cust, 100, price_per_credit=D("0.10"), effective_at=MAR)
    d2 = debit(cust, 40, MAR, "rf-d2")
    wallet_reverse(entry_id=d2.entry_id, amount=D(30), idempotency_key="rf-back", actor=SYSTEM)
    grant_void(grant_id=second.pk, idempotency_key="rf-void", actor=SYSTEM, reason="refunded")
    return cust, paid, second


def cents(row):
    return {c: getattr(row, c) for c in COLUMNS}


def test_each_column_from_the_ledger(ledger):
    cust, _, _ = ledger
    jan = rollforward(period=parse_period("2026-01"))
    (row,) = jan.rows
    assert (row.name, row.currency) == ("Acme", "EUR")
    assert cents(row) == {
        "opening": D(0),
        "purchased": D("50.00"),
        "recognized": D(0),
        "breakage": D(0),
        "adjustments": D(0),
        "closing": D("50.00"),
    }
    assert (row.credits.paid_granted, row.credits.free_granted) == (D(1000), D(500))  # free: credits, no revenue

    (feb,) = rollforward(period=parse_period("2026-02")).rows
    assert (feb.opening, feb.recognized, feb.closing) == (D("50.00"), D("10.00"), D("40.00"))  # 200 paid x 0.05
    assert (feb.credits.free_used, feb.credits.paid_used) == (D(500), D(200))

    (mar,) = rollforward(period=parse_period("2026-03")).rows
    # breakage: 800 x 0.05 expired on March 1st; 100 x 0.10 bought, 40 drawn
    assert cents(mar) == {
        "opening": D("40.00"),
        "purchased": D("10.00"),
        "recognized": D("4.00"),
        "breakage": D("40.00"),
        "adjustments": D(0),
        "closing": D("6.00"),
    }
    assert mar.credits.paid_expired == D(800)


def test_voids_and_give_backs_are_adjustments_when_they_happen(ledger):
    now = month_of(timezone.now())
    (row,) = rollforward(period=now).rows
    # give-back of 30 credits x 0.10 = +3.00, then the void cancels the 90 left x 0.10 = -9.00
    assert (row.opening, row.adjustments, row.closing) == (D("6.00"), D("-6.00"), D("0.00"))
    assert row.purchased == row.recognized == row.breakage == 0


def test_totals_sum_the_customers_and_months_chain(ledger):
    other = f.customer("rf-beta", name="Beta")
    f.contract(other, currency="EUR")
    f.grant(other, 3, price_per_credit=D("0.3333"), effective_at=JAN)
    debit(other, 1, FEB, "rf-b1")
    feb = rollforward(period=parse_period("2026-02"))
    assert [r.name for r in feb.rows] == ["Acme", "Beta"]
    for c in COLUMNS:
        assert getattr(feb.total, c) == sum(getattr(r, c) for r in feb.rows)
    months = rollforward_months(first=parse_period("2026-01"), last=parse_period("2026-04"))
    assert [m.month.label for m in months] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    for before, after in zip(months, months[1:], strict=False):
        assert after.cents.opening == before.cents.closing
    assert months[1].cents == feb.total.cents
    assert months[3].cents.opening == months[3].cents.closing == D("6.00") + D("0.67")  # Beta: 2 x 0.3333


def test_currencies_are_not_added_together(ledger):
    usd = f.customer("rf-usd", name="Dollar Co")
    f.contract(usd, currency="USD")
    f.grant(usd, 10, price_per_credit=D(1), effective_at=JAN)
    jan = rollforward(period=parse_period("2026-01"))
    assert sorted((t.currency, t.closing) for t in jan.totals) == [("EUR", D("50.00")), ("USD", D("10.00"))]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "", "2026-01-01", "next month", None])
def test_a_bad_period_is_refused(bad):
    with pytest.raises(ValidationFailed) as error:
        parse_period(bad)
    assert error.value.code == "bad_period"


def test_command_json(ledger):
    out = StringIO()
    call_command("revenue_rollforward", "--period", "2026-03", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["period"] == "2026-03"
    acme = data["customers"]["rf-acme"]
    assert set(COLUMNS) <= set(acme)
    assert set(COLUMNS) <= set(data["total"])
    assert (acme["opening"], acme["breakage"], acme["closing"]) == ("40.00", "40.00", "6.00")
    assert data["total"]["currency"] == "EUR"


def test_command_text_and_bad_period(ledger):
    out = StringIO()
    call_command("revenue_rollforward", "--period", "2026-02", stdout=out)
    text = out.getvalue()
    assert "February 2026" in text and "Acme" in text and "Total" in text and "40.00" in text
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("revenue_rollforward", "--period", "2026/02", stdout=StringIO())
