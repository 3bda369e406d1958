"""The deferred-revenue page and its CSVs: finance only; the table adds up; revenue by meter comes from the rated
usage that drew the credits and adds up to the month's recognised revenue; a bad month is a 400, never a 500."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.actors import SYSTEM
from apps.usage.models import RatedUsage
from apps.wallets.models import LedgerEntry
from apps.wallets.revenue import COLUMNS, month_of
from apps.wallets.services import wallet_debit
from tests.alerts.builders import ago, ingest_and_rate

pytestmark = pytest.mark.django_db
D = Decimal
FINANCE = {"finance", "finance2"}
ROLES = ["owner", "owner2", "finance", "finance2", "am", "support", "admin", "anonymous"]


@pytest.fixture
def acme(shop, django_capture_on_commit_callbacks):
    customer = shop.customer("acme", credits="500000", price_per_credit="0.01")
    events = [shop.event(customer, shop.tokens, 9_000, ago(hours=2 + h)) for h in range(6)]
    events += [shop.event(customer, shop.images, 4, ago(hours=3 + h)) for h in range(6)]
    ingest_and_rate(events, django_capture_on_commit_callbacks)
    return customer


def _month():
    """The month of the usage's debit (the events are hours old: this month, or last month on the 1st)."""
    debit = LedgerEntry.objects.filter(entry_type="debit").latest("effective_at")
    return month_of(debit.effective_at)


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("role", ROLES)
def test_finance_only(clients, acme, role):
    period = _month().label
    for url in (
        reverse("dashboards:revenue"),
        reverse("dashboards:revenue-csv", args=["rollforward"]),
        reverse("dashboards:revenue-csv", args=["waterfall"]),
        reverse("dashboards:revenue-csv", args=["by-meter"]),
    ):
        response = clients[role].get(url, {"period": period})
        if role == "anonymous":
            assert response.status_code == 302 and "/login/" in response["Location"]
        elif role in FINANCE:
            assert response.status_code == 200, url
        else:
            assert response.status_code == 403, (role, url)


def test_nav_entry_for_finance_only(clients, acme):
    url = reverse("dashboards:revenue")
    assert url in clients["finance"].get(reverse("dashboards:margin")).content.decode()
    assert url not in clients["owner"].get(reverse("dashboards:margin")).content.decode()


def test_rollforward_csv_adds_up(clients, acme):
    month = _month()
    rows = _csv(
        clients["finance"].get(reverse("dashboards:revenue-csv", args=["rollforward"]), {"period": month.label})
    )
    assert [r["customer"] for r in rows] == ["acme", "total"]
    for row in rows:
        v = {c: D(row[c]) for c in COLUMNS}
        assert v["opening"] + v["purchased"] - v["recognized"] - v["breakage"] + v["adjustments"] == v["closing"]
    acme_row = rows[0]
    drawn = sum((r.credits_drawn for r in RatedUsage.objects.filter(ledger_entry__effective_at__gte=month.start)), D(0))
    assert D(acme_row["recognized"]) == (drawn * D("0.01")).quantize(D("0.01")) > 0
    assert D(acme_row["closing"]) == (D(acme_row["opening"]) + D(acme_row["purchased"]) - D(acme_row["recognized"]))


def test_revenue_by_meter_adds_up_to_recognised(clients, shop, acme):
    month = _month()
    page = clients["finance"].get(reverse("dashboards:revenue"), {"period": month.label})
    rows = page.context["page"].by_meter
    recognized = page.context["report"].total.recognized
    assert {r.label for r in rows if r.meter} == {shop.tokens.code, shop.images.code}
    assert sum(r.amount for r in rows) == recognized
    for r in rows:
        if r.meter:
            want = sum(
                (
                    u.revenue - u.overage_amount
                    for u in RatedUsage.objects.filter(meter=r.meter.id, ledger_entry__effective_at__gte=month.start)
                ),
                D(0),
            )
            assert r.amount == want.quantize(D("0.01"))
    assert "Not from rated usage" not in page.content.decode()


def test_a_manual_debit_is_recognised_but_not_attributed_to_a_meter(clients, acme):
    month = _month()
    wallet_debit(
        customer_id=acme.pk, amount=D(1234), idempotency_key="manual-1", actor=SYSTEM, at=month.start
    )  # 12.34 at 0.01
    rows = _csv(clients["finance"].get(reverse("dashboards:revenue-csv", args=["by-meter"]), {"period": month.label}))
    other = [r for r in rows if r["meter"].startswith("Not from rated usage")]
    assert [D(r["recognized"]) for r in other] == [D("12.34")]


def test_the_waterfall_shows_each_month(clients, acme):
    month = _month()
    response = clients["finance"].get(reverse("dashboards:revenue"), {"period": month.label})
    chart = response.context["chart"]
    trace = chart.figure["data"][0]
    assert trace["type"] == "waterfall"
    assert trace["measure"][:6] == ["absolute", "relative", "relative", "relative", "relative", "total"]
    rows = _csv(clients["finance"].get(reverse("dashboards:revenue-csv", args=["waterfall"]), {"period": month.label}))
    assert rows[-1]["month"] == month.label
    report = response.context["report"]
    assert D(rows[-1]["closing"]) == report.total.closing and D(rows[-1]["opening"]) == report.total.opening


@pytest.mark.parametrize("bad", ["2026-13", "last month", "2026-1", "<script>"])
def test_a_bad_month_is_refused_clearly(clients, acme, bad):
    page = clients["finance"].get(reverse("dashboards:revenue"), {"period": bad})
    assert page.status_code == 400
    assert "YYYY-MM" in page.content.decode() and "<script>" not in page.content.decode()
    csv_response = clients["finance"].get(reverse("dashboards:revenue-csv", args=["rollforward"]), {"period": bad})
    assert csv_response.status_code == 400 and csv_response["X-Error-Code"] == "bad_period"
    assert clients["finance"].get(reverse("dashboards:revenue-csv", args=["nope"])).status_code == 404


def test_default_month_is_this_month(clients, acme):
    response = clients["finance"].get(reverse("dashboards:revenue"))
    assert response.status_code == 200
    assert response.context["period"] == month_of(timezone.now())


def test_page_queries_do_not_grow_with_customers(clients, shop):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert clients["finance"].get(reverse("dashboards:revenue")).status_code == 200
        return len(ctx.captured_queries)

    for n in range(3):
        shop.customer(f"q-{n}", credits="1000")
    few = count()
    for n in range(3, 12):
        shop.customer(f"q-{n}", credits="1000")
    assert count() == few
