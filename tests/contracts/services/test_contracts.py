import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from apps.contracts import selectors, services
from apps.contracts.models import Contract
from apps.contracts.selectors import OverrideTerms
from apps.core.actors import SYSTEM, Actor
from apps.core.errors import Conflict, NotFound, ValidationFailed
from tests.contracts import factories as f

D = Decimal


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.django_db
def test_customer_create_validates_and_refuses_duplicates():
    f.customer("acme", "Acme")
    with pytest.raises(Conflict):
        f.customer("acme", "Acme again")
    for bad in ("", "has space", "new", "panels", "x" * 81):
        with pytest.raises(ValidationFailed):
            services.customer_create(external_id=bad, name="X", actor=SYSTEM)
    with pytest.raises(ValidationFailed):
        services.customer_create(external_id="ok", name=" ", actor=SYSTEM)


@pytest.mark.django_db
def test_contract_terms_are_validated():
    cust = f.customer()
    cases = [
        dict(ends_at=utc(2025, 1, 1)),
        dict(billing_anchor_day=32),
        dict(enforcement="hard", overdraft_limit=D(10)),
        dict(base_fee=D(-1)),
        dict(alert_thresholds=["x"]),
        dict(currency="dollars"),
        dict(billing_model="barter"),
    ]
    for case in cases:
        with pytest.raises(ValidationFailed):
            f.contract(cust, **case)
    with pytest.raises(ValidationFailed):
        f.contract(cust, starts_at=datetime(2026, 1, 1))  # naive


@pytest.mark.django_db
def test_at_most_one_contract_in_force():
    cust = f.customer()
    first = f.contract(cust, starts_at=utc(2026, 1, 1), ends_at=utc(2026, 7, 1))
    with pytest.raises(Conflict) as exc:
        f.contract(cust, starts_at=utc(2026, 6, 30))
    assert exc.value.code == "contract_overlap" and exc.value.extra["contract_id"] == first.pk
    with pytest.raises(Conflict):
        f.contract(cust, starts_at=utc(2025, 1, 1))  # open-ended before, covers the first one
    with pytest.raises(Conflict):
        f.contract(cust, starts_at=utc(2025, 12, 1), ends_at=utc(2026, 1, 2))
    second = f.contract(cust, starts_at=utc(2026, 7, 1))  # back to back is fine (end is exclusive)
    # an edit may not create an overlap either
    with pytest.raises(Conflict):
        services.contract_update(contract_id=first.pk, ends_at=utc(2026, 8, 1), actor=SYSTEM, change_reason="extend")
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 6, 30, 23, 59)).id == first.pk
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 7, 1)).id == second.pk
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2025, 12, 31)) is None
    other = f.customer()
    f.contract(other, starts_at=utc(2026, 1, 1))  # other customers are independent


@pytest.mark.django_db
def test_update_requires_reason_and_records_history(users):
    cust = f.customer()
    meter, meter2 = f.meter("llm.input_tokens.fast"), f.meter("gpu.seconds")
    contract = f.contract(
        cust, allowances={meter.pk: D(1000)}, overrides={meter2.pk: OverrideTerms("fixed", None, D("0.5"), D(1))}
    )
    actor = Actor(user=users["am"])
    with pytest.raises(ValidationFailed):
        services.contract_update(contract_id=contract.pk, actor=actor, change_reason="  ", base_fee=D(10))
    services.contract_update(
        contract_id=contract.pk,
        actor=actor,
        change_reason="renewal discount",
        base_fee=D(10),
        allowances={meter.pk: D(2000)},
        overrides={meter2.pk: OverrideTerms("multiplier", D("0.8"), None, D(1))},
    )
    contract.refresh_from_db()
    assert contract.base_fee == D(10)
    record = contract.history.first()
    assert record.history_change_reason == "renewal discount" and record.history_user == users["am"]
    history = selectors.contract_history(contract_id=contract.pk)
    changed = [r for r in history if r.reason == "renewal discount"]
    subjects = {r.subject for r in changed}
    assert {"contract", "allowance llm.input_tokens.fast", "override gpu.seconds"} <= subjects
    fee_change = next(r for r in changed if r.subject == "contract")
    assert ("base_fee", "0", "10") in fee_change.changes
    terms = selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 2, 1))
    assert terms.allowances == {meter.pk: D(2000)}
    assert terms.overrides[meter2.pk] == OverrideTerms("multiplier", D("0.8"), None, D(1))
    # dropping an allowance (quantity 0 or left out) deletes it, with the reason in its history
    services.contract_update(
        contract_id=contract.pk, actor=actor, change_reason="no more included tokens", allowances={}
    )
    assert selectors.contract_in_force(customer_id=cust.pk, at=utc(2026, 2, 1)).allowances == {}
    assert any(
        r.kind == "deleted" and r.reason == "no more included tokens"
        for r in selectors.contract_history(contract_id=contract.pk)
    )


@pytest.mark.django_db
def test_update_of_missing_contract_or_unknown_terms():
    with pytest.raises(NotFound):
        services.contract_update(contract_id=987654, actor=SYSTEM, change_reason="x")
    contract = f.contract(f.customer())
    with pytest.raises(ValidationFailed):
        services.contract_update(contract_id=contract.pk, actor=SYSTEM, change_reason="x", colour="red")


@pytest.mark.django_db
def test_override_validation():
    cust = f.customer()
    m = f.meter()
    with pytest.raises(ValidationFailed):
        f.contract(cust, overrides={m.pk: OverrideTerms("multiplier", None, None, D(1))})
    with pytest.raises(ValidationFailed):
        f.contract(cust, overrides={m.pk: OverrideTerms("fixed", None, D(1), D(0))})
    with pytest.raises(ValidationFailed):
        f.contract(cust, allowances={999999: D(5)})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent connections (PostgreSQL)")
@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_contracts_only_one_wins():
    """Eight connections race to create overlapping contracts: the customer-row lock lets exactly one in."""
    cust = f.customer()
    table = f.rate_table()
    barrier = threading.Barrier(8)
    outcomes = []

    def worker(i):
        try:
            barrier.wait()
            services.contract_create(
                customer_id=cust.pk, rate_table_id=table.pk, starts_at=utc(2026, 1, 1) + timedelta(days=i), actor=SYSTEM
            )
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["created"]
    assert Contract.objects.filter(customer=cust).count() == 1
