from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.contracts import selectors
from apps.contracts.selectors import OverrideTerms
from tests.contracts import factories as f

pytestmark = pytest.mark.django_db
D = Decimal


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_customer_ids_by_external_id_in_one_query():
    a, b = f.customer("a-1"), f.customer("b-2")
    with CaptureQueriesContext(connection) as ctx:
        result = selectors.customer_ids_by_external_id(["a-1", "b-2", "nope", "a-1"])
    assert result == {"a-1": a.pk, "b-2": b.pk}
    assert len(ctx.captured_queries) == 1
    assert selectors.customer_ids_by_external_id([]) == {}
    assert selectors.customer_get(external_id="a-1") == a
    assert selectors.customer_get(external_id="zzz") is None


def test_contract_terms_shape():
    cust = f.customer()
    m1, m2 = f.meter("llm.input_tokens.fast"), f.meter("image.generations")
    contract = f.contract(
        cust,
        starts_at=utc(2026, 1, 1),
        ends_at=utc(2027, 1, 1),
        billing_model="hybrid",
        enforcement="soft",
        overdraft_limit=D(500),
        included_credits=D(1000),
        credit_price=D("0.01"),
        base_fee=D(99),
        billing_anchor_day=31,
        alert_thresholds=[100, 70, 90],
        allowances={m1.pk: D(5)},
        overrides={m2.pk: OverrideTerms("multiplier", D("0.9"), None, D(1))},
    )
    terms = selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 3, 1))
    assert terms.id == contract.pk and terms.customer_id == cust.pk
    assert (terms.billing_model, terms.enforcement, terms.overdraft_limit) == ("hybrid", "soft", D(500))
    assert terms.alert_thresholds == (70, 90, 100)
    assert terms.allowances == {m1.pk: D(5)}
    assert terms.overrides == {m2.pk: OverrideTerms("multiplier", D("0.9"), None, D(1))}
    assert terms.rate_table_code == "list-usd" and terms.pricing_unit == "USD"
    assert terms.period(utc(2026, 3, 1)) == (utc(2026, 2, 28), utc(2026, 3, 31))
    assert terms.in_force_at(utc(2026, 12, 31)) and not terms.in_force_at(utc(2027, 1, 1))
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2027, 1, 1)) is None  # end exclusive
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 1, 1)).id == contract.pk  # start inclusive


def test_contracts_in_force_uses_bounded_queries():
    customers = [f.customer() for _ in range(12)]
    m = f.meter()
    for c in customers[:10]:
        f.contract(c, allowances={m.pk: D(1)})
    with CaptureQueriesContext(connection) as ctx:
        result = selectors.contracts_in_force(customer_ids=[c.pk for c in customers], at=utc(2026, 6, 1))
    assert len(ctx.captured_queries) <= 3
    assert set(result) == {c.pk for c in customers[:10]}
    assert all(t.allowances == {m.pk: D(1)} for t in result.values())
    assert selectors.contracts_in_force(customer_ids=[], at=utc(2026, 6, 1)) == {}


def test_customer_list_filters(users):
    a = f.customer("alpha", "Alpha Robotics", segment="enterprise", account_manager_id=users["am"].pk)
    b = f.customer("beta", "Beta Notes", segment="smb", status="trial")
    f.contract(a, billing_model="postpaid", enforcement="unlimited")
    f.contract(b)
    at = utc(2026, 6, 1)
    F = selectors.CustomerFilters
    assert list(selectors.customer_list(filters=F(q="robot"), at=at)) == [a]
    assert list(selectors.customer_list(filters=F(q="BETA"), at=at)) == [b]
    assert list(selectors.customer_list(filters=F(account_manager_id=users["am"].pk), at=at)) == [a]
    assert list(selectors.customer_list(filters=F(unassigned=True), at=at)) == [b]
    assert list(selectors.customer_list(filters=F(segment="smb"), at=at)) == [b]
    assert list(selectors.customer_list(filters=F(status="trial"), at=at)) == [b]
    assert list(selectors.customer_list(filters=F(billing_model="postpaid"), at=at)) == [a]


def test_unit_values_match_each_customers_terms_in_one_query():
    credits_table = f.rate_table("credits-table", pricing_unit="credits")
    usd = f.customer("usd-1")
    f.contract(usd, starts_at=utc(2026, 1, 1), credit_price=D("0.05"))
    switched = f.customer("switch-1")  # USD first, then a credits table at 0.02 from March
    f.contract(switched, starts_at=utc(2026, 1, 1), ends_at=utc(2026, 3, 1))
    f.contract(switched, starts_at=utc(2026, 3, 1), table=credits_table, credit_price=D("0.02"))
    future = f.customer("future-1")  # only a contract that starts later: its first one
    f.contract(future, starts_at=utc(2026, 9, 1), table=credits_table, credit_price=D("0.03"))
    bare = f.customer("bare-1")
    ids = [usd.pk, switched.pk, future.pk, bare.pk]
    for at in (utc(2026, 2, 1), utc(2026, 4, 1)):
        with CaptureQueriesContext(connection) as ctx:
            values = selectors.unit_values(customer_ids=ids, at=at)
        assert len(ctx.captured_queries) == 1
        expected = {}
        for customer_id, terms in selectors.contracts_for_customers(customer_ids=ids).items():
            started = [t for t in terms if t.starts_at <= at]
            if terms:
                expected[customer_id] = (started[-1] if started else terms[0]).unit_value
        assert values == expected
    assert selectors.unit_values(customer_ids=ids, at=utc(2026, 2, 1))[switched.pk] == D(1)
    assert selectors.unit_values(customer_ids=ids, at=utc(2026, 4, 1))[switched.pk] == D("0.02")
    assert selectors.unit_values(customer_ids=ids, at=utc(2026, 4, 1))[future.pk] == D("0.03")
